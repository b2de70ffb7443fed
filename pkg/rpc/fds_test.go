package rpc

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

func TestReplyWithFiles(t *testing.T) {
	s := newTestServer(t)
	s.AddProgram(NewProgram(0x00068000, 1, "fds", virterror.FromDomain, []Procedure{
		{Num: 1, Name: "OPEN", API: "virTestOpen", Handler: func(c *Call) error {
			f, err := os.Open("/proc/self/ns/uts")
			if err != nil {
				return err
			}
			c.ReplyFiles(f)
			c.Ret.Int32(42)
			return nil
		}},
	}))
	path := filepath.Join(t.TempDir(), "sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s.Serve(l, false)
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	uc := conn.(*net.UnixConn)
	uc.SetDeadline(time.Now().Add(5 * time.Second))
	uc.Write(Packet(Header{Prog: 0x00068000, Vers: 1, Proc: 1, Type: TypeCall, Serial: 3}, nil))
	buf := make([]byte, 36)
	if _, err := io.ReadFull(uc, buf); err != nil {
		t.Fatal(err)
	}
	h, _ := DecodeHeader(buf[4:])
	if h.Type != TypeReplyWithFDs || h.Status != StatusOK || h.Serial != 3 || binary.BigEndian.Uint32(buf) != 36 {
		t.Fatalf("header %+v", h)
	}
	if nfds := binary.BigEndian.Uint32(buf[28:]); nfds != 1 || int32(binary.BigEndian.Uint32(buf[32:])) != 42 {
		t.Fatalf("payload % x", buf[28:])
	}
	// Each descriptor follows in a message of its own with one byte.
	one := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := uc.ReadMsgUnix(one, oob)
	if err != nil || n != 1 {
		t.Fatalf("descriptor message: %d %v", n, err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages: %v %v", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("rights: %v %v", fds, err)
	}
	defer unix.Close(fds[0])
	var got, want unix.Stat_t
	unix.Fstat(fds[0], &got)
	unix.Stat("/proc/self/ns/uts", &want)
	if got.Ino != want.Ino {
		t.Errorf("received descriptor is not the namespace sent")
	}
}
