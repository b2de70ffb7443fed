package rpc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
	"github.com/virtlxcd/virtlxcd/pkg/xdr"
)

// Cred is the peer's identity from SO_PEERCRED.
type Cred struct {
	PID int32
	UID uint32
	GID uint32
}

// Transports as admin_nonnull_client reports them.
const (
	TransportUnix = 0
	TransportTCP  = 1
	TransportTLS  = 2
)

// outQueue bounds the packets waiting for one client. A client that lets
// it fill with events is too slow to keep and is dropped.
const outQueue = 128

// Client is one connection to a server.
type Client struct {
	ID        uint64
	Cred      Cred
	Connected time.Time
	Transport int

	server   *Server
	conn     net.Conn
	log      *slog.Logger
	readonly atomic.Bool
	// auth is the socket's scheme; authenticated is false until the
	// client has passed it.
	auth          int
	authenticated atomic.Bool
	out           chan outPacket
	// wmu serialises writes to the socket. pending counts packets handed
	// to the writer and not yet flushed; while it is zero a reply may be
	// written directly, saving two goroutine hand-offs per call.
	wmu      sync.Mutex
	pending  atomic.Int64
	done     chan struct{}
	closing  sync.Once
	inflight chan struct{}
	lastRx   atomic.Int64
	kaOn     atomic.Bool

	mu      sync.Mutex
	values  map[any]any
	onClose []func()
	streams map[streamKey]*Stream
}

// outPacket is one packet for the writer. files travel with it as
// SCM_RIGHTS (REPLY_WITH_FDS); closeAfter asks the writer to close the
// connection once everything queued before it has been written (libvirt's
// delayed close after CONNECT_CLOSE).
type outPacket struct {
	data       []byte
	files      []*os.File
	closeAfter bool
}

func newClient(s *Server, conn net.Conn, id uint64, readonly bool, maxRequests int) *Client {
	c := &Client{
		ID:        id,
		Connected: time.Now(),
		Transport: TransportUnix,
		server:    s,
		conn:      conn,
		out:       make(chan outPacket, outQueue),
		done:      make(chan struct{}),
		inflight:  make(chan struct{}, max(1, maxRequests)),
		values:    map[any]any{},
		streams:   map[streamKey]*Stream{},
	}
	c.readonly.Store(readonly)
	c.Cred = peerCred(conn)
	c.log = s.log
	c.lastRx.Store(time.Now().UnixNano())
	return c
}

func peerCred(conn net.Conn) Cred {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return Cred{PID: -1}
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Cred{PID: -1}
	}
	var cred Cred
	cred.PID = -1
	_ = raw.Control(func(fd uintptr) {
		u, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err == nil {
			cred = Cred{PID: u.Pid, UID: u.Uid, GID: u.Gid}
		}
	})
	return cred
}

// Server is the server the client belongs to.
func (c *Client) Server() *Server { return c.server }

// ReadOnly reports whether the client may only use read-only calls.
func (c *Client) ReadOnly() bool { return c.readonly.Load() }

// Auth is the authentication scheme of the client's socket.
func (c *Client) Auth() int { return c.auth }

// Authenticated reports whether the client may make calls beyond the
// authentication procedures.
func (c *Client) Authenticated() bool { return c.authenticated.Load() }

// SetReadOnly makes the connection read-only (CONNECT_OPEN with
// VIR_CONNECT_RO). A connection on a read-only socket stays read-only.
func (c *Client) SetReadOnly() { c.readonly.Store(true) }

// Value returns per-client state stored by a program under key.
func (c *Client) Value(key any) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.values[key]
}

// SetValue stores per-client state for a program.
func (c *Client) SetValue(key, v any) {
	c.mu.Lock()
	c.values[key] = v
	c.mu.Unlock()
}

// OnClose registers fn to run once when the connection ends.
func (c *Client) OnClose(fn func()) {
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		fn()
		return
	default:
	}
	c.onClose = append(c.onClose, fn)
	c.mu.Unlock()
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close ends the connection at once.
func (c *Client) Close() {
	c.closing.Do(func() {
		c.mu.Lock()
		close(c.done)
		hooks := c.onClose
		c.onClose = nil
		streams := c.streams
		c.streams = map[streamKey]*Stream{}
		c.mu.Unlock()
		c.conn.Close()
		for _, st := range streams {
			st.end(true)
		}
		for _, fn := range hooks {
			fn()
		}
		c.server.remove(c)
	})
}

// CloseAfterFlush closes the connection once every packet queued so far
// has been written.
func (c *Client) CloseAfterFlush() { c.enqueue(outPacket{closeAfter: true}, true) }

