// Package cgroup manages one container's control group on cgroup v1, hybrid
// (v1 controllers plus a controller-less cgroup2 "unified" tree) and pure v2
// hosts. It wraps github.com/opencontainers/cgroups for creation, limits and
// removal, and reads the few counters the daemon reports directly, because
// the library's full statistics walk every controller for two numbers.
package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs"
	"github.com/opencontainers/cgroups/fs2"
	"golang.org/x/sys/unix"
)

const (
	unifiedRoot = "/sys/fs/cgroup"         // pure v2
	hybridRoot  = "/sys/fs/cgroup/unified" // cgroup2 beside the v1 controllers
)

// Limits are the resource settings of a container. Zero leaves a setting at
// the kernel's default.
type Limits struct {
	MemoryBytes     int64 // hard limit
	SoftMemoryBytes int64 // reservation (v1 soft_limit, v2 memory.low)
	SwapBytes       int64 // memory+swap limit, as libvirt's swap_hard_limit
	CPUShares       uint64
	CPUPeriod       uint64
	CPUQuota        int64
	PidsLimit       int64
}

func (l Limits) resources() *cgroups.Resources {
	r := &cgroups.Resources{
		Memory:            l.MemoryBytes,
		MemoryReservation: l.SoftMemoryBytes,
		MemorySwap:        l.SwapBytes,
		CpuShares:         l.CPUShares,
		CpuPeriod:         l.CPUPeriod,
		CpuQuota:          l.CPUQuota,
		// Device access control would need the eBPF sub-package on v2;
		// the container gets its /dev from a private tmpfs instead.
		SkipDevices: true,
	}
	if l.PidsLimit > 0 {
		p := l.PidsLimit
		r.PidsLimit = &p
	}
	// The v2 manager reads cpu.weight only; converting from shares is left
	// to the caller.
	if l.CPUShares != 0 && cgroups.IsCgroup2UnifiedMode() {
		r.CpuWeight = cgroups.ConvertCPUSharesToCgroupV2Value(l.CPUShares)
	}
	return r
}

// Group is one control group, identified by its path relative to the root
// of every hierarchy (e.g. "/machine/lxc-42-ct.libvirt-lxc").
type Group struct {
	path string
	m    cgroups.Manager
	// unified is the cgroup2 directory when the host has one (pure v2 or
	// hybrid); it provides cgroup.kill, cgroup.events and cpu.stat.
	unified string
}

// Open describes the group at path without creating anything.
func Open(path string) (*Group, error) {
	return newGroup(path, Limits{})
}

func newGroup(path string, l Limits) (*Group, error) {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return nil, fmt.Errorf("cgroup path %q is not absolute and clean", path)
	}
	cfg := &cgroups.Cgroup{Path: path, Resources: l.resources()}
	g := &Group{path: path}
	if cgroups.IsCgroup2UnifiedMode() {
		m, err := fs2.NewManager(cfg, filepath.Join(unifiedRoot, path))
		if err != nil {
			return nil, fmt.Errorf("cgroup %s: %w", path, err)
		}
		g.m, g.unified = m, m.Path("")
		return g, nil
	}
	m, err := fs.NewManager(cfg, nil)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", path, err)
	}
	g.m = m
	if cgroups.IsCgroup2HybridMode() {
		g.unified = m.Path("")
		if g.unified == "" {
			g.unified = filepath.Join(hybridRoot, path)
		}
	}
	return g, nil
}

// Create makes the group in every hierarchy, moves pid into it and applies
// the limits.
func Create(path string, l Limits, pid int) (*Group, error) {
	g, err := newGroup(path, l)
	if err != nil {
		return nil, err
	}
	if err := g.m.Apply(pid); err != nil {
		_ = g.m.Destroy()
		return nil, fmt.Errorf("create cgroup %s: %w", path, err)
	}
	if err := g.m.Set(l.resources()); err != nil {
		_ = g.Leave(pid)
		_ = g.m.Destroy()
		return nil, fmt.Errorf("set limits on cgroup %s: %w", path, err)
	}
	return g, nil
}

