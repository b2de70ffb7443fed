// Package ptyrelay connects a container's console (the master of a pty in
// the container's own devpts) to a raw pty on the host, so that clients
// attach by opening the host-side path, as with libvirt's <console
// type='pty'>. The relay keeps the host slave open itself: the host master
// then never sees a hangup while nobody is attached, and guest output is
// buffered until the next client opens the path.
package ptyrelay

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
	"strconv"
)

// Relay copies bytes both ways between a container console master and a
// host pty.
type Relay struct {
	guest      *os.File // container's pty master
	hostMaster *os.File
	hostSlave  *os.File // held open, never read
	wg         sync.WaitGroup
}

// New opens a host pty, puts it in raw mode and starts relaying. guest is
// the container's pty master; the relay takes ownership of it.
func New(guest *os.File) (*Relay, error) {
	m, s, err := OpenPTY("/dev/ptmx")
	if err != nil {
		return nil, fmt.Errorf("open host pty: %w", err)
	}
	// A cooked host pty echoes the guest's output back into the guest,
	// which echoes it again: a feedback loop. Raw mode passes bytes as is.
	if err := MakeRaw(int(s.Fd())); err != nil {
		m.Close()
		s.Close()
		return nil, err
	}
	r := &Relay{guest: guest, hostMaster: m, hostSlave: s}
	r.wg.Add(2)
	go r.copy(m, guest)
	go r.copy(guest, m)
	return r, nil
}

func (r *Relay) copy(dst io.Writer, src io.Reader) {
	defer r.wg.Done()
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			// EIO from a master means its slave side was closed for good
			// (the container is gone); stop this direction.
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
	}
}

// Path is the host-side path clients open (/dev/pts/N).
func (r *Relay) Path() string { return r.hostSlave.Name() }

// Close stops the relay and closes every end.
func (r *Relay) Close() error {
	err := errors.Join(r.guest.Close(), r.hostMaster.Close(), r.hostSlave.Close())
	r.wg.Wait()
	return err
}

// MakeRaw clears the line discipline's processing on fd (cfmakeraw).
func MakeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("get termios: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("set termios: %w", err)
	}
	return nil
}

// OpenPTY opens a new pty from the ptmx device at ptmx (the host's, or the
// one of a container's devpts instance) and returns its master and slave.
// The master is non-blocking and registered with the runtime poller, so
// Close wakes a blocked Read.
func OpenPTY(ptmx string) (master, slave *os.File, err error) {
	mfd, err := unix.Open(ptmx, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", ptmx, err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("pty number: %w", err)
	}
	// TIOCGPTPEER opens the slave through the master, without a path lookup
	// that could resolve in another devpts instance.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER,
		uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	sfd := int(r)
	if errno != 0 {
		err = errno
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("open pty slave: %w", err)
	}
	name := "/dev/pts/" + strconv.Itoa(n)
	return os.NewFile(uintptr(mfd), "ptmx"), os.NewFile(uintptr(sfd), name), nil
}
