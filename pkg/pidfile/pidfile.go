// Package pidfile takes a daemon's PID file the way libvirt does: an fcntl
// write lock on byte 0 held for the life of the process, so a second
// instance fails at once and a crashed one never blocks a restart.
package pidfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// File is a held PID file.
type File struct {
	path string
	f    *os.File
}

// ErrLocked means another live process holds the PID file.
var ErrLocked = errors.New("Resource temporarily unavailable")

// Acquire creates (if needed), locks and fills path with pid.
func Acquire(path string, pid int) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("Failed to acquire pid file '%s': %w", path, err)
	}
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("Failed to acquire pid file '%s': %w", path, err)
		}
		lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 1}
		if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk); err != nil {
			f.Close()
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
				return nil, fmt.Errorf("Failed to acquire pid file '%s': %w", path, ErrLocked)
			}
			return nil, fmt.Errorf("Failed to acquire pid file '%s': %w", path, err)
		}
		// The previous holder may have unlinked the file between our open
		// and our lock; then we locked an orphan inode and must retry.
		var held, onDisk unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &held); err != nil {
			f.Close()
			return nil, fmt.Errorf("Failed to acquire pid file '%s': %w", path, err)
		}
		if err := unix.Stat(path, &onDisk); err != nil || held.Ino != onDisk.Ino || held.Dev != onDisk.Dev {
			f.Close()
			continue
		}
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, fmt.Errorf("Failed to write pid file '%s': %w", path, err)
		}
		if _, err := f.WriteAt([]byte(strconv.Itoa(pid)), 0); err != nil {
			f.Close()
			return nil, fmt.Errorf("Failed to write pid file '%s': %w", path, err)
		}
		return &File{path: path, f: f}, nil
	}
}

// Path is the file's path.
func (p *File) Path() string { return p.path }

// Release removes the file and then drops the lock, in that order, so no
// other process can lock a file that is about to vanish.
func (p *File) Release() error {
	err := os.Remove(p.path)
	p.f.Close()
	return err
}

// Holder returns the PID written in path and whether a process holds its lock.
func Holder(path string) (int, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	b := make([]byte, 32)
	n, _ := f.Read(b)
	pid, _ := strconv.Atoi(string(b[:n]))
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk); err != nil {
		return pid, false
	}
	return pid, lk.Type != unix.F_UNLCK
}
