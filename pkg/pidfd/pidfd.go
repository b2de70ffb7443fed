// Package pidfd identifies a process by PID plus start time and watches it
// through a pidfd. A PID alone is not an identity (it is reused), and the
// existence of /proc/PID is not liveness: a zombie keeps it, and an init
// that reaps late keeps zombies for seconds.
package pidfd

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// StartTime returns field 22 of /proc/PID/stat (clock ticks since boot).
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses; fields start after
	// the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// Proc is an open pidfd on one process. The descriptor is registered with
// the runtime's poller, so a goroutine waiting for the exit holds no thread.
type Proc struct {
	PID int
	f   *os.File
}

// ErrGone means the process no longer exists (or the PID now belongs to
// another process).
var ErrGone = errors.New("process is gone")

// Open opens a pidfd for pid and checks that the process is the one that
// started at startTime (0 skips the check) and has not exited.
func Open(pid int, startTime uint64) (*Proc, error) {
	if pid <= 0 {
		return nil, ErrGone
	}
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil, ErrGone
		}
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	unix.CloseOnExec(fd)
	p := &Proc{PID: pid, f: os.NewFile(uintptr(fd), "pidfd:"+strconv.Itoa(pid))}
	// Read the start time after opening the pidfd: if it still matches, the
	// pidfd refers to the same process.
	if startTime != 0 {
		st, err := StartTime(pid)
		if err != nil || st != startTime {
			p.Close()
			return nil, ErrGone
		}
	}
	if p.Exited() {
		p.Close()
		return nil, ErrGone
	}
	return p, nil
}

// pollFD waits up to ms milliseconds (-1: forever) for fd to be readable,
// which for a pidfd means the process terminated (zombies included).
func pollFD(fd uintptr, ms int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n > 0
	}
}

// Exited reports whether the process has terminated (zombies included).
func (p *Proc) Exited() bool {
	return p.pollFor(0)
}

// WaitTimeout waits at most d for the process to exit.
func (p *Proc) WaitTimeout(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		ms := int(time.Until(deadline).Milliseconds())
		if ms < 0 {
			ms = 0
		}
		if p.pollFor(ms) || ms == 0 {
			return p.pollFor(0)
		}
	}
}

func (p *Proc) pollFor(ms int) bool {
	rc, err := p.f.SyscallConn()
	if err != nil {
		return false
	}
	exited := false
	if err := rc.Control(func(fd uintptr) { exited = pollFD(fd, ms) }); err != nil {
		return false
	}
	return exited
}

// Wait blocks until the process exits (nil) or Close is called (an error).
func (p *Proc) Wait() error {
	rc, err := p.f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Read(func(fd uintptr) bool { return pollFD(fd, 0) })
}

// Signal sends sig to the process without the PID reuse race.
func (p *Proc) Signal(sig syscall.Signal) error {
	rc, err := p.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.PidfdSendSignal(int(fd), sig, nil, 0) }); err != nil {
		return err
	}
	if errors.Is(serr, unix.ESRCH) {
		return ErrGone
	}
	if serr != nil {
		return fmt.Errorf("signal %d: %w", p.PID, serr)
	}
	return nil
}

// Close releases the pidfd and wakes a pending Wait.
func (p *Proc) Close() error {
	return p.f.Close()
}
