package cgroup

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
)

// userHZ is the unit of cpuacct.stat: the kernel reports clock ticks at
// USER_HZ, which is 100 on every Linux ABI.
const userHZ = 100

// ErrNotV1 is returned for counters only cgroup v1 hierarchies keep.
var ErrNotV1 = errors.New("not available on cgroup v2")

// Has reports whether the group exists in the hierarchy of subsys.
func (g *Group) Has(subsys string) bool {
	dir := g.Dir(subsys)
	if dir == "" {
		return false
	}
	_, err := os.Stat(dir)
	return err == nil
}

// BlkioServiced sums the bytes and requests read and written by the group
// over every device, as the block layer accounted them.
func (g *Group) BlkioServiced() (rdBytes, wrBytes, rdReq, wrReq int64, err error) {
	if cgroups.IsCgroup2UnifiedMode() {
		s, err := cgroups.ReadFile(g.unified, "io.stat")
		if err != nil {
			return 0, 0, 0, 0, err
		}
		sums, err := sumKeyed(s, []string{"rbytes=", "wbytes=", "rios=", "wios="})
		if err != nil {
			return 0, 0, 0, 0, fmt.Errorf("%s/io.stat: %w", g.unified, err)
		}
		return sums[0], sums[1], sums[2], sums[3], nil
	}
	dir := g.Dir("blkio")
	bytes, err := cgroups.ReadFile(dir, "blkio.throttle.io_service_bytes")
	if err != nil {
		return 0, 0, 0, 0, err
	}
	reqs, err := cgroups.ReadFile(dir, "blkio.throttle.io_serviced")
	if err != nil {
		return 0, 0, 0, 0, err
	}
	b, err := sumKeyed(bytes, []string{"Read ", "Write "})
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("%s/blkio.throttle.io_service_bytes: %w", dir, err)
	}
	r, err := sumKeyed(reqs, []string{"Read ", "Write "})
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("%s/blkio.throttle.io_serviced: %w", dir, err)
	}
	return b[0], b[1], r[0], r[1], nil
}

// sumKeyed adds up, for each key, the numbers that follow it anywhere in
// s: blkio files have one "MAJ:MIN Read N" line per device, io.stat one
// "MAJ:MIN rbytes=N ..." line.
func sumKeyed(s string, keys []string) ([]int64, error) {
	sums := make([]int64, len(keys))
	for i, key := range keys {
		rest := s
		for {
			at := strings.Index(rest, key)
			if at < 0 {
				break
			}
			rest = rest[at+len(key):]
			end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
			if end < 0 {
				end = len(rest)
			}
			v, err := strconv.ParseInt(rest[:end], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("cannot parse %q value: %w", strings.TrimSpace(key), err)
			}
			if v > math.MaxInt64-sums[i] {
				return nil, fmt.Errorf("sum of %q overflows", strings.TrimSpace(key))
			}
			sums[i] += v
		}
	}
	return sums, nil
}

// MemSwapUsage returns the memory plus swap charged to the group (v1) or
// its swap alone (v2), in bytes.
func (g *Group) MemSwapUsage() (uint64, error) {
	file := "memory.memsw.usage_in_bytes"
	if cgroups.IsCgroup2UnifiedMode() {
		file = "memory.swap.current"
	}
	return readUint(g.Dir("memory"), file)
}

// CPUUserSystem returns the user and system CPU time of the group in
// nanoseconds.
func (g *Group) CPUUserSystem() (user, system uint64, err error) {
	if cgroups.IsCgroup2UnifiedMode() {
		s, err := cgroups.ReadFile(g.unified, "cpu.stat")
		if err != nil {
			return 0, 0, err
		}
		f := keyedUints(s)
		u, uok := f["user_usec"]
		sy, sok := f["system_usec"]
		if !uok || !sok {
			return 0, 0, fmt.Errorf("%s/cpu.stat lacks user_usec or system_usec", g.unified)
		}
		return u * 1000, sy * 1000, nil
	}
	dir := g.Dir("cpuacct")
	s, err := cgroups.ReadFile(dir, "cpuacct.stat")
	if err != nil {
		return 0, 0, err
	}
	f := keyedUints(s)
	u, uok := f["user"]
	sy, sok := f["system"]
	if !uok || !sok {
		return 0, 0, fmt.Errorf("%s/cpuacct.stat lacks user or system", dir)
	}
	const scale = 1_000_000_000 / userHZ
	return u * scale, sy * scale, nil
}

// PercpuUsage returns the CPU time of the group on each possible CPU in
// nanoseconds, in CPU order.
func (g *Group) PercpuUsage() ([]uint64, error) {
	if cgroups.IsCgroup2UnifiedMode() {
		return nil, ErrNotV1
	}
	dir := g.Dir("cpuacct")
	s, err := cgroups.ReadFile(dir, "cpuacct.usage_percpu")
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, f := range strings.Fields(s) {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse %s/cpuacct.usage_percpu: %w", dir, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// keyedUints parses "key value" lines.
func keyedUints(s string) map[string]uint64 {
	m := map[string]uint64{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			m[k] = n
		}
	}
	return m
}

func readUint(dir, file string) (uint64, error) {
	s, err := cgroups.ReadFile(dir, file)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s/%s: %w", dir, file, err)
	}
	return v, nil
}
