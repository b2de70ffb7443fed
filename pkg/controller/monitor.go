package controller

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// The monitor protocol between the daemon and a controller: one JSON
// object per line over NAME.sock. On connect the controller sends a hello
// carrying its protocol version and status; then the daemon sends requests
// and gets one reply per request, in order. The controller also pushes an
// "exit" event to every connection just before it exits.
//
// Compatibility rule: a controller keeps running across package upgrades,
// so a newer daemon must talk to older controllers. Fields are only ever
// added; a daemon checks hello.Protocol before using an op that a newer
// version introduced, and a controller answers unknown ops with an error
// instead of closing the connection.
const protocolVersion = 1

// Ops of protocol version 1.
const (
	opPing      = "ping"
	opShutdown  = "shutdown"  // initctl runlevel 0, else SIGTERM to init
	opReboot    = "reboot"    // initctl runlevel 6, else SIGHUP to init
	opDestroy   = "destroy"   // SIGKILL everything; the exit is recorded as destroyed
	opTerminate = "terminate" // SIGTERM everything (graceful destroy)
)

type hello struct {
	Protocol int    `json:"protocol"`
	Status   status `json:"status"`
}

type request struct {
	ID      uint64 `json:"id"`
	Op      string `json:"op"`
	InitCtl bool   `json:"initctl,omitempty"`
	Signal  bool   `json:"signal,omitempty"`
}

type reply struct {
	ID    uint64      `json:"id,omitempty"`
	Error string      `json:"error,omitempty"`
	Event string      `json:"event,omitempty"` // "exit" for the unsolicited exit notice
	Exit  *exitRecord `json:"exit,omitempty"`
}

// monitorClient is the daemon's end of one monitor connection.
type monitorClient struct {
	mu    sync.Mutex
	conn  net.Conn
	rd    *bufio.Reader
	enc   *json.Encoder
	next  uint64
	hello hello
}

func dialMonitor(path string) (*monitorClient, error) {
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("connect to monitor %s: %w", path, err)
	}
	c := &monitorClient{conn: conn, rd: bufio.NewReader(conn), enc: json.NewEncoder(conn)}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := c.rd.ReadBytes('\n')
	_ = conn.SetReadDeadline(time.Time{})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("read monitor hello from %s: %w", path, err)
	}
	if err := json.Unmarshal(line, &c.hello); err != nil {
		conn.Close()
		return nil, fmt.Errorf("parse monitor hello from %s: %w", path, err)
	}
	if c.hello.Protocol < 1 {
		conn.Close()
		return nil, fmt.Errorf("monitor %s speaks unknown protocol %d", path, c.hello.Protocol)
	}
	return c, nil
}

// errMonitorClosed means the controller went away before answering.
var errMonitorClosed = errors.New("controller closed the monitor connection")

func (c *monitorClient) call(req request, timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	req.ID = c.next
	_ = c.conn.SetDeadline(time.Now().Add(timeout))
	defer c.conn.SetDeadline(time.Time{})
	if err := c.enc.Encode(req); err != nil {
		return fmt.Errorf("send %s: %w", req.Op, err)
	}
	for {
		line, err := c.rd.ReadBytes('\n')
		if err != nil {
			if len(line) == 0 && !isTimeout(err) {
				return errMonitorClosed
			}
			return fmt.Errorf("read reply to %s: %w", req.Op, err)
		}
		var r reply
		if err := json.Unmarshal(line, &r); err != nil {
			return fmt.Errorf("parse reply to %s: %w", req.Op, err)
		}
		if r.Event != "" {
			continue // the exit notice; the pidfd watcher reports exits
		}
		if r.ID != req.ID {
			continue
		}
		if r.Error != "" {
			return errors.New(r.Error)
		}
		return nil
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *monitorClient) close() error { return c.conn.Close() }
