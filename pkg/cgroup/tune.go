package cgroup

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
)

// Knob is one tunable of a running group that the driver changes and
// reads back (memtune, schedinfo).
type Knob int

const (
	MemoryHard Knob = iota // bytes, -1 = unlimited
	MemorySoft             // bytes, -1 = unlimited
	MemorySwap             // memory+swap bytes, -1 = unlimited
	CPUShares              // shares (v2: converted to and from cpu.weight)
	CPUPeriod              // CFS period, µs
	CPUQuota               // CFS quota, µs, -1 = unlimited
)

// knobFile says where a knob lives in a v1 hierarchy and in cgroup2.
type knobFile struct {
	subsys string
	v1, v2 string
}

// knobFiles: v2 keeps period and quota together in cpu.max; the soft limit
// is memory.low as at start (cgroup.Limits.SoftMemoryBytes); swap is
// memory+swap in v1 and swap alone in v2.
var knobFiles = map[Knob]knobFile{
	MemoryHard: {"memory", "memory.limit_in_bytes", "memory.max"},
	MemorySoft: {"memory", "memory.soft_limit_in_bytes", "memory.low"},
	MemorySwap: {"memory", "memory.memsw.limit_in_bytes", "memory.swap.max"},
	CPUShares:  {"cpu", "cpu.shares", "cpu.weight"},
	CPUPeriod:  {"cpu", "cpu.cfs_period_us", "cpu.max"},
	CPUQuota:   {"cpu", "cpu.cfs_quota_us", "cpu.max"},
}

// v1Unlimited is what v1 memory files read back as "no limit" (a page
// aligned LLONG_MAX); anything this big is treated as unlimited.
const v1Unlimited = 1 << 62

// HasController reports whether the group has a directory for subsys
// ("memory", "cpu", "blkio"), i.e. whether that controller is usable.
func (g *Group) HasController(subsys string) bool {
	if cgroups.IsCgroup2UnifiedMode() {
		name := subsys
		if name == "blkio" {
			name = "io"
		}
		s, err := cgroups.ReadFile(g.unified, "cgroup.controllers")
		return err == nil && strings.Contains(" "+strings.TrimSpace(s)+" ", " "+name+" ")
	}
	return g.m.Path(subsys) != ""
}

func (g *Group) knobDir(k Knob) (knobFile, string, error) {
	f, ok := knobFiles[k]
	if !ok {
		return f, "", fmt.Errorf("unknown cgroup knob %d", k)
	}
	dir := g.Dir(f.subsys)
	if dir == "" {
		return f, "", fmt.Errorf("cgroup %s has no %s controller", g.path, f.subsys)
	}
	return f, dir, nil
}

// Set writes one knob.
func (g *Group) Set(k Knob, v int64) error {
	f, dir, err := g.knobDir(k)
	if err != nil {
		return err
	}
	file, val := f.v1, strconv.FormatInt(v, 10)
	if cgroups.IsCgroup2UnifiedMode() {
		file = f.v2
		switch {
		case k == CPUShares:
			val = strconv.FormatUint(cgroups.ConvertCPUSharesToCgroupV2Value(uint64(v)), 10)
		case k == CPUPeriod:
			quota, err := g.Get(CPUQuota)
			if err != nil {
				return err
			}
			val = v2Quota(quota) + " " + val
		case k == CPUQuota:
			val = v2Quota(v)
		case v < 0:
			val = "max"
		}
	}
	if err := cgroups.WriteFile(dir, file, val); err != nil {
		return fmt.Errorf("set %s of %s: %w", file, g.path, err)
	}
	return nil
}

func v2Quota(q int64) string {
	if q < 0 {
		return "max"
	}
	return strconv.FormatInt(q, 10)
}

// Get reads one knob back, in Set's units.
func (g *Group) Get(k Knob) (int64, error) {
	f, dir, err := g.knobDir(k)
	if err != nil {
		return 0, err
	}
	file := f.v1
	if cgroups.IsCgroup2UnifiedMode() {
		file = f.v2
	}
	s, err := cgroups.ReadFile(dir, file)
	if err != nil {
		return 0, fmt.Errorf("read %s of %s: %w", file, g.path, err)
	}
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return 0, fmt.Errorf("read %s of %s: empty", file, g.path)
	}
	val := fields[0]
	if file == "cpu.max" && k == CPUPeriod {
		if len(fields) < 2 {
			return 0, errors.New("cpu.max has no period")
		}
		val = fields[1]
	}
	if val == "max" {
		return -1, nil
	}
	v, err := strconv.ParseInt(val, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s of %s: %w", file, g.path, err)
	}
	switch {
	case file == "cpu.weight":
		// The inverse of the library's shares-to-weight mapping.
		return int64(2 + ((v-1)*262142)/9999), nil
	case f.subsys == "memory" && v >= v1Unlimited:
		return -1, nil
	}
	return v, nil
}
