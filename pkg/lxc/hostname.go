package lxc

import (
	"fmt"
	goruntime "runtime"

	"golang.org/x/sys/unix"

	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// GetHostname reads the hostname inside a running container, which its
// init may have changed from the domain name the runtime set.
func (d *Driver) GetHostname(ref domain.Ref, flags uint32) (string, error) {
	if err := checkFlags(flags, 0, "lxcDomainGetHostname"); err != nil {
		return "", err
	}
	var pid int
	err := d.view(ref, func(m *dom) error {
		if m.cont == nil {
			return notRunning()
		}
		pid = m.cont.InitPID()
		return nil
	})
	if err != nil {
		return "", err
	}
	name, err := utsHostname(pid)
	if err != nil {
		return "", virterror.New(virterror.OperationFailed, virterror.FromLXC, "cannot read hostname of domain: %v", err)
	}
	return name, nil
}

// utsHostname joins the UTS namespace of pid on a dedicated thread and
// reads the node name there. Joining a UTS namespace is allowed for a
// multi-threaded process; if the thread cannot be switched back it is not
// returned to the scheduler, so no other goroutine runs in the container's
// namespace.
func utsHostname(pid int) (string, error) {
	type result struct {
		name string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		goruntime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/uts", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			goruntime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("open own uts namespace: %w", err)}
			return
		}
		defer unix.Close(self)
		target, err := unix.Open(fmt.Sprintf("/proc/%d/ns/uts", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			goruntime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("open uts namespace of %d: %w", pid, err)}
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWUTS); err != nil {
			goruntime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("join uts namespace of %d: %w", pid, err)}
			return
		}
		var u unix.Utsname
		uerr := unix.Uname(&u)
		if err := unix.Setns(self, unix.CLONE_NEWUTS); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			ch <- result{err: fmt.Errorf("return to own uts namespace: %w", err)}
			return
		}
		goruntime.UnlockOSThread()
		if uerr != nil {
			ch <- result{err: uerr}
			return
		}
		ch <- result{name: unix.ByteSliceToString(u.Nodename[:])}
	}()
	r := <-ch
	return r.name, r.err
}