// queue hands a packet to the writer. Replies wait for room (they are
// bounded by max_client_requests); asynchronous messages never wait: a
// client whose queue is full is dropped.
func (c *Client) queue(pkt []byte, wait bool) bool {
	return c.enqueue(outPacket{data: pkt}, wait)
}

func (c *Client) enqueue(pkt outPacket, wait bool) bool {
	c.pending.Add(1)
	if wait {
		select {
		case c.out <- pkt:
			return true
		case <-c.done:
			c.pending.Add(-1)
			return false
		}
	}
	select {
	case c.out <- pkt:
		return true
	case <-c.done:
		c.pending.Add(-1)
		return false
	default:
		c.pending.Add(-1)
		c.log.Warn("client does not read its messages; closing", "client", c.ID)
		c.Close()
		return false
	}
}

// reply sends a call's answer: straight onto the socket when nothing else
// is waiting to be written (the common case of one call at a time), else
// through the writer so that order is kept.
func (c *Client) reply(pkt outPacket) bool {
	if len(pkt.files) == 0 && !pkt.closeAfter {
		c.wmu.Lock()
		if c.pending.Load() == 0 {
			_, err := c.conn.Write(pkt.data)
			c.wmu.Unlock()
			if err != nil {
				c.Close()
				return false
			}
			return true
		}
		c.wmu.Unlock()
	}
	return c.enqueue(pkt, true)
}

// SendMessage sends an asynchronous MESSAGE (an event) to the client.
// libvirtd puts serial 1 on events; clients ignore it.
func (c *Client) SendMessage(prog, vers uint32, proc int32, payload []byte) bool {
	return c.queue(Packet(Header{Prog: prog, Vers: vers, Proc: proc, Type: TypeMessage, Serial: 1, Status: StatusOK}, payload), false)
}

func (c *Client) writer() {
	w := bufio.NewWriterSize(c.conn, 16*1024)
	for {
		var pkt outPacket
		select {
		case pkt = <-c.out:
		case <-c.done:
			return
		}
		c.wmu.Lock()
		n := int64(0)
		ok := true
		for {
			n++
			if ok = c.write(w, pkt); !ok {
				break
			}
			// Coalesce whatever is already waiting into one write.
			select {
			case pkt = <-c.out:
				continue
			default:
			}
			break
		}
		if ok && w.Flush() != nil {
			ok = false
			c.Close()
		}
		c.pending.Add(-n)
		c.wmu.Unlock()
		if !ok {
			return
		}
	}
}

// write puts one packet into w (or straight on the socket when it carries
// descriptors); false means the connection is finished.
func (c *Client) write(w *bufio.Writer, pkt outPacket) bool {
	switch {
	case pkt.closeAfter:
		w.Flush()
		c.Close()
		return false
	case len(pkt.files) > 0:
		defer func() {
			for _, f := range pkt.files {
				f.Close()
			}
		}()
		uc, ok := c.conn.(*net.UnixConn)
		if !ok {
			c.Close()
			return false
		}
		// libvirt's wire form: the packet, then each descriptor in a
		// sendmsg of its own carrying one dummy byte.
		if _, err := w.Write(pkt.data); err != nil || w.Flush() != nil {
			c.Close()
			return false
		}
		for _, f := range pkt.files {
			if _, _, err := uc.WriteMsgUnix([]byte{0}, unix.UnixRights(int(f.Fd())), nil); err != nil {
				c.Close()
				return false
			}
		}
		return true
	}
	if _, err := w.Write(pkt.data); err != nil {
		c.Close()
		return false
	}
	return true
}

func (c *Client) reader() {
	defer c.Close()
	r := bufio.NewReaderSize(c.conn, 16*1024)
	var lenWord [LenWordSize]byte
	for {
		if _, err := io.ReadFull(r, lenWord[:]); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.log.Debug("read failed", "client", c.ID, "err", err)
			}
			return
		}
		n := binary.BigEndian.Uint32(lenWord[:])
		if n < MinPacket || n > MaxPacket {
			c.log.Warn("packet length out of range; closing", "client", c.ID, "length", n)
			return
		}
		pkt := make([]byte, n-LenWordSize)
		if _, err := io.ReadFull(r, pkt); err != nil {
			c.log.Debug("truncated packet; closing", "client", c.ID, "err", err)
			return
		}
		c.lastRx.Store(time.Now().UnixNano())
		h, _ := DecodeHeader(pkt)
		if !c.handle(h, pkt[HeaderSize:]) {
			return
		}
	}
}

