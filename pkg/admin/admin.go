// Package admin is libvirt's ADMIN_PROGRAM (admin_protocol.x) on top of
// pkg/rpc: the calls virt-admin makes to inspect and tune a running daemon
// (its servers, their clients, worker pools and limits, logging and the
// idle timeout). It is served only on the admin socket.
package admin

import (
	"log/slog"
	"os"

	"github.com/virtlxcd/virtlxcd/pkg/rpc"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// Program number and version from admin_protocol.x.
const (
	ProgramNumber  = 0x06900690
	ProgramVersion = 1
)

// Logging is the part of the daemon's log manager the admin calls change
// at run time; filters and outputs use libvirt's LEVEL:MATCH and
// LEVEL:DEST syntax, and an empty string restores the default.
type Logging interface {
	Filters() string
	NumFilters() int
	SetFilters(spec string) error
	Outputs() string
	NumOutputs() int
	SetOutputs(spec string) error
}

// Options connect the program to the running daemon.
type Options struct {
	// Servers in the order srv-list shows them: the main server (named
	// after the daemon) first, then "admin", as libvirt's daemons do.
	Servers []*rpc.Server
	Logging Logging
	// SetTimeout changes the daemon's idle shutdown timeout in seconds
	// (0 = never).
	SetTimeout func(secs int64)
	Logger     *slog.Logger
}

type handlers struct {
	opts Options
	log  *slog.Logger
	// euid is the daemon's effective uid: like libvirt, only clients of
	// the same user may administer the daemon, whatever the socket's
	// permissions allow.
	euid uint32
}

// New builds the admin program.
func New(opts Options) *rpc.Program {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &handlers{opts: opts, log: opts.Logger, euid: uint32(os.Geteuid())}
	p := rpc.NewProgram(ProgramNumber, ProgramVersion, "admin", virterror.FromAdmin, procedures(h))
	p.Before = h.before
	return p
}

func (h *handlers) before(c *rpc.Call, _ *rpc.Procedure) error {
	if cred := c.Client.Cred; cred.UID != h.euid {
		return virterror.New(virterror.OperationDenied, virterror.FromAdmin,
			"Disallowing client %d with uid %d", cred.PID, cred.UID)
	}
	return nil
}

// checkFlags refuses flags outside supported the way libvirt's
// virCheckFlags does, naming the daemon function that checked them.
func checkFlags(flags, supported uint32, fn string) error {
	if extra := flags &^ supported; extra != 0 {
		return virterror.BadFlags(virterror.FromAdmin, extra, fn)
	}
	return nil
}

// server finds a server by name with the error libvirt's daemon lookup
// reports.
func (h *handlers) server(name string) (*rpc.Server, error) {
	for _, s := range h.opts.Servers {
		if s.Name == name {
			return s, nil
		}
	}
	return nil, virterror.New(virterror.NoServer, virterror.FromRPC, "No server named '%s'", name)
}

// serverForUpdate is the lookup of the setters and CLIENT_GET_INFO, whose
// libvirt dispatchers replace the lookup error with their own wording.
func (h *handlers) serverForUpdate(name string) (*rpc.Server, error) {
	s, err := h.server(name)
	if err != nil {
		return nil, virterror.New(virterror.NoServer, virterror.FromAdmin, "no server with matching name '%s' found", name)
	}
	return s, nil
}

func client(s *rpc.Server, id uint64) (*rpc.Client, error) {
	c, ok := s.Client(id)
	if !ok {
		return nil, virterror.New(virterror.NoClient, virterror.FromRPC, "No client with matching ID '%d'", id)
	}
	return c, nil
}

func clientRef(c *rpc.Client) ClientRef {
	return ClientRef{
		Server:    c.Server().Name,
		ID:        c.ID,
		Timestamp: c.Connected.Unix(),
		Transport: uint32(c.Transport),
	}
}

// logError turns a log manager's refusal into libvirt's error: its log
// parser reports INVALID_ARG without an error domain.
func logError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*virterror.Error); ok {
		return err
	}
	return virterror.New(virterror.InvalidArg, virterror.FromNone, "%s", err.Error())
}