// Path is the group's path relative to the hierarchy roots.
func (g *Group) Path() string { return g.path }

// Dir returns the directory of the group in the hierarchy holding subsys
// ("" = the cgroup2 tree), or "" when the host has no such hierarchy.
func (g *Group) Dir(subsys string) string {
	if subsys == "" {
		return g.unified
	}
	if cgroups.IsCgroup2UnifiedMode() {
		return g.unified
	}
	return g.m.Path(subsys)
}

// SetMemoryLimit changes the hard memory limit.
func (g *Group) SetMemoryLimit(bytes int64) error {
	if err := g.m.Set(&cgroups.Resources{Memory: bytes, SkipDevices: true}); err != nil {
		return fmt.Errorf("set memory limit of %s: %w", g.path, err)
	}
	return nil
}

// MemoryLimit reads the hard memory limit back (0 = unlimited).
func (g *Group) MemoryLimit() (int64, error) {
	file, dir := "memory.limit_in_bytes", g.Dir("memory")
	if cgroups.IsCgroup2UnifiedMode() {
		file = "memory.max"
	}
	s, err := cgroups.ReadFile(dir, file)
	if err != nil {
		return 0, err
	}
	s = strings.TrimSpace(s)
	if s == "max" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s/%s: %w", dir, file, err)
	}
	// v1 reports "unlimited" as a huge page-aligned number.
	if v >= 1<<62 {
		return 0, nil
	}
	return v, nil
}

// PidsLimit reads pids.max back (0 = unlimited).
func (g *Group) PidsLimit() (int64, error) {
	s, err := cgroups.ReadFile(g.Dir("pids"), "pids.max")
	if err != nil {
		return 0, err
	}
	s = strings.TrimSpace(s)
	if s == "max" {
		return 0, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

// CPUTime returns the CPU time consumed by the group in nanoseconds.
func (g *Group) CPUTime() (uint64, error) {
	if !cgroups.IsCgroup2UnifiedMode() {
		if dir := g.m.Path("cpuacct"); dir != "" {
			s, err := cgroups.ReadFile(dir, "cpuacct.usage")
			if err == nil {
				return strconv.ParseUint(strings.TrimSpace(s), 10, 64)
			}
		}
	}
	if g.unified == "" {
		return 0, errors.New("no cpu accounting hierarchy")
	}
	s, err := cgroups.ReadFile(g.unified, "cpu.stat")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			us, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return us * 1000, err
		}
	}
	return 0, fmt.Errorf("%s/cpu.stat has no usage_usec", g.unified)
}

// MemoryUsage returns the memory charged to the group in bytes.
func (g *Group) MemoryUsage() (uint64, error) {
	dir, file := g.Dir("memory"), "memory.usage_in_bytes"
	if cgroups.IsCgroup2UnifiedMode() {
		file = "memory.current"
	}
	s, err := cgroups.ReadFile(dir, file)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(s), 10, 64)
}

