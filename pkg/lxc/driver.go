// Package lxc is virtlxcd's LXC driver: it keeps the domains (persistent
// definitions, transient ones, running state), answers every domain call
// of the remote program with libvirt's semantics and errors, and drives the
// container runtime in pkg/controller to start and stop them.
package lxc

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"

	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/domstore"
	"github.com/virtlxcd/virtlxcd/pkg/domxml"
	"github.com/virtlxcd/virtlxcd/pkg/paths"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// Config is what the daemon hands the driver.
type Config struct {
	Paths  paths.Paths // LXCConfigDir, LXCAutostartDir, LXCStateDir, LXCLogDir are used
	Exe    string      // binary re-executed as the per-domain controller
	Logger *slog.Logger
}

// Driver holds every domain. Read paths (lookups, lists, state) only take
// the read lock and touch in-memory maps; lifecycle operations serialise
// per domain on dom.op and take the write lock only to publish results.
type Driver struct {
	cfg   Config
	log   *slog.Logger
	store domstore.Store
	rt    runtime
	bus   *bus

	// files serialises the writers of persistent definitions and
	// autostart links (and the insertion of new domains), so that they
	// can do disk work without holding mu. Order: dom.op, files, mu.
	// Defines of different domains write (and fsync) their files in
	// parallel: each reserves its name and uuid in defining while it
	// writes without files; everybody else waits for them on filesCond.
	files        sync.Mutex
	filesCond    *sync.Cond
	defining     map[string]bool
	definingUUID map[[16]byte]bool

	mu     sync.RWMutex
	byName map[string]*dom
	byUUID map[[16]byte]*dom
	byID   map[int32]*dom
	active int
	closed bool

	// stoppedMeanwhile holds the shut-off reason of guests found stopped
	// at start-up, until their persistent definitions are loaded.
	stoppedMeanwhile map[[16]byte]int32
}

// dom is one domain. Fields other than op are guarded by Driver.mu.
type dom struct {
	op sync.Mutex // held for the whole of a lifecycle operation

	ref       domain.Ref
	state     domain.State
	reason    int32
	conf      *libvirtxml.Domain // persistent definition; nil for a transient domain
	live      *libvirtxml.Domain // definition it runs with; nil while inactive
	autostart bool
	starting  bool
	removed   bool // dropped from the maps; a pending operation must not revive it
	cont      container
	// pending is the definition a transient domain is being started
	// with (by CreateXML, or again after a reboot) while it has neither
	// a persistent nor a live one.
	pending *libvirtxml.Domain
}

func (m *dom) active() bool { return m.live != nil }

// cur is the definition callers see: the live one while running.
func (m *dom) cur() *libvirtxml.Domain {
	switch {
	case m.live != nil:
		return m.live
	case m.conf != nil:
		return m.conf
	}
	return m.pending
}

// New loads the driver's state: it re-attaches to containers that kept
// running while the daemon was away, records those that stopped meanwhile,
// loads the persistent definitions and runs autostart once per host boot.
func New(cfg Config) (*Driver, error) {
	if cfg.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("lxc driver: controller binary: %w", err)
		}
		cfg.Exe = exe
	}
	return newDriver(cfg, newControllerRuntime(cfg))
}

func newDriver(cfg Config, rt runtime) (*Driver, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Driver{
		cfg: cfg,
		log: log,
		store: domstore.Store{
			ConfigDir:    cfg.Paths.LXCConfigDir,
			AutostartDir: cfg.Paths.LXCAutostartDir,
			StateDir:     cfg.Paths.LXCStateDir,
		},
		rt:     rt,
		bus:    newBus(),
		byName: map[string]*dom{},
		byUUID: map[[16]byte]*dom{},
		byID:   map[int32]*dom{},

		stoppedMeanwhile: map[[16]byte]int32{},

		defining:     map[string]bool{},
		definingUUID: map[[16]byte]bool{},
	}
	d.filesCond = sync.NewCond(&d.files)
	for _, dir := range []string{cfg.Paths.LXCConfigDir, cfg.Paths.LXCStateDir, cfg.Paths.LXCLogDir} {
		if dir == "" {
			continue
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			d.bus.close()
			return nil, fmt.Errorf("lxc driver: %w", err)
		}
	}
	restart := d.reattach()
	d.loadConfigs(false)
	d.stoppedMeanwhile = nil
	for _, m := range restart {
		d.rebootAfterRestart(m)
	}
	if first, err := d.store.MarkAutostarted(); err != nil {
		d.log.Warn("autostart skipped", "err", err)
	} else if first {
		d.autostartAll()
	}
	return d, nil
}

