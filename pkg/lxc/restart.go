package lxc

import (
	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/domxml"
)

// reattach goes through the status files of the containers that ran when
// the previous daemon stopped. Running ones are adopted (state running,
// reason unknown, as libvirt reports after a reconnect); those that ended
// meanwhile are recorded as shut off with a STOPPED event. It returns the
// domains that rebooted while nobody watched and must be started again.
func (d *Driver) reattach() []*dom {
	statuses, errs := d.store.LoadStatuses()
	for _, err := range errs {
		d.log.Warn("cannot load domain status", "err", err)
	}
	var restart []*dom
	for name, st := range statuses {
		def := st.Domain
		uuid, err := domxml.ParseUUID(def.UUID)
		if err != nil || def.Name != name {
			d.log.Warn("ignoring bad status file", "name", name, "err", err)
			continue
		}
		c, exit, err := d.rt.Attach(name)
		if err != nil {
			// The status file stays: whatever still runs can be found
			// again by a later start once the runtime answers.
			d.log.Error("cannot re-attach to domain; it is shown as shut off", "name", name, "err", err)
			exit = &exitInfo{Reason: exitFailed, Status: err.Error()}
		} else if c == nil {
			if err := d.store.RemoveStatus(name); err != nil {
				d.log.Warn("cannot remove domain status", "name", name, "err", err)
			}
		}
		if c == nil {
			ref := domain.Ref{Name: name, UUID: uuid, ID: -1}
			if exit.Reason == exitReboot && def.OnReboot == "restart" {
				// Kept as an inactive domain with the definition it ran
				// with until the persistent configs are loaded and it is
				// started again.
				m := &dom{ref: ref, state: domain.Shutoff, reason: domain.ShutoffShutdown, pending: def}
				d.mu.Lock()
				if _, err := d.conflictLocked(name, uuid); err == nil {
					d.insertLocked(m)
					restart = append(restart, m)
				}
				d.mu.Unlock()
				continue
			}
			d.log.Info("domain stopped while the daemon was down", "name", name, "status", exit.Status)
			d.stoppedMeanwhile[uuid] = stopOutcome[exit.Reason].reason
			d.bus.lifecycle(ref, domain.EventStopped, stopOutcome[exit.Reason].detail)
			continue
		}
		id := c.ControllerPID()
		def.ID = &id
		m := &dom{
			ref:    domain.Ref{Name: name, UUID: uuid, ID: int32(id)},
			state:  domain.Running,
			reason: domain.RunningUnknown,
			live:   def,
			cont:   c,
		}
		// The cgroup is the truth about a pause; the status file only
		// keeps its reason.
		if frozen, err := c.Frozen(); err != nil {
			d.log.Warn("cannot read freezer state", "name", name, "err", err)
		} else if frozen {
			m.state, m.reason = domain.Paused, domain.PausedUnknown
			if st.State == "paused" {
				m.reason = pausedReason(st.Reason)
			}
		}
		d.mu.Lock()
		if _, err := d.conflictLocked(name, uuid); err != nil {
			d.mu.Unlock()
			d.log.Warn("ignoring duplicate status file", "name", name, "err", err)
			c.Close()
			continue
		}
		d.insertLocked(m)
		d.active++
		d.mu.Unlock()
		m.op.Lock()
		d.saveStatus(m, c)
		m.op.Unlock()
		go d.watch(m, c)
	}
	return restart
}

// rebootAfterRestart starts a domain whose container rebooted while the
// daemon was down, as the daemon would have done had it been there.
func (d *Driver) rebootAfterRestart(m *dom) {
	m.op.Lock()
	defer m.op.Unlock()
	d.mu.Lock()
	def := m.conf
	if def == nil {
		def = m.pending
	}
	m.starting = true
	d.mu.Unlock()
	err := d.startLocked(m, def)
	d.mu.Lock()
	m.starting = false
	ref := m.ref
	if err != nil && m.conf == nil {
		d.removeLocked(m)
	}
	d.mu.Unlock()
	if err != nil {
		d.log.Warn("cannot restart rebooted domain", "name", ref.Name, "err", err)
		d.bus.lifecycle(ref, domain.EventStopped, domain.DetailStoppedShutdown)
		return
	}
	d.bus.emit(domain.Event{ID: domain.EventIDReboot, Dom: ref})
}

// autostartAll starts every inactive domain marked for autostart.
func (d *Driver) autostartAll() {
	d.mu.RLock()
	var todo []domain.Ref
	for _, m := range d.byUUID {
		if m.autostart && !m.active() {
			todo = append(todo, m.ref)
		}
	}
	d.mu.RUnlock()
	for _, ref := range todo {
		if _, err := d.Create(ref, 0); err != nil {
			d.log.Warn("cannot autostart domain", "name", ref.Name, "err", err)
			continue
		}
		d.log.Info("autostarted domain", "name", ref.Name)
	}
}
