package rpc

import (
	"fmt"
	"os"
	"sort"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
	"github.com/virtlxcd/virtlxcd/pkg/xdr"
)

// Handler serves one call: it decodes c.Args and encodes its result into
// c.Ret. A returned error becomes a libvirt error reply.
type Handler func(c *Call) error

// Procedure is one row of a program's dispatch table.
type Procedure struct {
	Num  int32
	Name string // the .x name without prefix, e.g. "DOMAIN_DEFINE_XML"
	// API is the public libvirt function behind the call; it names the
	// call in "read only access prevents ..." and "not supported" errors.
	API string
	// Write marks calls a read-only connection may not make.
	Write bool
	// Domain is the error domain of the API ("not supported" errors
	// carry it); zero means the program's default.
	Domain virterror.Domain
	// Priority calls (destroy, close) may run on the priority workers
	// when every ordinary worker is busy, as in libvirt.
	Priority bool
	// Handler is nil for procedures libvirt knows but this daemon does
	// not implement: they answer VIR_ERR_NO_SUPPORT, which clients such
	// as virsh expect, rather than "unknown procedure".
	Handler Handler
}

// Program is a numbered RPC program with its dispatch table.
type Program struct {
	Number  uint32
	Version uint32
	Name    string
	// Domain is the default error domain for the program's errors.
	Domain virterror.Domain
	// Before runs ahead of every handler (after the read-only check); a
	// program uses it for rules such as "connection not open".
	Before func(c *Call, p *Procedure) error
	procs  map[int32]*Procedure
}

// NewProgram builds a program from its table. Duplicate numbers are a
// programming error.
func NewProgram(number, version uint32, name string, dom virterror.Domain, table []Procedure) *Program {
	p := &Program{Number: number, Version: version, Name: name, Domain: dom, procs: make(map[int32]*Procedure, len(table))}
	for i := range table {
		proc := &table[i]
		if _, dup := p.procs[proc.Num]; dup {
			panic(fmt.Sprintf("rpc: program %s: duplicate procedure %d", name, proc.Num))
		}
		p.procs[proc.Num] = proc
	}
	return p
}

// Procedure returns the table row for num.
func (p *Program) Procedure(num int32) (*Procedure, bool) {
	proc, ok := p.procs[num]
	return proc, ok
}

// Procedures lists the table in number order.
func (p *Program) Procedures() []*Procedure {
	out := make([]*Procedure, 0, len(p.procs))
	for _, proc := range p.procs {
		out = append(out, proc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Num < out[j].Num })
	return out
}

// Call is one call being served.
type Call struct {
	Client *Client
	Header Header
	Proc   *Procedure
	Args   *xdr.Decoder
	Ret    *xdr.Encoder
	// afterReply runs once the reply is queued; streams start pumping
	// data from it so that no data packet overtakes the reply.
	afterReply []func()
	replyFiles []*os.File
}

// MaxReplyFiles is VIR_NET_MESSAGE_NUM_FDS_MAX.
const MaxReplyFiles = 32

// ReplyFiles sends files with the reply (REPLY_WITH_FDS, as SCM_RIGHTS);
// they are closed once sent. A failing call sends none.
func (c *Call) ReplyFiles(files ...*os.File) { c.replyFiles = append(c.replyFiles, files...) }

// AfterReply schedules fn to run right after the reply has been queued.
func (c *Call) AfterReply(fn func()) { c.afterReply = append(c.afterReply, fn) }

// Fail reports bad arguments the way libvirt does when XDR decoding fails.
func (c *Call) argsError() error {
	return virterror.Raw(virterror.RPC, virterror.FromRPC, "Unable to decode message payload")
}

// Decoded checks that the arguments decoded cleanly.
func (c *Call) Decoded() error {
	if c.Args.Err() != nil {
		return c.argsError()
	}
	return nil
}

func (p *Program) dispatch(c *Call) error {
	proc := c.Proc
	if proc.Write && c.Client.ReadOnly() {
		return virterror.ReadOnly(proc.API)
	}
	if p.Before != nil {
		if err := p.Before(c, proc); err != nil {
			return err
		}
	}
	if proc.Handler == nil {
		dom := proc.Domain
		if dom == 0 {
			dom = p.Domain
		}
		return virterror.Unsupported(proc.API, dom)
	}
	return proc.Handler(c)
}
