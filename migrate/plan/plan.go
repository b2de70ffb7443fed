package plan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/virtlxcd/virtlxcd/migrate/diff"
	"github.com/virtlxcd/virtlxcd/migrate/systemd"
	"github.com/virtlxcd/virtlxcd/migrate/unitfile"
	"github.com/virtlxcd/virtlxcd/pkg/domstore"
)

// Env is where a plan is made and carried out.
type Env struct {
	// Root is the file tree holding /etc and /usr ("/" on a live host).
	Root string
	// Units operates on the units, online or offline.
	Units systemd.Manager
	// Now stamps backups (time.Now when nil).
	Now func() time.Time
}

func (e *Env) host(p string) string { return filepath.Join(e.Root, p) }

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Refusal is a precondition that stops virtlxcd-migrate before it changes
// anything; Code is its exit status.
type Refusal struct {
	Code int
	Msg  string
}

func (r *Refusal) Error() string { return r.Msg }

// Exit codes, documented in virtlxcd-migrate(8).
const (
	ExitOK           = 0
	ExitFailed       = 1
	ExitUsage        = 2
	ExitNotRoot      = 3
	ExitNotInstalled = 4
	ExitConflict     = 5
	ExitInconsistent = 6
)

// Step is one change.
type Step struct {
	Title string // what is done, as a command-like line
	Diff  string // for file changes: the unified diff
	run   func(ctx context.Context) ([]string, error)
}

// Plan is the list of steps that take the host to Mode.
type Plan struct {
	Mode  Mode
	Steps []Step
	// Notes are facts the user should know (traps found, things skipped).
	Notes []string
}

// Print writes the plan for --dry-run.
func (p *Plan) Print(w func(string)) {
	for _, n := range p.Notes {
		w("note: " + n)
	}
	if len(p.Steps) == 0 {
		w(fmt.Sprintf("nothing to do: already in %s mode", p.Mode))
		return
	}
	w(fmt.Sprintf("plan for %s mode:", p.Mode))
	for i, s := range p.Steps {
		w(fmt.Sprintf("  %d. %s", i+1, s.Title))
		if s.Diff != "" {
			for _, l := range strings.Split(strings.TrimSuffix(s.Diff, "\n"), "\n") {
				w("       " + l)
			}
		}
	}
}

// Apply carries out the steps in order, reporting each with w, and stops at
// the first failure. Steps that need a running systemd are reported as
// skipped in offline mode.
func (p *Plan) Apply(ctx context.Context, w func(string)) error {
	for _, n := range p.Notes {
		w("note: " + n)
	}
	if len(p.Steps) == 0 {
		w(fmt.Sprintf("nothing to do: already in %s mode", p.Mode))
		return nil
	}
	for i, s := range p.Steps {
		w(fmt.Sprintf("[%d/%d] %s", i+1, len(p.Steps), s.Title))
		if s.Diff != "" {
			for _, l := range strings.Split(strings.TrimSuffix(s.Diff, "\n"), "\n") {
				w("       " + l)
			}
		}
		details, err := s.run(ctx)
		for _, d := range details {
			w("       " + d)
		}
		if errors.Is(err, systemd.ErrOffline) {
			w("       skipped: " + err.Error())
			continue
		}
		if err != nil {
			return fmt.Errorf("step %d (%s): %w", i+1, s.Title, err)
		}
	}
	w(fmt.Sprintf("done: %s mode", p.Mode))
	return nil
}

// state is what Build looks at.
type state struct {
	service UnitInfo
	sockets []UnitInfo
}

// UnitInfo is a unit's state as systemd reports it.
type UnitInfo = systemd.UnitState

