package rpc

import (
	"sync"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
	"github.com/virtlxcd/virtlxcd/pkg/xdr"
)

type streamKey struct {
	prog   uint32
	proc   int32
	serial uint32
}

// Stream is a data stream opened by a call (a console, for instance).
// Packets in both directions carry the opening call's program, procedure
// and serial; data payloads are raw bytes.
type Stream struct {
	client *Client
	hdr    Header
	// OnData receives client data; OnEnd runs once when the stream ends
	// (abort is true when the client aborted or the connection died).
	onData func([]byte) error
	onEnd  func(abort bool)
	once   sync.Once
}

// NewStream registers a stream on the serial of call. Register it in the
// handler and start sending from Call.AfterReply so that the reply reaches
// the client first.
func (c *Call) NewStream(onData func([]byte) error, onEnd func(abort bool)) *Stream {
	h := c.Header
	st := &Stream{client: c.Client, hdr: Header{Prog: h.Prog, Vers: h.Vers, Proc: h.Proc, Serial: h.Serial, Type: TypeStream}, onData: onData, onEnd: onEnd}
	cl := c.Client
	cl.mu.Lock()
	cl.streams[st.key()] = st
	cl.mu.Unlock()
	return st
}

func (st *Stream) key() streamKey {
	return streamKey{prog: st.hdr.Prog, proc: st.hdr.Proc, serial: st.hdr.Serial}
}

func (st *Stream) packet(status Status, payload []byte) []byte {
	h := st.hdr
	h.Status = status
	return Packet(h, payload)
}

// Send queues data for the client, split into chunks libvirt accepts. It
// waits for room in the client's queue, so a slow reader slows the source.
func (st *Stream) Send(data []byte) bool {
	for len(data) > 0 {
		n := min(len(data), StreamChunk)
		if !st.client.queue(st.packet(StatusContinue, data[:n]), true) {
			return false
		}
		data = data[n:]
	}
	return true
}

// SendEOF tells the client the source has ended (an empty CONTINUE).
func (st *Stream) SendEOF() { st.client.queue(st.packet(StatusContinue, nil), true) }

// Fail ends the stream with an error sent to the client.
func (st *Stream) Fail(err *virterror.Error) {
	e := xdr.NewEncoder(nil)
	EncodeError(e, err)
	st.client.queue(st.packet(StatusError, e.Bytes()), true)
	st.remove()
	st.end(true)
}

func (st *Stream) remove() {
	c := st.client
	c.mu.Lock()
	if c.streams[st.key()] == st {
		delete(c.streams, st.key())
	}
	c.mu.Unlock()
}

func (st *Stream) end(abort bool) {
	st.once.Do(func() {
		if st.onEnd != nil {
			st.onEnd(abort)
		}
	})
}

// streamPacket handles a STREAM packet from the client.
func (c *Client) streamPacket(h Header, payload []byte) {
	c.mu.Lock()
	st := c.streams[streamKey{prog: h.Prog, proc: h.Proc, serial: h.Serial}]
	c.mu.Unlock()
	if st == nil {
		// Data racing with the stream's end is dropped, as libvirtd does.
		return
	}
	switch h.Status {
	case StatusContinue:
		if len(payload) == 0 {
			return
		}
		if err := st.onData(payload); err != nil {
			st.Fail(virterror.From(err, virterror.FromStreams))
		}
	case StatusOK, StatusError:
		// Finish or abort: acknowledge with an empty OK and end.
		st.remove()
		st.end(h.Status == StatusError)
		c.queue(st.packet(StatusOK, nil), true)
	}
}
