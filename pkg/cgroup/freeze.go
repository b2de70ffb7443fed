package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/cgroups"
)

// freezeWait bounds how long Freeze waits for the kernel to report every
// task of the group stopped.
const freezeWait = 5 * time.Second

// hasUnifiedFreezer reports whether the group can be frozen through its
// cgroup2 directory. That freezer is preferred even on hybrid hosts: a
// task it froze still dies of SIGKILL, so destroying a paused container
// needs no thaw, whereas the v1 freezer holds the kill until a thaw.
func (g *Group) hasUnifiedFreezer() bool {
	if g.unified == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(g.unified, "cgroup.freeze"))
	return err == nil
}

// Freeze stops every task of the group and returns once the kernel
// reports the group frozen.
func (g *Group) Freeze() error {
	if !g.hasUnifiedFreezer() {
		if err := g.m.Freeze(cgroups.Frozen); err != nil {
			return fmt.Errorf("freeze %s: %w", g.path, err)
		}
		return nil
	}
	if err := cgroups.WriteFile(g.unified, "cgroup.freeze", "1"); err != nil {
		return fmt.Errorf("freeze %s: %w", g.path, err)
	}
	deadline := time.Now().Add(freezeWait)
	delay := 100 * time.Microsecond
	for {
		frozen, err := g.eventsFrozen()
		if err != nil {
			return fmt.Errorf("freeze %s: %w", g.path, err)
		}
		if frozen {
			return nil
		}
		if time.Now().After(deadline) {
			_ = cgroups.WriteFile(g.unified, "cgroup.freeze", "0")
			return fmt.Errorf("freeze %s: not frozen after %v", g.path, freezeWait)
		}
		time.Sleep(delay)
		if delay < 10*time.Millisecond {
			delay *= 2
		}
	}
}

// Thaw lets the group's tasks run again. Both freezers are thawed, so
// that a group frozen by an older daemon through the other one resumes.
func (g *Group) Thaw() error {
	var errs []error
	if g.hasUnifiedFreezer() {
		if err := cgroups.WriteFile(g.unified, "cgroup.freeze", "0"); err != nil {
			errs = append(errs, err)
		}
	}
	if dir := g.v1Dir("freezer"); dir != "" {
		if err := g.m.Freeze(cgroups.Thawed); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("thaw %s: %w", g.path, err)
	}
	return nil
}

// Frozen reports whether the group was asked to freeze (by either
// freezer).
func (g *Group) Frozen() (bool, error) {
	if g.hasUnifiedFreezer() {
		s, err := cgroups.ReadFile(g.unified, "cgroup.freeze")
		if err != nil {
			return false, err
		}
		if strings.TrimSpace(s) == "1" {
			return true, nil
		}
	}
	if dir := g.v1Dir("freezer"); dir != "" {
		s, err := cgroups.ReadFile(dir, "freezer.state")
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return false, nil
			}
			return false, err
		}
		st := strings.TrimSpace(s)
		return st == "FROZEN" || st == "FREEZING", nil
	}
	return false, nil
}

// eventsFrozen reads the kernel's "frozen" flag of the cgroup2 group.
func (g *Group) eventsFrozen() (bool, error) {
	s, err := cgroups.ReadFile(g.unified, "cgroup.events")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(line, "frozen "); ok {
			return strings.TrimSpace(v) == "1", nil
		}
	}
	return false, fmt.Errorf("%s/cgroup.events has no frozen line", g.unified)
}

// v1Dir is the group's directory in the v1 hierarchy of subsys, or ""
// on a pure v2 host or when the subsystem is not mounted.
func (g *Group) v1Dir(subsys string) string {
	if cgroups.IsCgroup2UnifiedMode() {
		return ""
	}
	return g.m.Path(subsys)
}