// Pids lists the processes in the group. It reads the first hierarchy
// that has the group rather than the library's choice (devices), which
// this package never creates.
func (g *Group) Pids() ([]int, error) {
	var firstErr error
	for _, d := range append([]string{g.unified, g.Dir("pids"), g.Dir("memory")}, g.Dirs()...) {
		if d == "" {
			continue
		}
		pids, err := cgroups.GetPids(d)
		if err == nil {
			return pids, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// Populated reports whether any process is left in the group.
func (g *Group) Populated() (bool, error) {
	if g.unified != "" {
		s, err := cgroups.ReadFile(g.unified, "cgroup.events")
		if err == nil {
			for _, line := range strings.Split(s, "\n") {
				if v, ok := strings.CutPrefix(line, "populated "); ok {
					return strings.TrimSpace(v) == "1", nil
				}
			}
		} else if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
	}
	pids, err := g.Pids()
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return len(pids) > 0, err
}

// Kill sends SIGKILL to every process in the group at once: cgroup.kill
// where the kernel has it (also in a hybrid host's unified tree), else
// freeze, signal each member, thaw, so that nothing forks in between.
func (g *Group) Kill() error {
	if g.unified != "" {
		err := cgroups.WriteFile(g.unified, "cgroup.kill", "1")
		if err == nil || errors.Is(err, os.ErrNotExist) && !g.Exists() {
			return nil
		}
	}
	if err := g.m.Freeze(cgroups.Frozen); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("freeze %s: %w", g.path, err)
	}
	pids, err := g.Pids()
	for _, pid := range pids {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	_ = g.m.Freeze(cgroups.Thawed)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("list %s: %w", g.path, err)
	}
	return nil
}

// Signal sends sig to every process in the group except the ones in skip.
func (g *Group) Signal(sig syscall.Signal, skip ...int) error {
	pids, err := g.Pids()
	if err != nil {
		return fmt.Errorf("list %s: %w", g.path, err)
	}
next:
	for _, pid := range pids {
		for _, s := range skip {
			if pid == s {
				continue next
			}
		}
		_ = unix.Kill(pid, sig)
	}
	return nil
}

// WaitEmpty polls until no process is left or the timeout passes.
func (g *Group) WaitEmpty(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	delay := 100 * time.Microsecond
	for {
		pop, err := g.Populated()
		if err != nil {
			return err
		}
		if !pop {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s still has processes after %v", g.path, timeout)
		}
		time.Sleep(delay)
		if delay < 20*time.Millisecond {
			delay *= 2
		}
	}
}

// Leave moves pid back to the root of every hierarchy so that the group can
// be removed while pid (the controller) finishes its cleanup.
func (g *Group) Leave(pid int) error {
	var errs []error
	for _, dir := range g.m.GetPaths() {
		root, err := hierarchyRoot(dir, g.path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := cgroups.WriteCgroupProc(root, pid); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("leave %s: %w", dir, err))
		}
	}
	if g.unified != "" && !cgroups.IsCgroup2UnifiedMode() {
		if root, err := hierarchyRoot(g.unified, g.path); err == nil {
			_ = cgroups.WriteCgroupProc(root, pid)
		}
	}
	return errors.Join(errs...)
}

func hierarchyRoot(dir, rel string) (string, error) {
	root, ok := strings.CutSuffix(dir, rel)
	if !ok || root == "" {
		return "", fmt.Errorf("cgroup dir %s does not end in %s", dir, rel)
	}
	return root, nil
}

// Exists reports whether the group is still there in any hierarchy.
func (g *Group) Exists() bool {
	for _, d := range g.Dirs() {
		if _, err := os.Stat(d); err == nil {
			return true
		}
	}
	return false
}

// Destroy removes the group from every hierarchy. It must be empty.
func (g *Group) Destroy() error {
	err := g.m.Destroy()
	if g.unified != "" && !cgroups.IsCgroup2UnifiedMode() {
		if rerr := cgroups.RemovePath(g.unified); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", g.path, err)
	}
	return nil
}

// Dirs lists every directory of the group, for tests and diagnostics.
func (g *Group) Dirs() []string {
	var out []string
	for _, d := range g.m.GetPaths() {
		out = append(out, d)
	}
	if g.unified != "" && !cgroups.IsCgroup2UnifiedMode() {
		out = append(out, g.unified)
	}
	return out
}

// RemoveIfEmpty removes the partition directories (e.g. "/machine") left
// empty once the last container is gone; busy ones are left alone.
func RemoveIfEmpty(path string) {
	g, err := Open(path)
	if err != nil {
		return
	}
	for _, d := range g.Dirs() {
		_ = unix.Rmdir(d)
	}
}