func (e *Env) states(ctx context.Context, units []string) ([]UnitInfo, error) {
	out := make([]UnitInfo, len(units))
	for i, u := range units {
		s, err := e.Units.State(ctx, u)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// preflight refuses when virtlxcd's units are missing or libvirt's
// monolithic daemon holds the host.
func (e *Env) preflight(ctx context.Context) (*state, error) {
	all, err := e.states(ctx, append([]string{Service}, Sockets...))
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, s := range all {
		if !s.Installed() {
			missing = append(missing, s.Name)
		}
	}
	if len(missing) > 0 {
		return nil, &Refusal{ExitNotInstalled, fmt.Sprintf("%s not installed (%s): install the virtlxcd package first",
			strings.Join(missing, ", "), e.Units.Describe())}
	}
	mono, err := e.states(ctx, Monolithic)
	if err != nil {
		return nil, err
	}
	var owners []string
	for _, s := range mono {
		switch {
		case s.Masked() || !s.Installed():
		case s.Active():
			owners = append(owners, s.Name+" is active")
		case s.Enabled():
			owners = append(owners, s.Name+" is enabled")
		}
	}
	if len(owners) > 0 {
		return nil, &Refusal{ExitConflict, fmt.Sprintf("the monolithic libvirtd owns the sockets (%s); it conflicts with virtlxcd: "+
			"stop and disable libvirtd.service and its sockets first", strings.Join(owners, ", "))}
	}
	return &state{service: all[0], sockets: all[1:]}, nil
}

// vendorFile finds a unit's packaged file (never the admin or runtime copy).
func (e *Env) vendorFile(unit string) string {
	for _, d := range systemd.SearchDirs[2:] {
		p := filepath.Join(d, unit)
		if fi, err := os.Stat(e.host(p)); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

func (e *Env) read(p string) ([]byte, bool, error) {
	b, err := os.ReadFile(e.host(p))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	return b, err == nil, err
}

func isLink(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode()&fs.ModeSymlink != 0
}

// Build works out the steps from the current state to mode.
func Build(ctx context.Context, e *Env, mode Mode) (*Plan, error) {
	st, err := e.preflight(ctx)
	if err != nil {
		return nil, err
	}
	p := &Plan{Mode: mode}
	if !e.Units.Online() {
		p.Notes = append(p.Notes, e.Units.Describe()+": unit files and links are changed; nothing is started, stopped or reloaded (that happens at the next boot)")
	}
	var files bool
	switch mode {
	case Traditional:
		files, err = e.traditionalFiles(p, st)
	case SocketActivation:
		files, err = e.socketFiles(p)
	default:
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return nil, err
	}
	if files && e.Units.Online() {
		p.add("daemon-reload", func(ctx context.Context) ([]string, error) { return nil, e.Units.Reload(ctx) })
	}
	changed := files
	if mode == Traditional {
		e.traditionalUnits(p, st, changed)
	} else {
		e.socketUnits(p, st, changed)
	}
	return p, nil
}

func (p *Plan) add(title string, run func(ctx context.Context) ([]string, error)) {
	p.Steps = append(p.Steps, Step{Title: title, run: run})
}

// writeStep replaces (or creates) an admin file, backing up a previous
// version that virtlxcd-migrate did not write itself.
func (e *Env) writeStep(p *Plan, path string, old []byte, existed, backup bool, data []byte, why string) {
	title := "write " + path + ": " + why
	if backup {
		title += " (the current file is backed up)"
	}
	p.Steps = append(p.Steps, Step{
		Title: title,
		Diff:  diff.Unified(labelOld(path, existed), path, old, data),
		run: func(ctx context.Context) ([]string, error) {
			var out []string
			if backup {
				b, err := e.backup(path)
				if err != nil {
					return nil, err
				}
				out = append(out, "backup: "+b)
			}
			h := e.host(path)
			if err := os.MkdirAll(filepath.Dir(h), 0o755); err != nil {
				return out, err
			}
			return append(out, "wrote "+path), domstore.WriteFile(h, data, 0o644)
		},
	})
}

func labelOld(path string, existed bool) string {
	if existed {
		return path
	}
	return "/dev/null"
}

// removeStep deletes an admin file (and its directory when left empty).
func (e *Env) removeStep(p *Plan, path string, old []byte, backup bool, why string) {
	title := "remove " + path + ": " + why
	if backup {
		title += " (backed up first)"
	}
	p.Steps = append(p.Steps, Step{
		Title: title,
		Diff:  diff.Unified(path, "/dev/null", old, nil),
		run: func(ctx context.Context) ([]string, error) {
			var out []string
			if backup {
				b, err := e.backup(path)
				if err != nil {
					return nil, err
				}
				out = append(out, "backup: "+b)
			}
			if err := os.Remove(e.host(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return out, err
			}
			out = append(out, "removed "+path)
			dir := filepath.Dir(path)
			if dir != systemd.AdminDir {
				if err := os.Remove(e.host(dir)); err == nil {
					out = append(out, "removed empty "+dir)
				}
			}
			return out, nil
		},
	})
}

// backup copies an admin file into BackupDir under a name that keeps its
// path and the time.
func (e *Env) backup(path string) (string, error) {
	data, err := os.ReadFile(e.host(path))
	if err != nil {
		return "", fmt.Errorf("backup %s: %w", path, err)
	}
	name := strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", "_") + "." + e.now().UTC().Format("20060102T150405.000000000Z")
	dst := filepath.Join(BackupDir, name)
	if err := os.MkdirAll(e.host(BackupDir), 0o700); err != nil {
		return "", fmt.Errorf("backup %s: %w", path, err)
	}
	if err := domstore.WriteFile(e.host(dst), data, 0o644); err != nil {
		return "", fmt.Errorf("backup %s: %w", path, err)
	}
	return dst, nil
}

// execStart is the service's effective ExecStart= value, leaving out the
// drop-in virtlxcd-migrate writes itself.
func (e *Env) execStart() (string, error) {
	frag := e.vendorFile(Service)
	if fi, err := os.Lstat(e.host(ServiceOverride)); err == nil && fi.Mode().IsRegular() {
		frag = ServiceOverride
	}
	if frag == "" {
		return "", fmt.Errorf("%s: no unit file found below %s", Service, e.Root)
	}
	var cmd string
	for _, p := range append([]string{frag}, systemd.DropIns(e.Root, Service)...) {
		if p == TimeoutDropIn {
			continue
		}
		b, err := os.ReadFile(e.host(p))
		if err != nil {
			return "", err
		}
		u, err := unitfile.Parse(b)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p, err)
		}
		for _, en := range u.Entries {
			if en.Section == "Service" && en.Key == "ExecStart" {
				cmd = strings.Join(en.Values(), " ")
			}
		}
	}
	if cmd == "" {
		return "", fmt.Errorf("%s has no ExecStart=", Service)
	}
	return cmd, nil
}

// traditionalFiles adds the file changes of traditional mode and tells
// whether there are any.
func (e *Env) traditionalFiles(p *Plan, st *state) (bool, error) {
	n := len(p.Steps)
	// 1. The idle timeout goes.
	cmd, err := e.execStart()
	if err != nil {
		return false, err
	}
	want := timeoutDropIn(cmd)
	old, existed, err := e.read(TimeoutDropIn)
	if err != nil {
		return false, err
	}
	if !bytes.Equal(old, want) {
		// An existing, different drop-in was edited (or written for an
		// older ExecStart=): keep a copy.
		e.writeStep(p, TimeoutDropIn, old, existed, existed, want, "drop the idle --timeout (the daemon must keep running)")
	}

	// 2. A service bound to its socket cannot start with the socket masked.
	var bound []string
	for _, d := range append(append([]string{}, st.service.BindsTo...), st.service.Requires...) {
		if slices.Contains(Sockets, d) {
			bound = append(bound, d)
		}
	}
	if len(bound) > 0 {
		vendor := e.vendorFile(Service)
		cur, existed, err := e.read(ServiceOverride)
		if err != nil {
			return false, err
		}
		switch {
		case existed:
			out, changed, err := unitfile.Rewrite(cur, unbind)
			if err != nil {
				return false, fmt.Errorf("%s: %w", ServiceOverride, err)
			}
			if changed {
				p.Notes = append(p.Notes, fmt.Sprintf("%s binds to or requires %s: masked sockets would stop it from starting", Service, strings.Join(bound, ", ")))
				e.writeStep(p, ServiceOverride, cur, true, true, out, "remove its BindsTo=/Requires= on the sockets")
			}
		case vendor != "":
			b, _, err := e.read(vendor)
			if err != nil {
				return false, err
			}
			out, _, err := unitfile.Rewrite(b, unbind)
			if err != nil {
				return false, fmt.Errorf("%s: %w", vendor, err)
			}
			p.Notes = append(p.Notes, fmt.Sprintf("%s (libvirt's unit %s) binds to or requires %s: masked sockets would stop it from starting; "+
				"a drop-in cannot remove a dependency, so a copy without it goes to %s", Service, vendor, strings.Join(bound, ", "), ServiceOverride))
			e.writeStep(p, ServiceOverride, nil, false, false, append([]byte(generatedHeader), out...), "copy of "+vendor+" without BindsTo=/Requires= on the sockets")
		}
	}

	// 3. libvirt-guests orders itself after the service, not the socket.
	if err := e.guestsFiles(p, Traditional); err != nil {
		return false, err
	}
	return len(p.Steps) > n, nil
}

// socketFiles adds the file changes of socket-activation mode.
func (e *Env) socketFiles(p *Plan) (bool, error) {
	n := len(p.Steps)
	old, existed, err := e.read(TimeoutDropIn)
	if err != nil {
		return false, err
	}
	if existed {
		cmd, err := e.execStart()
		if err != nil {
			return false, err
		}
		ours := bytes.Equal(old, timeoutDropIn(cmd))
		e.removeStep(p, TimeoutDropIn, old, !ours, "restore the idle timeout (socket activation starts the daemon again)")
	}
	if cur, existed, err := e.read(ServiceOverride); err != nil {
		return false, err
	} else if existed && !isLink(e.host(ServiceOverride)) {
		if vendor := e.vendorFile(Service); vendor != "" {
			b, _, err := e.read(vendor)
			if err != nil {
				return false, err
			}
			gen, _, err := unitfile.Rewrite(b, unbind)
			if err == nil && bytes.Equal(cur, append([]byte(generatedHeader), gen...)) {
				e.removeStep(p, ServiceOverride, cur, false, "the vendor unit applies again")
			} else {
				p.Notes = append(p.Notes, ServiceOverride+" is an administrator's copy of the service: left as it is")
			}
		}
	}
	if err := e.guestsFiles(p, SocketActivation); err != nil {
		return false, err
	}
	return len(p.Steps) > n, nil
}

// guestsFiles adds the libvirt-guests changes for mode: the unit and every
// drop-in that orders on virtlxcd's units.
func (e *Env) guestsFiles(p *Plan, mode Mode) error {
	r := ordering[mode]
	if isLink(e.host(GuestsOverride)) {
		p.Notes = append(p.Notes, GuestsOverride+" is a link (masked?): left as it is")
		return nil
	}
	vendor := e.vendorFile(Guests)
	cur, existed, err := e.read(GuestsOverride)
	if err != nil {
		return err
	}
	if !existed && vendor == "" {
		p.Notes = append(p.Notes, Guests+" is not installed: no ordering to fix")
	}
	if err := e.fixOrdering(p, mode, r, GuestsOverride, cur, existed, vendor); err != nil {
		return err
	}
	// Drop-ins: the highest-priority file of each name counts.
	for _, d := range systemd.DropIns(e.Root, Guests) {
		name := filepath.Base(d)
		etc := filepath.Join(systemd.AdminDir, Guests+".d", name)
		var cur []byte
		var existed bool
		switch {
		case d == etc:
			if cur, existed, err = e.read(etc); err != nil {
				return err
			}
		case strings.HasPrefix(d, systemd.SearchDirs[1]+"/"):
			p.Notes = append(p.Notes, d+" is a runtime drop-in: left as it is")
			continue
		}
		var vendorDropIn string
		for _, dir := range systemd.SearchDirs[2:] {
			v := filepath.Join(dir, Guests+".d", name)
			if fi, err := os.Stat(e.host(v)); err == nil && fi.Mode().IsRegular() {
				vendorDropIn = v
				break
			}
		}
		if err := e.fixOrdering(p, mode, r, etc, cur, existed, vendorDropIn); err != nil {
			return err
		}
	}
	return nil
}

// fixOrdering makes the admin file at etc order right for mode: in
// traditional mode a copy of vendor with the ordering rewritten (or the
// existing admin file rewritten in place); in socket mode the copy goes when
// it is exactly what traditional mode wrote, else it is rewritten back.
func (e *Env) fixOrdering(p *Plan, mode Mode, r unitfile.Rename, etc string, cur []byte, existed bool, vendor string) error {
	var vendorText []byte
	if vendor != "" {
		b, _, err := e.read(vendor)
		if err != nil {
			return err
		}
		vendorText = b
	}
	var generated []byte
	if vendorText != nil {
		out, changed, err := unitfile.Rewrite(vendorText, ordering[Traditional])
		if err != nil {
			return fmt.Errorf("%s: %w", vendor, err)
		}
		if changed {
			generated = out
		}
	}
	switch {
	case mode == Traditional && !existed && generated != nil:
		e.writeStep(p, etc, nil, false, false, generated, "copy of "+vendor+" ordered After="+Service)
	case mode == Traditional && existed:
		out, changed, err := unitfile.Rewrite(cur, r)
		if err != nil {
			return fmt.Errorf("%s: %w", etc, err)
		}
		if changed {
			e.writeStep(p, etc, cur, true, true, out, "order on "+Service+" instead of the sockets")
		}
	case mode == SocketActivation && existed && generated != nil && bytes.Equal(cur, generated):
		e.removeStep(p, etc, cur, false, "differs from "+vendor+" only by the traditional-mode ordering")
	case mode == SocketActivation && existed:
		out, changed, err := unitfile.Rewrite(cur, r)
		if err != nil {
			return fmt.Errorf("%s: %w", etc, err)
		}
		if changed {
			e.writeStep(p, etc, cur, true, true, out, "order on "+Sockets[0]+" instead of the service (administrator's copy kept)")
		}
	}
	return nil
}

func changesText(ch []systemd.Change) []string {
	var out []string
	for _, c := range ch {
		if c.Destination != "" {
			out = append(out, fmt.Sprintf("%s %s → %s", c.Type, c.Filename, c.Destination))
		} else {
			out = append(out, fmt.Sprintf("%s %s", c.Type, c.Filename))
		}
	}
	return out
}

// traditionalUnits adds the unit operations of traditional mode: stop the
// sockets, enable the service (its Also= enables the sockets too), disable
// and mask the sockets, restart the service so that it makes its own
// sockets. Guests are not touched: KillMode=process spares them.
func (e *Env) traditionalUnits(p *Plan, st *state, changed bool) {
	online := e.Units.Online()
	var active, enabled, unmasked []string
	for _, s := range st.sockets {
		if s.Active() {
			active = append(active, s.Name)
		}
		if s.Enabled() {
			enabled = append(enabled, s.Name)
		}
		if !s.Masked() {
			unmasked = append(unmasked, s.Name)
		}
	}
	if online && len(active) > 0 {
		// The read-only and admin sockets bind to the main one: stop them first.
		slices.Reverse(active)
		p.add("stop "+strings.Join(active, " "), func(ctx context.Context) ([]string, error) {
			for _, u := range active {
				if err := e.Units.Stop(ctx, u); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
	}
	enableService := !st.service.Enabled()
	if enableService {
		p.add("enable "+Service, func(ctx context.Context) ([]string, error) {
			ch, err := e.Units.Enable(ctx, Service)
			return changesText(ch), err
		})
	}
	if len(enabled) > 0 || (enableService && len(unmasked) > 0) {
		p.add("disable "+strings.Join(Sockets, " "), func(ctx context.Context) ([]string, error) {
			ch, err := e.Units.Disable(ctx, Sockets...)
			return changesText(ch), err
		})
	}
	if len(unmasked) > 0 {
		p.add("mask "+strings.Join(unmasked, " "), func(ctx context.Context) ([]string, error) {
			ch, err := e.Units.Mask(ctx, unmasked...)
			return changesText(ch), err
		})
		if online {
			p.add("daemon-reload", func(ctx context.Context) ([]string, error) { return nil, e.Units.Reload(ctx) })
		}
	}
	if online && (changed || len(active) > 0 || len(unmasked) > 0 || enableService || !st.service.Active()) {
		p.add("restart "+Service+" (running guests are kept)", func(ctx context.Context) ([]string, error) {
			return nil, e.Units.Restart(ctx, Service)
		})
	}
}

// socketUnits adds the unit operations of socket-activation mode: unmask,
// enable and start the sockets (after stopping a daemon that made its own
// sockets), keep the service enabled so that autostart guests start at boot,
// and start it again.
func (e *Env) socketUnits(p *Plan, st *state, changed bool) {
	online := e.Units.Online()
	var masked, disabled, inactive []string
	for _, s := range st.sockets {
		if s.Masked() {
			masked = append(masked, s.Name)
		}
		if !s.Enabled() {
			disabled = append(disabled, s.Name)
		}
		if !s.Active() {
			inactive = append(inactive, s.Name)
		}
	}
	if len(masked) > 0 {
		p.add("unmask "+strings.Join(masked, " "), func(ctx context.Context) ([]string, error) {
			ch, err := e.Units.Unmask(ctx, masked...)
			return changesText(ch), err
		})
		if online {
			p.add("daemon-reload", func(ctx context.Context) ([]string, error) { return nil, e.Units.Reload(ctx) })
		}
	}
	// A daemon started without the sockets listens on its own: it must go
	// before systemd can bind the paths (guests keep running).
	mainInactive := slices.Contains(inactive, Sockets[0])
	stopService := online && mainInactive && st.service.Active()
	if stopService {
		p.add("stop "+Service+" (running guests are kept)", func(ctx context.Context) ([]string, error) {
			return nil, e.Units.Stop(ctx, Service)
		})
	}
	if len(disabled) > 0 {
		p.add("enable "+strings.Join(Sockets, " "), func(ctx context.Context) ([]string, error) {
			ch, err := e.Units.Enable(ctx, Sockets...)
			return changesText(ch), err
		})
	}
	if !st.service.Enabled() {
		p.add("enable "+Service+" (autostart guests start at boot)", func(ctx context.Context) ([]string, error) {
			ch, err := e.Units.Enable(ctx, Service)
			return changesText(ch), err
		})
	}
	if !online {
		return
	}
	if len(inactive) > 0 {
		p.add("start "+strings.Join(inactive, " "), func(ctx context.Context) ([]string, error) {
			for _, u := range inactive {
				if err := e.Units.Start(ctx, u); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
	}
	// An inactive service is left to socket activation.
	switch {
	case stopService:
		p.add("start "+Service, func(ctx context.Context) ([]string, error) { return nil, e.Units.Start(ctx, Service) })
	case changed && st.service.Active():
		p.add("restart "+Service+" (running guests are kept)", func(ctx context.Context) ([]string, error) {
			return nil, e.Units.Restart(ctx, Service)
		})
	}
}
