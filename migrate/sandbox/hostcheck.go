package sandbox

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// watchedHostTrees are the host locations a misbehaving sandboxed systemd
// would change first: its unit configuration, its and D-Bus' runtime state,
// the journal. (Trees that other packages' tests may legitimately change
// while this one runs are not watched as a whole: check for your own
// names there.)
var watchedHostTrees = []string{"/etc/systemd", "/run/systemd", "/run/dbus", "/var/log/journal"}

// HostSnapshot records the host state a sandbox must never change.
type HostSnapshot struct {
	trees  map[string]string // path → digest of names, types, link targets and contents
	canary string            // a file in the host's /tmp that tmpfiles would wipe
}

// SnapshotHost records the watched host trees and plants a canary in /tmp.
func SnapshotHost() (*HostSnapshot, error) {
	f, err := os.CreateTemp("", "virtlxcd-sandbox-canary-")
	if err != nil {
		return nil, err
	}
	f.Close()
	s := &HostSnapshot{trees: map[string]string{}, canary: f.Name()}
	for _, t := range watchedHostTrees {
		s.trees[t] = digestTree(t)
	}
	return s, nil
}

// Compare reports every watched tree that changed since the snapshot and
// whether the canary survived, then removes the canary.
func (s *HostSnapshot) Compare() error {
	var errs []error
	for _, t := range watchedHostTrees {
		if d := digestTree(t); d != s.trees[t] {
			errs = append(errs, fmt.Errorf("host %s changed:\n%s", t, diffLines(s.trees[t], d)))
		}
	}
	if _, err := os.Stat(s.canary); err != nil {
		errs = append(errs, fmt.Errorf("host /tmp canary gone: %w", err))
	}
	os.Remove(s.canary)
	return errors.Join(errs...)
}

// Release removes the canary without comparing (for a test that ends
// early); harmless after Compare.
func (s *HostSnapshot) Release() { os.Remove(s.canary) }

func digestTree(root string) string {
	var lines []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			lines = append(lines, p+" error "+err.Error())
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		line := fmt.Sprintf("%s %v", p, info.Mode())
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			t, _ := os.Readlink(p)
			line += " -> " + t
		case info.Mode().IsRegular():
			if b, err := os.ReadFile(p); err == nil {
				line += fmt.Sprintf(" %x", sha256.Sum256(b))
			}
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func diffLines(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for l := range ma {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for l := range mb {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// CheckGone verifies that nothing of a closed sandbox is left on the host:
// no process in its pid namespace, no cgroup, no directory, no mount.
func (sb *Sandbox) CheckGone(pidNS string) error {
	var errs []error
	if pidNS != "" {
		procs, _ := os.ReadDir("/proc")
		for _, p := range procs {
			if ns, err := os.Readlink(filepath.Join("/proc", p.Name(), "ns/pid")); err == nil && ns == pidNS {
				errs = append(errs, fmt.Errorf("process %s still in the sandbox's pid namespace", p.Name()))
			}
		}
	}
	if sb.cgroup != "" {
		if _, err := os.Stat(sb.cgroup); err == nil {
			errs = append(errs, fmt.Errorf("cgroup %s left behind", sb.cgroup))
		}
	}
	for _, h := range sb.v1 {
		if _, err := os.Stat(h.dir); err == nil {
			errs = append(errs, fmt.Errorf("cgroup %s left behind", h.dir))
		}
	}
	if _, err := os.Stat(sb.dir); err == nil {
		errs = append(errs, fmt.Errorf("directory %s left behind", sb.dir))
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(b), sb.dir) {
		errs = append(errs, fmt.Errorf("host mounts below %s left behind", sb.dir))
	}
	return errors.Join(errs...)
}

// PIDNamespace is the identity of the sandbox's pid namespace ("pid:[N]"),
// to hand to CheckGone after Close.
func (sb *Sandbox) PIDNamespace() string {
	ns, _ := os.Readlink(filepath.Join("/proc", fmt.Sprint(sb.PID()), "ns/pid"))
	return ns
}
