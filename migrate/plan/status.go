package plan

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/virtlxcd/virtlxcd/migrate/systemd"
	"github.com/virtlxcd/virtlxcd/migrate/unitfile"
)

// Report is what --status prints.
type Report struct {
	// Mode is SocketActivation, Traditional or "" (mixed: some sockets
	// masked, or none enabled while unmasked).
	Mode  Mode
	Units []UnitInfo
	// GuestsAfter are the virtlxcd units libvirt-guests' unit files order
	// it after; GuestsFiles are those files; GuestsInstalled is false when
	// there is no libvirt-guests.service.
	GuestsInstalled bool
	GuestsAfter     []string
	GuestsFiles     []string
	// GuestsOK tells whether that ordering suits Mode.
	GuestsOK bool
	// NoTimeout is true when virtlxcd-migrate's drop-in disables the idle
	// timeout.
	NoTimeout bool
	// Problems explain every inconsistency found.
	Problems []string
}

// Consistent tells whether the host is cleanly in one mode.
func (r *Report) Consistent() bool { return r.Mode != "" && len(r.Problems) == 0 }

// Status inspects the host.
func Status(ctx context.Context, e *Env) (*Report, error) {
	r := &Report{}
	units, err := e.states(ctx, append(append([]string{Service}, Sockets...), Monolithic...))
	if err != nil {
		return nil, err
	}
	r.Units = units
	service, sockets := units[0], units[1:1+len(Sockets)]
	if !service.Installed() {
		r.Problems = append(r.Problems, Service+" is not installed")
	}
	var masked, enabled int
	for _, s := range sockets {
		if !s.Installed() {
			r.Problems = append(r.Problems, s.Name+" is not installed")
		}
		if s.Masked() {
			masked++
		}
		if s.Enabled() {
			enabled++
		}
	}
	switch {
	case masked == len(Sockets):
		r.Mode = Traditional
	case masked == 0 && enabled == len(Sockets):
		r.Mode = SocketActivation
	case masked > 0:
		r.Problems = append(r.Problems, fmt.Sprintf("%d of the %d sockets are masked", masked, len(Sockets)))
	default:
		r.Problems = append(r.Problems, fmt.Sprintf("only %d of the %d sockets are enabled, none masked", enabled, len(Sockets)))
	}
	for _, m := range units[1+len(Sockets):] {
		if m.Installed() && !m.Masked() && (m.Active() || m.Enabled()) {
			r.Problems = append(r.Problems, fmt.Sprintf("%s is %s/%s: the monolithic libvirtd conflicts with virtlxcd", m.Name, m.UnitFileState, m.ActiveState))
		}
	}
	if _, err := os.Stat(e.host(TimeoutDropIn)); err == nil {
		r.NoTimeout = true
	}
	switch {
	case r.Mode == Traditional && !service.Enabled():
		r.Problems = append(r.Problems, Service+" is not enabled: nothing starts virtlxcd at boot")
	case r.Mode == Traditional && !r.NoTimeout:
		r.Problems = append(r.Problems, "the idle timeout is still in force: the daemon exits after 120 s and nothing starts it again")
	case r.Mode == Traditional && service.ActiveState != "" && service.ActiveState != "active":
		r.Problems = append(r.Problems, fmt.Sprintf("%s is %s (%s): in traditional mode it should be running", Service, service.ActiveState, service.SubState))
	case r.Mode == SocketActivation && r.NoTimeout:
		r.Problems = append(r.Problems, TimeoutDropIn+" keeps the daemon running although it is socket activated")
	}
	if err := e.guestsOrdering(r); err != nil {
		return nil, err
	}
	return r, nil
}

// guestsOrdering reads libvirt-guests' unit files and judges the ordering:
// traditional mode wants it after the service and not after a masked
// socket; socket mode wants it not after the service (the man pages order it
// after the socket).
func (e *Env) guestsOrdering(r *Report) error {
	st, err := (&systemd.Offline{Root: e.Root}).State(context.Background(), Guests)
	if err != nil {
		return err
	}
	if !st.Installed() || st.Masked() {
		r.GuestsOK = true
		return nil
	}
	r.GuestsInstalled = true
	for _, p := range append([]string{st.FragmentPath}, st.DropInPaths...) {
		b, err := os.ReadFile(e.host(p))
		if err != nil {
			return err
		}
		u, err := unitfile.Parse(b)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		named := false
		for _, a := range u.Values("Unit", "After") {
			if a == Service || slices.Contains(Sockets, a) {
				named = true
				if !slices.Contains(r.GuestsAfter, a) {
					r.GuestsAfter = append(r.GuestsAfter, a)
				}
			}
		}
		if named {
			r.GuestsFiles = append(r.GuestsFiles, p)
		}
	}
	hasService := slices.Contains(r.GuestsAfter, Service)
	var socks []string
	for _, a := range r.GuestsAfter {
		if a != Service {
			socks = append(socks, a)
		}
	}
	switch r.Mode {
	case Traditional:
		r.GuestsOK = hasService && len(socks) == 0
		if !r.GuestsOK {
			r.Problems = append(r.Problems, fmt.Sprintf("%s is ordered After=%s: traditional mode needs After=%s",
				Guests, strings.Join(r.GuestsAfter, " "), Service))
		}
	case SocketActivation:
		r.GuestsOK = !hasService
		if !r.GuestsOK {
			r.Problems = append(r.Problems, fmt.Sprintf("%s is ordered After=%s: socket activation needs After=%s",
				Guests, strings.Join(r.GuestsAfter, " "), Sockets[0]))
		}
	}
	return nil
}

// Print writes the report for --status.
func (r *Report) Print(w func(string)) {
	mode := string(r.Mode)
	if mode == "" {
		mode = "mixed (neither mode cleanly)"
	}
	w("mode: " + mode)
	for _, u := range r.Units {
		if !u.Installed() && slices.Contains(Monolithic, u.Name) {
			continue
		}
		active := u.ActiveState
		if active == "" {
			active = "unknown (offline)"
		} else if u.SubState != "" {
			active += " (" + u.SubState + ")"
		}
		file := u.UnitFileState
		if !u.Installed() {
			file = "not installed"
		}
		w(fmt.Sprintf("  %-24s %-10s %s", u.Name, file, active))
	}
	if r.NoTimeout {
		w("idle timeout: disabled by " + TimeoutDropIn)
	} else {
		w("idle timeout: as the unit sets it (VIRTLXCD_ARGS)")
	}
	switch {
	case !r.GuestsInstalled:
		w(Guests + ": not installed or masked")
	case len(r.GuestsAfter) == 0:
		w(Guests + ": not ordered after any virtlxcd unit in its unit files")
	default:
		verdict := "right for this mode"
		if !r.GuestsOK {
			verdict = "WRONG for this mode"
		} else if r.Mode == "" {
			verdict = "no mode to judge it by"
		}
		w(fmt.Sprintf("%s: After=%s (%s): %s", Guests, strings.Join(r.GuestsAfter, " "), strings.Join(r.GuestsFiles, ", "), verdict))
	}
	for _, p := range r.Problems {
		w("problem: " + p)
	}
	if r.Consistent() {
		w("consistent: yes")
	} else {
		w("consistent: no")
	}
}
