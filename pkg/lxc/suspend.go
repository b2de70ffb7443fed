package lxc

import (
	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// Suspend freezes a running container's cgroup. A domain that is already
// paused stays so without an event, as in libvirt.
func (d *Driver) Suspend(ref domain.Ref) error {
	m, c, unlock, err := d.lockRunning(ref)
	if err != nil {
		return err
	}
	defer unlock()
	d.mu.RLock()
	paused := m.state == domain.Paused
	d.mu.RUnlock()
	if !paused {
		if err := c.Freeze(); err != nil {
			d.log.Warn("cannot freeze domain", "name", ref.Name, "err", err)
			_ = c.Thaw()
			return virterror.New(virterror.OperationFailed, virterror.FromLXC, "Suspend operation failed")
		}
		d.mu.Lock()
		m.state, m.reason = domain.Paused, domain.PausedUser
		out := m.ref
		d.mu.Unlock()
		d.bus.lifecycle(out, domain.EventSuspended, domain.DetailSuspendedPaused)
	}
	d.saveStatus(m, c)
	return nil
}

// Resume thaws a paused container.
func (d *Driver) Resume(ref domain.Ref) error {
	m, c, unlock, err := d.lockRunning(ref)
	if err != nil {
		return err
	}
	defer unlock()
	d.mu.RLock()
	state := m.state
	d.mu.RUnlock()
	switch state {
	case domain.Running:
		return virterror.New(virterror.OperationInvalid, virterror.FromDomain, "domain is already running")
	case domain.Paused:
		if err := c.Thaw(); err != nil {
			d.log.Warn("cannot thaw domain", "name", ref.Name, "err", err)
			return virterror.New(virterror.OperationFailed, virterror.FromLXC, "Resume operation failed")
		}
		d.mu.Lock()
		m.state, m.reason = domain.Running, domain.RunningUnpaused
		out := m.ref
		d.mu.Unlock()
		d.bus.lifecycle(out, domain.EventResumed, domain.DetailResumedUnpaused)
	}
	d.saveStatus(m, c)
	return nil
}

// statusNames are the state and reason words of a status file, as
// libvirt writes them in <domstatus>.
var statusNames = map[domain.State]struct {
	state   string
	reasons map[int32]string
}{
	domain.Running: {"running", map[int32]string{domain.RunningUnknown: "unknown", domain.RunningBooted: "booted", domain.RunningUnpaused: "unpaused"}},
	domain.Paused:  {"paused", map[int32]string{domain.PausedUnknown: "unknown", domain.PausedUser: "user"}},
}

func statusWords(st domain.State, reason int32) (string, string) {
	n, ok := statusNames[st]
	if !ok {
		return "running", "unknown"
	}
	r, ok := n.reasons[reason]
	if !ok {
		r = "unknown"
	}
	return n.state, r
}

// pausedReason turns the reason word of a status file back into a
// paused reason.
func pausedReason(word string) int32 {
	for r, w := range statusNames[domain.Paused].reasons {
		if w == word {
			return r
		}
	}
	return domain.PausedUnknown
}
