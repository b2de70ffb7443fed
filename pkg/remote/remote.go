// Package remote is libvirt's REMOTE_PROGRAM (remote_protocol.x) on top of
// pkg/rpc: the dispatch table, the XDR of each call, per-connection state
// (open, read-only, event callbacks) and event delivery. It translates
// between the wire and a Driver; it holds no domain logic itself.
package remote

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/rpc"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// Program numbers registered on the main server.
const (
	ProgramNumber     = 0x20008086
	ProgramVersion    = 1
	LXCProgramNumber  = 0x00068000
	QEMUProgramNumber = 0x20008087
)

// Options are the host facts the connection procedures report.
type Options struct {
	HostUUID string
	// Emulator is the path shown as <emulator> in the capabilities (the
	// binary that runs containers).
	Emulator string
	Logger   *slog.Logger
}

// handlers holds what the procedures share.
type handlers struct {
	drv  Driver
	opts Options
	log  *slog.Logger

	nextCallback atomic.Int32

	mu    sync.Mutex
	conns map[*rpc.Client]*conn
	caps  string
}

// conn is the state of one client's connection.
type conn struct {
	mu        sync.Mutex
	open      bool
	uri       string
	callbacks map[int32]callback
}

type callback struct {
	eventID int32
	dom     *[16]byte // nil = every domain
	// legacy callbacks (virConnectDomainEventRegister[Any]) get the old
	// event messages, which carry no callback id.
	legacy bool
}

type connKey struct{}

// New builds the remote program serving drv, and subscribes to the
// driver's events to forward them to registered clients.
func New(drv Driver, opts Options) *rpc.Program {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &handlers{drv: drv, opts: opts, log: opts.Logger, conns: map[*rpc.Client]*conn{}}
	p := rpc.NewProgram(ProgramNumber, ProgramVersion, "remote", virterror.FromDomain, procedures(h))
	p.Before = h.before
	drv.Subscribe(h.deliver)
	return p
}

// NewLXCProgram is LXC_PROGRAM (lxc_protocol.x). Its one call,
// DOMAIN_OPEN_NAMESPACE, replies with the namespace descriptors of the
// domain's init; drivers without NamespaceOpener answer "not supported".
func NewLXCProgram(drv Driver) *rpc.Program {
	var handler rpc.Handler
	if ns, ok := drv.(NamespaceOpener); ok {
		handler = func(c *rpc.Call) error {
			d, flags, err := domFlags(c)
			if err != nil {
				return err
			}
			files, err := ns.OpenNamespaces(d, flags)
			if err != nil {
				return err
			}
			if len(files) > rpc.MaxReplyFiles {
				for _, f := range files {
					f.Close()
				}
				return virterror.New(virterror.InternalError, virterror.FromRPC, "too many file descriptors (%d)", len(files))
			}
			c.ReplyFiles(files...)
			return nil
		}
	}
	return rpc.NewProgram(LXCProgramNumber, 1, "lxc", virterror.FromDomain, []rpc.Procedure{
		// ACL domain:open_namespace: not for read-only connections.
		{Num: 1, Name: "DOMAIN_OPEN_NAMESPACE", API: "virDomainLxcOpenNamespace", Write: true, Handler: handler},
	})
}

// NewQEMUProgram is QEMU_PROGRAM, registered on every libvirt daemon; none
// of its calls apply to containers.
func NewQEMUProgram() *rpc.Program {
	return rpc.NewProgram(QEMUProgramNumber, 1, "qemu", virterror.FromDomain, []rpc.Procedure{
		{Num: 1, Name: "DOMAIN_MONITOR_COMMAND", API: "virDomainQemuMonitorCommand", Write: true},
		{Num: 2, Name: "DOMAIN_ATTACH", API: "virDomainQemuAttach", Write: true},
		{Num: 3, Name: "DOMAIN_AGENT_COMMAND", API: "virDomainQemuAgentCommand", Write: true},
		{Num: 4, Name: "CONNECT_DOMAIN_MONITOR_EVENT_REGISTER", API: "virConnectDomainQemuMonitorEventRegister"},
		{Num: 5, Name: "CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER", API: "virConnectDomainQemuMonitorEventDeregister"},
		{Num: 7, Name: "DOMAIN_MONITOR_COMMAND_WITH_FILES", API: "virDomainQemuMonitorCommandWithFiles", Write: true},
	})
}

func (h *handlers) state(c *rpc.Client) *conn {
	h.mu.Lock()
	if v, ok := c.Value(connKey{}).(*conn); ok {
		h.mu.Unlock()
		return v
	}
	st := &conn{callbacks: map[int32]callback{}}
	c.SetValue(connKey{}, st)
	h.conns[c] = st
	h.mu.Unlock()
	c.OnClose(func() {
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
	})
	return st
}

// Procedures allowed before CONNECT_OPEN: the open itself, close, the
// feature probe virsh sends first, and the authentication calls.
var beforeOpen = map[int32]bool{1: true, 2: true, 60: true, 66: true, 67: true, 68: true, 69: true, 70: true}

// Procedures allowed before authentication.
var beforeAuth = map[int32]bool{66: true, 67: true, 68: true, 69: true, 70: true}

func (h *handlers) before(c *rpc.Call, p *rpc.Procedure) error {
	if !c.Client.Authenticated() && !beforeAuth[p.Num] {
		return virterror.New(virterror.RPC, virterror.FromRPC, "authentication required")
	}
	if beforeOpen[p.Num] {
		return nil
	}
	st := h.state(c.Client)
	st.mu.Lock()
	open := st.open
	st.mu.Unlock()
	if !open {
		return virterror.New(virterror.InternalError, virterror.FromRPC, "connection not open")
	}
	return nil
}

// deliver forwards a driver event to every client that registered for it.
func (h *handlers) deliver(ev domain.Event) {
	h.mu.Lock()
	type target struct {
		c      *rpc.Client
		id     int32
		legacy bool
	}
	var targets []target
	for c, st := range h.conns {
		st.mu.Lock()
		for id, cb := range st.callbacks {
			if cb.eventID == ev.ID && (cb.dom == nil || *cb.dom == ev.Dom.UUID) {
				targets = append(targets, target{c, id, cb.legacy})
			}
		}
		st.mu.Unlock()
	}
	h.mu.Unlock()
	for _, t := range targets {
		proc, payload := encodeEvent(t.id, ev)
		if t.legacy {
			proc, payload = encodeLegacyEvent(ev)
		}
		if proc != 0 {
			t.c.SendMessage(ProgramNumber, ProgramVersion, proc, payload)
		}
	}
}
