package systemd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/virtlxcd/virtlxcd/migrate/unitfile"
)

// AdminDir is where administrators' units, links and masks live.
const AdminDir = "/etc/systemd/system"

// SearchDirs are systemd's system unit directories, highest priority
// first (the runtime directory is left out: it does not survive a reboot
// and is empty when systemd is not running).
var SearchDirs = []string{AdminDir, "/run/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

// Offline operates on the unit files below Root without a running systemd.
type Offline struct {
	Root string
}

func (f *Offline) Describe() string {
	return fmt.Sprintf("offline: unit files below %s, systemd not running", f.Root)
}

func (f *Offline) Online() bool { return false }
func (f *Offline) Close()       {}

func (f *Offline) host(p string) string { return filepath.Join(f.Root, p) }

// lookup finds unit's file: its path inside the root (after following a
// link), and whether a /dev/null link masks it.
func (f *Offline) lookup(unit string) (fragment string, masked bool, err error) {
	for _, dir := range SearchDirs {
		p := filepath.Join(dir, unit)
		fi, err := os.Lstat(f.host(p))
		if err != nil {
			continue
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return p, false, nil
		}
		target, err := os.Readlink(f.host(p))
		if err != nil {
			return "", false, err
		}
		if target == "/dev/null" {
			return "", true, nil
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		if _, err := os.Stat(f.host(target)); err != nil {
			return "", false, fmt.Errorf("%s links to missing %s", p, target)
		}
		return target, false, nil
	}
	return "", false, nil
}

// DropIns lists unit's drop-in files by name, highest priority directory
// winning, in the order systemd applies them (by file name).
func DropIns(root, unit string) []string {
	seen := map[string]string{}
	for _, dir := range SearchDirs {
		d := filepath.Join(dir, unit+".d")
		entries, _ := os.ReadDir(filepath.Join(root, d))
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".conf") {
				continue
			}
			if _, ok := seen[e.Name()]; !ok {
				seen[e.Name()] = filepath.Join(d, e.Name())
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = seen[n]
	}
	return out
}

func (f *Offline) parse(p string) (*unitfile.File, error) {
	b, err := os.ReadFile(f.host(p))
	if err != nil {
		return nil, err
	}
	return unitfile.Parse(b)
}

func (f *Offline) State(ctx context.Context, unit string) (UnitState, error) {
	st := UnitState{Name: unit}
	frag, masked, err := f.lookup(unit)
	if err != nil {
		return st, fmt.Errorf("state of %s: %w", unit, err)
	}
	switch {
	case masked:
		st.LoadState, st.UnitFileState = "masked", "masked"
		return st, nil
	case frag == "":
		st.LoadState = "not-found"
		return st, nil
	}
	st.LoadState, st.FragmentPath = "loaded", frag
	st.DropInPaths = DropIns(f.Root, unit)
	install := false
	for _, p := range append([]string{frag}, st.DropInPaths...) {
		u, err := f.parse(p)
		if err != nil {
			return st, fmt.Errorf("state of %s: %w", unit, err)
		}
		st.After = append(st.After, u.Values("Unit", "After")...)
		st.Requires = append(st.Requires, u.Values("Unit", "Requires")...)
		st.BindsTo = append(st.BindsTo, u.Values("Unit", "BindsTo")...)
		for _, k := range []string{"WantedBy", "RequiredBy", "Alias", "Also"} {
			install = install || len(u.Values("Install", k)) > 0
		}
	}
	links, err := f.links(unit, frag)
	if err != nil {
		return st, err
	}
	switch {
	case len(links) > 0:
		st.UnitFileState = "enabled"
	case install:
		st.UnitFileState = "disabled"
	default:
		st.UnitFileState = "static"
	}
	return st, nil
}

// links lists the enablement links of unit in the admin directory: in
// *.wants/ and *.requires/ directories, and aliases pointing at its file.
func (f *Offline) links(unit, frag string) ([]string, error) {
	var out []string
	entries, err := os.ReadDir(f.host(AdminDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		p := filepath.Join(AdminDir, e.Name())
		if e.IsDir() && (strings.HasSuffix(e.Name(), ".wants") || strings.HasSuffix(e.Name(), ".requires")) {
			if fi, err := os.Lstat(f.host(filepath.Join(p, unit))); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
				out = append(out, filepath.Join(p, unit))
			}
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 && e.Name() != unit && frag != "" {
			if t, _ := os.Readlink(f.host(p)); t == frag {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

func (f *Offline) Start(context.Context, string) error   { return ErrOffline }
func (f *Offline) Stop(context.Context, string) error    { return ErrOffline }
func (f *Offline) Restart(context.Context, string) error { return ErrOffline }
func (f *Offline) Reload(context.Context) error          { return ErrOffline }

// installOf reads the [Install] section of unit's file and drop-ins.
func (f *Offline) installOf(unit string) (frag string, wanted, required, alias, also []string, err error) {
	frag, masked, err := f.lookup(unit)
	switch {
	case err != nil:
		return "", nil, nil, nil, nil, err
	case masked:
		return "", nil, nil, nil, nil, fmt.Errorf("unit %s is masked", unit)
	case frag == "":
		return "", nil, nil, nil, nil, fmt.Errorf("unit %s not found", unit)
	}
	for _, p := range append([]string{frag}, DropIns(f.Root, unit)...) {
		u, err := f.parse(p)
		if err != nil {
			return "", nil, nil, nil, nil, err
		}
		wanted = append(wanted, u.Values("Install", "WantedBy")...)
		required = append(required, u.Values("Install", "RequiredBy")...)
		alias = append(alias, u.Values("Install", "Alias")...)
		also = append(also, u.Values("Install", "Also")...)
	}
	return frag, wanted, required, alias, also, nil
}

func (f *Offline) Enable(ctx context.Context, units ...string) ([]Change, error) {
	var changes []Change
	done := map[string]bool{}
	var enable func(unit string) error
	enable = func(unit string) error {
		if done[unit] {
			return nil
		}
		done[unit] = true
		frag, wanted, required, alias, also, err := f.installOf(unit)
		if err != nil {
			return fmt.Errorf("enable %s: %w", unit, err)
		}
		var want []string
		for _, t := range wanted {
			want = append(want, filepath.Join(AdminDir, t+".wants", unit))
		}
		for _, t := range required {
			want = append(want, filepath.Join(AdminDir, t+".requires", unit))
		}
		for _, a := range alias {
			want = append(want, filepath.Join(AdminDir, a))
		}
		for _, l := range want {
			c, err := f.link(l, frag)
			if err != nil {
				return fmt.Errorf("enable %s: %w", unit, err)
			}
			if c != nil {
				changes = append(changes, *c)
			}
		}
		for _, a := range also {
			if err := enable(a); err != nil {
				return err
			}
		}
		return nil
	}
	for _, u := range units {
		if err := enable(u); err != nil {
			return changes, err
		}
	}
	return changes, nil
}

// link makes link point at target unless it already does.
func (f *Offline) link(link, target string) (*Change, error) {
	h := f.host(link)
	if t, err := os.Readlink(h); err == nil {
		if t == target {
			return nil, nil
		}
		return nil, fmt.Errorf("%s already links to %s", link, t)
	} else if _, err := os.Lstat(h); err == nil {
		return nil, fmt.Errorf("%s exists and is not a link", link)
	}
	if err := os.MkdirAll(filepath.Dir(h), 0o755); err != nil {
		return nil, err
	}
	if err := os.Symlink(target, h); err != nil {
		return nil, err
	}
	return &Change{Type: "symlink", Filename: link, Destination: target}, nil
}

func (f *Offline) Disable(ctx context.Context, units ...string) ([]Change, error) {
	var changes []Change
	done := map[string]bool{}
	var disable func(unit string) error
	disable = func(unit string) error {
		if done[unit] {
			return nil
		}
		done[unit] = true
		frag, masked, err := f.lookup(unit)
		if err != nil {
			return fmt.Errorf("disable %s: %w", unit, err)
		}
		links, err := f.links(unit, frag)
		if err != nil {
			return fmt.Errorf("disable %s: %w", unit, err)
		}
		for _, l := range links {
			if err := os.Remove(f.host(l)); err != nil {
				return fmt.Errorf("disable %s: %w", unit, err)
			}
			changes = append(changes, Change{Type: "unlink", Filename: l})
		}
		if masked || frag == "" {
			return nil
		}
		_, _, _, _, also, err := f.installOf(unit)
		if err != nil {
			return fmt.Errorf("disable %s: %w", unit, err)
		}
		for _, a := range also {
			if err := disable(a); err != nil {
				return err
			}
		}
		return nil
	}
	for _, u := range units {
		if err := disable(u); err != nil {
			return changes, err
		}
	}
	return changes, nil
}

func (f *Offline) Mask(ctx context.Context, units ...string) ([]Change, error) {
	var changes []Change
	for _, u := range units {
		p := filepath.Join(AdminDir, u)
		if t, err := os.Readlink(f.host(p)); err == nil && t == "/dev/null" {
			continue
		}
		if _, err := os.Lstat(f.host(p)); err == nil {
			return changes, fmt.Errorf("mask %s: %s exists; refusing to replace it", u, p)
		}
		if err := os.MkdirAll(f.host(AdminDir), 0o755); err != nil {
			return changes, fmt.Errorf("mask %s: %w", u, err)
		}
		if err := os.Symlink("/dev/null", f.host(p)); err != nil {
			return changes, fmt.Errorf("mask %s: %w", u, err)
		}
		changes = append(changes, Change{Type: "symlink", Filename: p, Destination: "/dev/null"})
	}
	return changes, nil
}

func (f *Offline) Unmask(ctx context.Context, units ...string) ([]Change, error) {
	var changes []Change
	for _, u := range units {
		p := filepath.Join(AdminDir, u)
		if t, err := os.Readlink(f.host(p)); err != nil || t != "/dev/null" {
			continue
		}
		if err := os.Remove(f.host(p)); err != nil {
			return changes, fmt.Errorf("unmask %s: %w", u, err)
		}
		changes = append(changes, Change{Type: "unlink", Filename: p})
	}
	return changes, nil
}
