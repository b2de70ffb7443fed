package lxc

import (
	"errors"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/domstore"
	"github.com/virtlxcd/virtlxcd/pkg/domxml"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// startValidate is VIR_DOMAIN_START_VALIDATE: check the document against
// the schema.
const startValidate = 1 << 4

// stopOutcome maps how a container ended to the shut-off reason and the
// STOPPED event detail libvirt reports for it.
var stopOutcome = map[exitReason]struct {
	reason int32
	detail int32
}{
	exitShutdown:  {domain.ShutoffShutdown, domain.DetailStoppedShutdown},
	exitReboot:    {domain.ShutoffShutdown, domain.DetailStoppedShutdown},
	exitCrashed:   {domain.ShutoffCrashed, domain.DetailStoppedCrashed},
	exitDestroyed: {domain.ShutoffDestroyed, domain.DetailStoppedDestroyed},
	exitFailed:    {domain.ShutoffFailed, domain.DetailStoppedFailed},
}

// Create starts a defined domain.
func (d *Driver) Create(ref domain.Ref, flags uint32) (domain.Ref, error) {
	if err := checkFlags(flags, 0, "lxcDomainCreateWithFiles"); err != nil {
		return ref, err
	}
	m, err := d.lockOp(ref)
	if err != nil {
		return ref, err
	}
	defer m.op.Unlock()
	d.mu.Lock()
	if m.active() || m.starting {
		// starting: a CreateXML of this domain is about to take op.
		d.mu.Unlock()
		return ref, virterror.New(virterror.OperationInvalid, virterror.FromDomain, "Domain is already running")
	}
	def := m.conf
	if def == nil {
		d.mu.Unlock()
		return ref, noDomain(ref)
	}
	m.starting = true
	d.mu.Unlock()
	err = d.startLocked(m, def)
	d.mu.Lock()
	m.starting = false
	if err != nil && !m.active() {
		m.reason = domain.ShutoffFailed
	}
	out := m.ref
	d.mu.Unlock()
	if err != nil {
		return ref, err
	}
	d.bus.lifecycle(out, domain.EventStarted, domain.DetailStartedBooted)
	return out, nil
}

// CreateXML starts a domain from a document without defining it. If a
// persistent domain of that name and uuid exists and is inactive, it runs
// with the given definition while its persistent one stays as it was.
func (d *Driver) CreateXML(text string, flags uint32) (domain.Ref, error) {
	if err := checkFlags(flags, startValidate, "lxcDomainCreateXMLWithFiles"); err != nil {
		return domain.Ref{}, err
	}
	def, uuid, err := d.parseDef(text, flags&startValidate != 0)
	if err != nil {
		return domain.Ref{}, err
	}
	d.lockFiles()
	d.mu.Lock()
	m, err := d.conflictLocked(def.Name, uuid)
	if err == nil && m != nil && (m.active() || m.starting) {
		err = virterror.New(virterror.OperationInvalid, virterror.FromDomain, "domain '%s' is already active", def.Name)
	}
	if err == nil {
		if m == nil {
			m = &dom{ref: domain.Ref{Name: def.Name, UUID: uuid, ID: -1}, state: domain.Shutoff, reason: domain.ShutoffUnknown, pending: def}
			d.insertLocked(m)
		}
		m.starting = true
	}
	d.mu.Unlock()
	d.files.Unlock()
	if err != nil {
		return domain.Ref{}, err
	}

	m.op.Lock()
	defer m.op.Unlock()
	err = d.startLocked(m, def)
	d.mu.Lock()
	m.starting = false
	if err != nil && !m.active() && m.conf == nil {
		d.removeLocked(m)
	}
	out := m.ref
	d.mu.Unlock()
	if err != nil {
		return domain.Ref{}, err
	}
	d.bus.lifecycle(out, domain.EventStarted, domain.DetailStartedBooted)
	return out, nil
}

// startLocked runs def for m. m.op must be held.
func (d *Driver) startLocked(m *dom, def *libvirtxml.Domain) error {
	live, err := domxml.Clone(def)
	if err != nil {
		return virterror.From(err, virterror.FromLXC)
	}
	spec, err := domxml.ToSpec(live, d.networkBridge)
	if err != nil {
		return err
	}
	c, err := d.rt.Start(spec)
	if err != nil {
		var ve *virterror.Error
		if errors.As(err, &ve) {
			return ve
		}
		return virterror.New(virterror.InternalError, virterror.FromLXC, "guest failed to start: %s", err)
	}
	bridges := make([]string, len(spec.Interfaces))
	for i, n := range spec.Interfaces {
		bridges[i] = n.Bridge
	}
	domxml.SetLive(live, domxml.Live{ID: c.ControllerPID(), ConsolePaths: c.ConsolePaths(), HostInterfaces: c.HostInterfaces(), Bridges: bridges})
	d.mu.Lock()
	m.live = live
	m.pending = nil
	m.cont = c
	m.ref.ID = int32(c.ControllerPID())
	d.byID[m.ref.ID] = m
	m.state, m.reason = domain.Running, domain.RunningBooted
	d.active++
	d.mu.Unlock()
	d.saveStatus(m, c)
	go d.watch(m, c)
	return nil
}

// saveStatus writes the status file of a running domain; m.op is held.
func (d *Driver) saveStatus(m *dom, c container) {
	d.mu.RLock()
	state, reason := statusWords(m.state, m.reason)
	st := domstore.NewStatus(state, reason, c.ControllerPID(), c.InitPID(), m.live)
	err := d.store.SaveStatus(m.ref.Name, st)
	d.mu.RUnlock()
	if err != nil {
		d.log.Warn("cannot save domain status", "name", m.ref.Name, "err", err)
	}
}

// watch waits for a container to end and records it.
func (d *Driver) watch(m *dom, c container) {
	<-c.Done()
	m.op.Lock()
	defer m.op.Unlock()
	d.stoppedLocked(m, c, c.Exit())
}

// stoppedLocked turns m into a shut-off domain after its container c
// ended, emits the event, and restarts it when it rebooted and its
// definition says on_reboot restart. m.op must be held. Nothing happens if
// c is no longer m's container (already handled) or the driver is closed
// (the daemon is going away; the next one re-attaches).
func (d *Driver) stoppedLocked(m *dom, c container, exit exitInfo) {
	d.mu.Lock()
	if m.cont != c || d.closed {
		d.mu.Unlock()
		return
	}
	old := m.live
	if d.byID[m.ref.ID] == m {
		delete(d.byID, m.ref.ID)
	}
	m.cont, m.live, m.ref.ID = nil, nil, -1
	d.active--
	out := stopOutcome[exit.Reason]
	m.state, m.reason = domain.Shutoff, out.reason
	restart := exit.Reason == exitReboot && old.OnReboot == "restart"
	if m.conf == nil && !restart {
		d.removeLocked(m)
	}
	// While it restarts, an undefine must leave it in the maps.
	m.starting = restart
	ref := m.ref
	def := m.conf
	if def == nil {
		def = old
		if restart {
			m.pending = old
		}
	}
	d.mu.Unlock()
	if err := d.store.RemoveStatus(ref.Name); err != nil {
		d.log.Warn("cannot remove domain status", "name", ref.Name, "err", err)
	}
	c.Close()
	if restart {
		err := d.startLocked(m, def)
		d.mu.Lock()
		m.starting = false
		ref = m.ref
		if err != nil {
			m.reason = domain.ShutoffFailed
			if m.conf == nil {
				d.removeLocked(m)
			}
		}
		d.mu.Unlock()
		if err == nil {
			d.bus.emit(domain.Event{ID: domain.EventIDReboot, Dom: ref})
			return
		}
		// libvirt reports the stop that preceded the failed restart.
		d.log.Warn("cannot restart rebooted domain", "name", ref.Name, "err", err)
	}
	d.bus.lifecycle(ref, domain.EventStopped, out.detail)
}

// runningContainer returns m's container or "domain is not running".
// lockRunning takes the domain's operation lock and returns it with its
// running container; unlock releases the lock. Not running is libvirt's
// "domain is not running".
func (d *Driver) lockRunning(ref domain.Ref) (m *dom, c container, unlock func(), err error) {
	m, err = d.lockOp(ref)
	if err != nil {
		return nil, nil, nil, err
	}
	if c, err = d.runningContainer(m); err != nil {
		m.op.Unlock()
		return nil, nil, nil, err
	}
	return m, c, m.op.Unlock, nil
}

func (d *Driver) runningContainer(m *dom) (container, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if m.cont == nil {
		return nil, notRunning()
	}
	return m.cont, nil
}

// destroyWait bounds how long Destroy waits for a controller that
// acknowledged the kill to go away.
const destroyWait = 15 * time.Second

// Destroy stops a domain at once: everything in its cgroup is killed.
// With DestroyGraceful the processes only get SIGTERM and the domain stops
// when they are gone.
func (d *Driver) Destroy(ref domain.Ref, flags uint32) error {
	if err := checkFlags(flags, domain.DestroyGraceful, "lxcDomainDestroyFlags"); err != nil {
		return err
	}
	m, c, unlock, err := d.lockRunning(ref)
	if err != nil {
		return err
	}
	defer unlock()
	if flags&domain.DestroyGraceful != 0 {
		if err := c.Destroy(true); err != nil {
			return virterror.New(virterror.OperationFailed, virterror.FromLXC, "failed to kill domain: %v", err)
		}
		return nil
	}
	if err := c.Destroy(false); err != nil {
		return virterror.New(virterror.OperationFailed, virterror.FromLXC, "failed to kill domain: %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(destroyWait):
		return virterror.New(virterror.OperationFailed, virterror.FromLXC,
			"failed to kill domain: controller %d did not exit", c.ControllerPID())
	}
	d.stoppedLocked(m, c, exitInfo{Reason: exitDestroyed, Status: c.Exit().Status})
	return nil
}

// initMethods turns shutdown/reboot flags into the methods allowed: both
// when no flag is given, as libvirt does.
func initMethods(flags uint32) (initctl, signal bool) {
	if flags == 0 {
		return true, true
	}
	return flags&domain.ShutdownInitctl != 0, flags&domain.ShutdownSignal != 0
}

// Shutdown asks the container to power off (initctl runlevel 0, else
// SIGTERM to its init) and returns without waiting.
func (d *Driver) Shutdown(ref domain.Ref, flags uint32) error {
	if err := checkFlags(flags, domain.ShutdownInitctl|domain.ShutdownSignal, "lxcDomainShutdownFlags"); err != nil {
		return err
	}
	_, c, unlock, err := d.lockRunning(ref)
	if err != nil {
		return err
	}
	defer unlock()
	initctl, signal := initMethods(flags)
	return powerError(c.Shutdown(initctl, signal), initctl, signal)
}

// powerError words a failed shutdown or reboot request: when only initctl
// was allowed, libvirt reports that the container lacks it.
func powerError(err error, initctl, signal bool) error {
	if err == nil {
		return nil
	}
	if initctl && !signal {
		return virterror.New(virterror.OperationUnsupported, virterror.FromLXC, "Container does not provide an initctl pipe")
	}
	return virterror.From(err, virterror.FromLXC)
}

// Reboot asks the container to reboot (initctl runlevel 6, else SIGHUP to
// its init) and returns without waiting.
func (d *Driver) Reboot(ref domain.Ref, flags uint32) error {
	if err := checkFlags(flags, domain.ShutdownInitctl|domain.ShutdownSignal, "lxcDomainReboot"); err != nil {
		return err
	}
	_, c, unlock, err := d.lockRunning(ref)
	if err != nil {
		return err
	}
	defer unlock()
	initctl, signal := initMethods(flags)
	return powerError(c.Reboot(initctl, signal), initctl, signal)
}

// SetMemoryFlags changes current memory (live: the cgroup limit) or, with
// MemMaximum, the maximum memory of the persistent definition.
func (d *Driver) SetMemoryFlags(ref domain.Ref, kib uint64, flags uint32) error {
	if err := checkFlags(flags, domain.AffectLive|domain.AffectConfig|domain.MemMaximum, "lxcDomainSetMemoryFlags"); err != nil {
		return err
	}
	m, err := d.lockOp(ref)
	if err != nil {
		return err
	}
	defer m.op.Unlock()
	d.mu.RLock()
	live, conf, err := pickDef(m, flags&^domain.MemMaximum)
	c := m.cont
	var oldmax uint64
	if live {
		oldmax = domxml.MemoryKiB(m.live)
	}
	if conf && (oldmax == 0 || oldmax > domxml.MemoryKiB(m.conf)) {
		oldmax = domxml.MemoryKiB(m.conf)
	}
	d.mu.RUnlock()
	if err != nil {
		return err
	}
	if flags&domain.MemMaximum != 0 {
		if live {
			return virterror.New(virterror.OperationInvalid, virterror.FromDomain, "Cannot resize the max memory on an active domain")
		}
		return d.updateConf(m, func(def *libvirtxml.Domain) {
			def.Memory.Value = uint(kib)
			if domxml.CurrentMemoryKiB(def) > kib {
				def.CurrentMemory = &libvirtxml.DomainCurrentMemory{Value: uint(kib), Unit: "KiB"}
			}
		})
	}
	if kib > oldmax {
		return virterror.New(virterror.InvalidArg, virterror.FromLXC, "Cannot set memory higher than max memory")
	}
	if live {
		if err := c.SetMemoryLimit(kib); err != nil {
			return virterror.New(virterror.OperationFailed, virterror.FromLXC, "Failed to set memory for domain")
		}
		d.mu.Lock()
		m.live.CurrentMemory = &libvirtxml.DomainCurrentMemory{Value: uint(kib), Unit: "KiB"}
		d.mu.Unlock()
		d.saveStatus(m, c)
	}
	if conf {
		return d.updateConf(m, func(def *libvirtxml.Domain) {
			def.CurrentMemory = &libvirtxml.DomainCurrentMemory{Value: uint(kib), Unit: "KiB"}
		})
	}
	return nil
}

// updateConf changes the persistent definition and saves it; the file is
// written first so that a failed write changes nothing.
func (d *Driver) updateConf(m *dom, change func(*libvirtxml.Domain)) error {
	d.lockFiles()
	defer d.files.Unlock()
	d.mu.RLock()
	conf := m.conf
	d.mu.RUnlock()
	if conf == nil {
		return virterror.New(virterror.OperationInvalid, virterror.FromDomain, "transient domains do not have any persistent config")
	}
	next, err := domxml.Clone(conf)
	if err != nil {
		return virterror.From(err, virterror.FromLXC)
	}
	change(next)
	text, err := d.marshalConfig(next)
	if err != nil {
		return err
	}
	if err := d.store.SaveConfig(m.ref.Name, text); err != nil {
		return virterror.From(err, virterror.FromLXC)
	}
	d.mu.Lock()
	m.conf = next
	d.mu.Unlock()
	return nil
}

// OpenConsole opens the host side of a console pty. The controller
// relays it to the container's /dev/console and keeps it open, so the
// daemon needs no state of its own and closing detaches cleanly.
func (d *Driver) OpenConsole(ref domain.Ref, devName string, flags uint32) (io.ReadWriteCloser, error) {
	if err := checkFlags(flags, 0, "lxcDomainOpenConsole"); err != nil {
		return nil, err
	}
	var path string
	err := d.view(ref, func(m *dom) error {
		if m.live == nil {
			return notRunning()
		}
		var con *libvirtxml.DomainConsole
		for i := range m.live.Devices.Consoles {
			c := &m.live.Devices.Consoles[i]
			if devName == "" || (c.Alias != nil && c.Alias.Name == devName) {
				con = c
				break
			}
		}
		if con == nil {
			if devName == "" {
				devName = "console0"
			}
			return virterror.New(virterror.InternalError, virterror.FromLXC, "cannot find console device '%s'", devName)
		}
		if con.Source == nil || con.Source.Pty == nil || con.Source.Pty.Path == "" {
			return virterror.New(virterror.InternalError, virterror.FromLXC, "character device %s is not using a PTY", devName)
		}
		path = con.Source.Pty.Path
		return nil
	})
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, virterror.New(virterror.SystemError, virterror.FromNone, "Unable to open '%s': %v", path, err)
	}
	// Non-blocking before NewFile so that the runtime poller owns the fd:
	// reads then honour Close and deadlines instead of pinning a thread.
	return os.NewFile(uintptr(fd), path), nil
}
