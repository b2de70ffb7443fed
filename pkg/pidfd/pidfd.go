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

// Proc is an open pidfd on one process.
type Proc struct {
	PID int
	fd  int
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
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil, ErrGone
		}
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	p := &Proc{PID: pid, fd: fd}
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

// Exited reports whether the process has terminated (zombies included).
func (p *Proc) Exited() bool {
	fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n > 0
	}
}

// Wait blocks until the process exits or cancel (a file descriptor, -1 for
// none) becomes readable. It reports whether the process exited.
func (p *Proc) Wait(cancel int) (bool, error) {
	fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
	if cancel >= 0 {
		fds = append(fds, unix.PollFd{Fd: int32(cancel), Events: unix.POLLIN})
	}
	for {
		_, err := unix.Poll(fds, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll pidfd of %d: %w", p.PID, err)
		}
		if fds[0].Revents != 0 {
			return true, nil
		}
		if len(fds) > 1 && fds[1].Revents != 0 {
			return false, nil
		}
	}
}

// WaitTimeout waits at most d for the process to exit.
func (p *Proc) WaitTimeout(d time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(d)
	for {
		ms := int(time.Until(deadline).Milliseconds())
		if ms < 0 {
			ms = 0
		}
		n, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n > 0
	}
}

// Signal sends sig to the process without the PID reuse race.
func (p *Proc) Signal(sig syscall.Signal) error {
	if err := unix.PidfdSendSignal(p.fd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return ErrGone
		}
		return fmt.Errorf("signal %d: %w", p.PID, err)
	}
	return nil
}

// Close releases the pidfd.
func (p *Proc) Close() error {
	if p.fd < 0 {
		return nil
	}
	err := unix.Close(p.fd)
	p.fd = -1
	return err
}
