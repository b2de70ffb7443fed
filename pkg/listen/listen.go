// Package listen provides the daemon's three UNIX sockets: created by the
// daemon itself (traditional mode) or received from systemd (socket
// activation), claimed by the socket unit names libvirt's units use.
package listen

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"golang.org/x/sys/unix"
)

// Kind names one of the daemon's sockets.
type Kind int

const (
	RW Kind = iota
	RO
	Admin
)

// Set holds the daemon's listening sockets. A nil listener means that
// socket is disabled (its unit not passed in activation mode).
type Set struct {
	RW, RO, Admin []net.Listener
	Activated     bool
	created       []string
}

// Names maps the activation names to sockets, for daemon name d
// ("virtlxcd"): "virtlxcd.socket", "virtlxcd-ro.socket", "virtlxcd-admin.socket".
func Names(d string) map[string]Kind {
	return map[string]Kind{d + ".socket": RW, d + "-ro.socket": RO, d + "-admin.socket": Admin}
}

// Activation reports whether systemd passed sockets to this process.
func Activation() bool {
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	return err == nil && pid == os.Getpid() && os.Getenv("LISTEN_FDS") != ""
}

// FromActivation claims the sockets systemd passed. Every descriptor must
// carry one of the daemon's names; an unclaimed one is an error, since it
// means the units and the daemon disagree.
func FromActivation(daemon string) (*Set, error) {
	nfds, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || nfds < 0 {
		return nil, fmt.Errorf("invalid LISTEN_FDS %q from systemd socket activation", os.Getenv("LISTEN_FDS"))
	}
	rawNames, ok := os.LookupEnv("LISTEN_FDNAMES")
	if !ok {
		return nil, errors.New("Missing LISTEN_FDNAMES env from systemd socket activation")
	}
	names := strings.Split(rawNames, ":")
	if len(names) != nfds {
		return nil, fmt.Errorf("Expecting %d FD names but got %d", nfds, len(names))
	}
	files := activation.Files(true)
	if len(files) != nfds {
		return nil, fmt.Errorf("expected %d activation file descriptors, got %d", nfds, len(files))
	}
	want := Names(daemon)
	s := &Set{Activated: true}
	var unclaimed []string
	for _, f := range files {
		kind, ok := want[f.Name()]
		if !ok {
			unclaimed = append(unclaimed, f.Name())
			f.Close()
			continue
		}
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("activation socket %s: %w", f.Name(), err)
		}
		s.add(kind, l)
	}
	if len(unclaimed) > 0 {
		s.Close()
		return nil, fmt.Errorf("Some activation file descriptors are unclaimed: %s", strings.Join(unclaimed, ", "))
	}
	return s, nil
}

func (s *Set) add(k Kind, l net.Listener) {
	switch k {
	case RW:
		s.RW = append(s.RW, l)
	case RO:
		s.RO = append(s.RO, l)
	case Admin:
		s.Admin = append(s.Admin, l)
	}
}

// Socket describes one socket to create in traditional mode.
type Socket struct {
	Kind  Kind
	Path  string
	Perms os.FileMode
}

// Options are the unix_sock_* settings.
type Options struct {
	Sockets []Socket
	Group   string // name or numeric gid; "" keeps the process's group
	Backlog int    // max_queued_clients
}

// Create makes the listening sockets itself.
func Create(o Options) (*Set, error) {
	gid := -1
	if o.Group != "" {
		g, err := lookupGroup(o.Group)
		if err != nil {
			return nil, err
		}
		gid = g
	}
	s := &Set{}
	for _, sock := range o.Sockets {
		l, err := listenUnix(sock.Path, sock.Perms, gid, o.Backlog)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.created = append(s.created, sock.Path)
		s.add(sock.Kind, l)
	}
	return s, nil
}

func lookupGroup(name string) (int, error) {
	if g, err := user.LookupGroup(name); err == nil {
		return strconv.Atoi(g.Gid)
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(name, "+")); err == nil && n >= 0 {
		return n, nil
	}
	return 0, fmt.Errorf("Failed to parse group '%s'", name)
}

// listenUnix binds path with the given mode. A socket file left by a
// crashed daemon is replaced; one a live process still answers on is not.
func listenUnix(path string, perms os.FileMode, gid, backlog int) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("Failed to create directory for socket %s: %w", path, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("Failed to bind socket to '%s': a file that is not a socket is in the way", path)
		}
		if c, err := net.DialTimeout("unix", path, 500*time.Millisecond); err == nil {
			c.Close()
			return nil, fmt.Errorf("Failed to bind socket to '%s': another process is listening on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("Failed to remove stale socket '%s': %w", path, err)
		}
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("Failed to create socket: %w", err)
	}
	// Bind under a umask that yields perms, so the socket never exists
	// with wider permissions than configured.
	old := syscall.Umask(int(^perms & 0o777))
	err = unix.Bind(fd, &unix.SockaddrUnix{Name: path})
	syscall.Umask(old)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("Failed to bind socket to '%s': %w", path, err)
	}
	if err := os.Chmod(path, perms); err != nil {
		unix.Close(fd)
		os.Remove(path)
		return nil, fmt.Errorf("Failed to set mode of '%s': %w", path, err)
	}
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			unix.Close(fd)
			os.Remove(path)
			return nil, fmt.Errorf("Failed to change group of '%s': %w", path, err)
		}
	}
	if backlog <= 0 {
		backlog = unix.SOMAXCONN
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		os.Remove(path)
		return nil, fmt.Errorf("Failed to listen on '%s': %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	l, err := net.FileListener(f)
	f.Close()
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("listen on '%s': %w", path, err)
	}
	return l, nil
}

// All returns every listener with its kind.
func (s *Set) All() map[Kind][]net.Listener {
	return map[Kind][]net.Listener{RW: s.RW, RO: s.RO, Admin: s.Admin}
}

// Close closes every listener and removes the socket files the daemon
// created (systemd removes its own).
func (s *Set) Close() {
	for _, ls := range [][]net.Listener{s.RW, s.RO, s.Admin} {
		for _, l := range ls {
			l.Close()
		}
	}
	for _, p := range s.created {
		os.Remove(p)
	}
	s.created = nil
}
