package rpc

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
	"github.com/virtlxcd/virtlxcd/pkg/xdr"
)

// testProgram decodes the argument shapes the remote program uses, so
// that fuzzing reaches the XDR decoder through the real dispatch path.
func testProgram() *Program {
	return NewProgram(0x20008086, 1, "test", virterror.FromDomain, []Procedure{
		{Num: 1, Name: "OPEN", API: "virConnectOpen", Handler: func(c *Call) error {
			name := c.Args.OptString()
			_ = c.Args.Uint32()
			if err := c.Decoded(); err != nil {
				return err
			}
			if name != nil {
				c.Ret.String(*name)
			}
			return nil
		}},
		{Num: 11, Name: "DEFINE", API: "virDomainDefineXML", Write: true, Handler: func(c *Call) error {
			c.Ret.String(c.Args.String())
			return c.Decoded()
		}},
		{Num: 273, Name: "LIST", API: "virConnectListAllDomains", Handler: func(c *Call) error {
			n := c.Args.ArrayLen(16384)
			for i := 0; i < n; i++ {
				_ = c.Args.String()
				var u [16]byte
				c.Args.FixedOpaque(u[:])
				_ = c.Args.Int32()
			}
			return c.Decoded()
		}},
		{Num: 183, Name: "UNIMPLEMENTED", API: "virDomainHasManagedSaveImage"},
	})
}

func newTestServer(t testing.TB) *Server {
	s := NewServer("test", Config{MaxClients: 10, MaxClientRequests: 5, MaxWorkers: 4, MinWorkers: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.AddProgram(testProgram())
	t.Cleanup(s.Shutdown)
	return s
}

// exchange feeds raw bytes to a fresh client connection and then checks
// that the server still answers a well-formed call on another one.
func exchange(t testing.TB, s *Server, data []byte) {
	srv, cli := net.Pipe()
	s.add(srv, false)
	go io.Copy(io.Discard, cli)
	cli.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	cli.Write(data)
	cli.Close()

	srv2, cli2 := net.Pipe()
	s.add(srv2, false)
	defer cli2.Close()
	cli2.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := cli2.Write(Packet(Header{Prog: 0x20008086, Vers: 1, Proc: 11, Type: TypeCall, Serial: 7}, xdrString("ok"))); err != nil {
		t.Fatalf("write: %v", err)
	}
	var lw [4]byte
	if _, err := io.ReadFull(cli2, lw[:]); err != nil {
		t.Fatalf("server stopped answering: %v", err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(lw[:])-4)
	if _, err := io.ReadFull(cli2, buf); err != nil {
		t.Fatalf("short reply: %v", err)
	}
	h, _ := DecodeHeader(buf)
	if h.Serial != 7 || h.Status != StatusOK {
		t.Fatalf("reply %+v", h)
	}
}

func xdrString(s string) []byte {
	e := xdr.NewEncoder(nil)
	e.String(s)
	return e.Bytes()
}

func FuzzPackets(f *testing.F) {
	f.Add(Packet(Header{Prog: 0x20008086, Vers: 1, Proc: 1, Type: TypeCall, Serial: 1}, []byte{1, 0, 0, 0, 0, 0, 0, 3, 'l', 'x', 'c', 0, 0, 0, 0, 0}))
	f.Add(Packet(Header{Prog: 0x20008086, Vers: 1, Proc: 273, Type: TypeCall, Serial: 2}, []byte{0, 0, 0, 1, 0, 0, 0, 1, 'x'}))
	f.Add(Packet(Header{Prog: 0x20008086, Vers: 1, Proc: 11, Type: TypeCall, Serial: 3}, []byte{0xff, 0xff, 0xff, 0xff}))
	f.Add(Packet(Header{Prog: 0x20008086, Vers: 1, Proc: 183, Type: TypeCall, Serial: 4}, nil))
	f.Add(Packet(Header{Prog: 0x20008086, Vers: 1, Proc: 1, Type: TypeStream, Serial: 5, Status: StatusContinue}, []byte("abc")))
	f.Add(Packet(Header{Prog: KeepaliveProgram, Vers: 1, Proc: KeepalivePing, Type: TypeMessage}, nil))
	f.Add([]byte{0, 0, 0, 3})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3})
	s := newTestServer(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		exchange(t, s, data)
	})
}

func TestErrorReplies(t *testing.T) {
	s := newTestServer(t)
	srv, cli := net.Pipe()
	s.add(srv, true) // read-only
	defer cli.Close()
	cli.SetDeadline(time.Now().Add(5 * time.Second))
	read := func() (Header, *virterror.Error) {
		var lw [4]byte
		if _, err := io.ReadFull(cli, lw[:]); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, binary.BigEndian.Uint32(lw[:])-4)
		io.ReadFull(cli, buf)
		h, _ := DecodeHeader(buf)
		if h.Status != StatusError {
			return h, nil
		}
		return h, DecodeError(xdr.NewDecoder(buf[HeaderSize:]))
	}
	cases := []struct {
		proc int32
		code virterror.Code
		msg  string
	}{
		{11, virterror.OperationDenied, "operation forbidden: read only access prevents virDomainDefineXML"},
		{183, virterror.NoSupport, "this function is not supported by the connection driver: virDomainHasManagedSaveImage"},
		{4242, virterror.RPC, "unknown procedure: 4242"},
	}
	for i, c := range cases {
		go cli.Write(Packet(Header{Prog: 0x20008086, Vers: 1, Proc: c.proc, Type: TypeCall, Serial: uint32(i)}, nil))
		h, e := read()
		if e == nil || e.Code != c.code || e.Message != c.msg || h.Serial != uint32(i) || h.Type != TypeReply {
			t.Errorf("proc %d: header %+v error %+v", c.proc, h, e)
		}
	}
}

// Ordinary jobs must not wait behind idle priority workers.
func TestPoolOrdinaryJobsRunWithPriorityWorkers(t *testing.T) {
	p := NewPool(2, 4, 3)
	defer p.Close()
	for i := 0; i < 200; i++ {
		done := make(chan struct{})
		p.Submit(func() { close(done) }, i%3 == 0)
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatalf("job %d never ran: %+v", i, p.Stats())
		}
	}
}
