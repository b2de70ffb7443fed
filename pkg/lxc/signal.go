package lxc

import (
	"golang.org/x/sys/unix"

	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// processSignalLast is VIR_DOMAIN_PROCESS_SIGNAL_LAST: libvirt's signal
// numbers are Linux's, 0 (no signal) to SIGRTMAX (64).
const processSignalLast = 65

// SendProcessSignal sends signum to a process of the container. As in
// libvirt's LXC driver only the init (pid 1 inside) can be reached.
func (d *Driver) SendProcessSignal(ref domain.Ref, pid int64, signum uint32, flags uint32) error {
	if pid == 0 {
		return virterror.New(virterror.InvalidArg, virterror.FromDomain, "pid_value in virDomainSendProcessSignal must not be zero")
	}
	if err := checkFlags(flags, 0, "lxcDomainSendProcessSignal"); err != nil {
		return err
	}
	if signum >= processSignalLast {
		return virterror.New(virterror.InvalidArg, virterror.FromLXC, "signum value %d is out of range", signum)
	}
	_, c, unlock, err := d.lockRunning(ref)
	if err != nil {
		return err
	}
	defer unlock()
	if pid != 1 {
		return virterror.New(virterror.ArgumentUnsupported, virterror.FromLXC, "Only the init process may be killed")
	}
	victim := c.InitPID()
	if victim <= 0 {
		return virterror.New(virterror.OperationInvalid, virterror.FromLXC, "Init pid is not yet available")
	}
	if err := unix.Kill(victim, unix.Signal(signum)); err != nil {
		return virterror.New(virterror.SystemError, virterror.FromLXC, "Unable to send %d signal to process %d: %v", signum, victim, err)
	}
	return nil
}