// handle processes one packet; false ends the connection.
func (c *Client) handle(h Header, payload []byte) bool {
	if h.Prog == KeepaliveProgram {
		if h.Type == TypeMessage && h.Proc == KeepalivePing {
			c.queue(Packet(Header{Prog: KeepaliveProgram, Vers: KeepaliveVersion, Proc: KeepalivePong, Type: TypeMessage}, nil), false)
		}
		return true
	}
	switch h.Type {
	case TypeCall:
	case TypeStream:
		c.streamPacket(h, payload)
		return true
	default:
		c.queue(ErrorPacket(h, virterror.Raw(virterror.RPC, virterror.FromRPC, fmt.Sprintf("Unexpected message type %d", h.Type))), true)
		return true
	}
	prog := c.server.program(h.Prog, h.Vers)
	if prog == nil {
		c.queue(ErrorPacket(h, virterror.Raw(virterror.RPC, virterror.FromRPC, fmt.Sprintf("Cannot find program %d version %d", h.Prog, h.Vers))), true)
		return true
	}
	if h.Status != StatusOK {
		c.queue(ErrorPacket(h, virterror.Raw(virterror.RPC, virterror.FromRPC, fmt.Sprintf("Unexpected message status %d", h.Status))), true)
		return true
	}
	proc, ok := prog.Procedure(h.Proc)
	if !ok {
		c.queue(ErrorPacket(h, virterror.Raw(virterror.RPC, virterror.FromRPC, fmt.Sprintf("unknown procedure: %d", h.Proc))), true)
		return true
	}
	// Back-pressure: at most max_client_requests calls of one client run
	// at once; further reading waits, as in libvirt.
	select {
	case c.inflight <- struct{}{}:
	case <-c.done:
		return false
	}
	call := &Call{Client: c, Header: h, Proc: proc, Args: xdr.NewDecoder(payload), Ret: xdr.NewEncoder(nil)}
	if proc.Priority && !proc.Write {
		// libvirt's high-priority read-only calls never wait on a guest
		// (lookups, lists, connection facts): answering them here spares
		// the hand-off to a worker and back.
		c.serve(prog, call)
		return true
	}
	c.server.pool.Submit(func() { c.serve(prog, call) }, proc.Priority)
	return true
}

func (c *Client) serve(prog *Program, call *Call) {
	defer func() { <-c.inflight }()
	err := c.run(prog, call)
	h := call.Header
	var pkt []byte
	if err != nil {
		ve := virterror.From(err, prog.Domain)
		c.log.Debug("call failed", "client", c.ID, "proc", call.Proc.Name, "code", ve.Code, "err", ve.Message)
		pkt = ErrorPacket(h, ve)
	} else {
		h.Type = TypeReply
		h.Status = StatusOK
		payload := call.Ret.Bytes()
		if len(call.replyFiles) > 0 {
			// REPLY_WITH_FDS: the descriptor count precedes the result.
			h.Type = TypeReplyWithFDs
			e := xdr.NewEncoder(make([]byte, 0, 4+len(payload)))
			e.Uint32(uint32(len(call.replyFiles)))
			e.Raw(payload)
			payload = e.Bytes()
		}
		pkt = Packet(h, payload)
	}
	if err != nil {
		for _, f := range call.replyFiles {
			f.Close()
		}
		call.replyFiles = nil
	}
	if !c.reply(outPacket{data: pkt, files: call.replyFiles}) {
		for _, f := range call.replyFiles {
			f.Close()
		}
		return
	}
	if err == nil {
		for _, fn := range call.afterReply {
			fn()
		}
	}
}

// run calls the handler, turning a panic into an internal error so that
// one bad call cannot take the daemon down.
func (c *Client) run(prog *Program, call *Call) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("handler panic", "client", c.ID, "proc", call.Proc.Name, "panic", r)
			err = virterror.New(virterror.InternalError, prog.Domain, "%s failed unexpectedly", call.Proc.API)
		}
	}()
	return prog.dispatch(call)
}

// StartKeepalive makes the server PING this client after interval of
// silence and drop it after count unanswered PINGs. A negative interval
// disables server PINGs (PONGs are always sent).
func (c *Client) StartKeepalive() {
	interval, count := c.server.keepalive()
	if interval <= 0 || !c.kaOn.CompareAndSwap(false, true) {
		return
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		// As in libvirt, any packet from the client (a PONG included)
		// restores its full allowance of unanswered PINGs.
		misses := uint(0)
		var seen int64
		for {
			select {
			case <-c.done:
				return
			case <-t.C:
			}
			rx := c.lastRx.Load()
			if rx != seen {
				seen = rx
				misses = 0
			}
			if time.Since(time.Unix(0, rx)) < interval {
				continue
			}
			if misses >= count {
				c.log.Info("connection closed due to keepalive timeout", "client", c.ID)
				c.Close()
				return
			}
			misses++
			c.queue(Packet(Header{Prog: KeepaliveProgram, Vers: KeepaliveVersion, Proc: KeepalivePing, Type: TypeMessage}, nil), false)
		}
	}()
}