// Type is the hypervisor name.
func (d *Driver) Type() string { return "LXC" }

// Open checks a connection URI. The driver serves lxc:///system (also
// spelled lxc:/// or lxc://), and the empty URI means the default.
func (d *Driver) Open(uri string) error {
	if uri == "" {
		return nil
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "lxc" {
		return virterror.New(virterror.NoConnect, virterror.FromNone, "%s", uri)
	}
	switch u.Path {
	case "", "/", "/system":
		return nil
	}
	return virterror.New(virterror.InternalError, virterror.FromLXC,
		"Unexpected LXC URI path '%s', try lxc:///system", u.Path)
}

// Subscribe registers fn for every domain event.
func (d *Driver) Subscribe(fn func(domain.Event)) func() { return d.bus.subscribe(fn) }

// ActiveCount is the number of running domains.
func (d *Driver) ActiveCount() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.active
}

// Close releases the driver's handles on running containers; they keep
// running and the next daemon re-attaches to them.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	var conts []container
	for _, m := range d.byUUID {
		if m.cont != nil {
			conts = append(conts, m.cont)
		}
	}
	d.mu.Unlock()
	var errs []error
	for _, c := range conts {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	d.bus.close()
	return errors.Join(errs...)
}

// noDomain is the error for a reference that matches nothing, worded like
// libvirt's lxcDomObjFromDomain.
// lockFiles takes files once no define is writing a file, for writers
// that may touch any domain.
func (d *Driver) lockFiles() {
	d.files.Lock()
	for len(d.defining) > 0 {
		d.filesCond.Wait()
	}
}

func noDomain(ref domain.Ref) error {
	return virterror.New(virterror.NoDomain, virterror.FromLXC,
		"no domain with matching uuid '%s' (%s)", domxml.FormatUUID(ref.UUID), ref.Name)
}

func notRunning() error {
	return virterror.New(virterror.OperationInvalid, virterror.FromDomain, "domain is not running")
}

func badFlags(flags uint32, fn string) error {
	return virterror.BadFlags(virterror.FromLXC, flags, fn)
}

// checkFlags rejects bits outside allowed, as virCheckFlags does.
func checkFlags(flags, allowed uint32, fn string) error {
	if extra := flags &^ allowed; extra != 0 {
		return badFlags(extra, fn)
	}
	return nil
}

// get finds the domain a reference names (by uuid, as libvirt does).
func (d *Driver) get(ref domain.Ref) (*dom, error) {
	d.mu.RLock()
	m := d.byUUID[ref.UUID]
	d.mu.RUnlock()
	if m == nil {
		return nil, noDomain(ref)
	}
	return m, nil
}

// lockOp takes the domain's operation lock and checks that the domain
// still exists afterwards.
func (d *Driver) lockOp(ref domain.Ref) (*dom, error) {
	m, err := d.get(ref)
	if err != nil {
		return nil, err
	}
	m.op.Lock()
	d.mu.RLock()
	gone := m.removed
	d.mu.RUnlock()
	if gone {
		m.op.Unlock()
		return nil, noDomain(ref)
	}
	return m, nil
}

// insertLocked adds m to the maps; d.mu must be held for writing.
func (d *Driver) insertLocked(m *dom) {
	d.byName[m.ref.Name] = m
	d.byUUID[m.ref.UUID] = m
	if m.ref.ID > 0 {
		d.byID[m.ref.ID] = m
	}
}

// removeLocked drops m from the maps; d.mu must be held for writing.
func (d *Driver) removeLocked(m *dom) {
	if d.byName[m.ref.Name] == m {
		delete(d.byName, m.ref.Name)
	}
	if d.byUUID[m.ref.UUID] == m {
		delete(d.byUUID, m.ref.UUID)
	}
	if m.ref.ID > 0 && d.byID[m.ref.ID] == m {
		delete(d.byID, m.ref.ID)
	}
	m.removed = true
}
