package lxc

import (
	"github.com/virtlxcd/virtlxcd/pkg/cgroup"
	"github.com/virtlxcd/virtlxcd/pkg/controller"
)

// exitReason says why a container stopped, in the driver's terms.
type exitReason int

const (
	exitShutdown exitReason = iota
	exitReboot
	exitCrashed
	exitDestroyed
	exitFailed
)

// exitInfo is a container's end as the runtime recorded it.
type exitInfo struct {
	Reason exitReason
	Status string
}

// container is the driver's view of one running container. The runtime in
// pkg/controller provides it; the driver keeps to this narrow set of calls
// so that its bookkeeping does not depend on how the runtime works.
type container interface {
	ControllerPID() int
	InitPID() int
	ConsolePaths() []string
	HostInterfaces() []string
	CgroupPath() string
	Done() <-chan struct{}
	Exit() exitInfo
	Destroy(graceful bool) error
	Shutdown(allowInitctl, allowSignal bool) error
	Reboot(allowInitctl, allowSignal bool) error
	Stats() (cpuNs, memBytes uint64, err error)
	SetMemoryLimit(kib uint64) error
	Freeze() error
	Thaw() error
	Frozen() (bool, error)
	HasController(subsys string) bool
	SetTunable(k cgroup.Knob, v int64) error
	Tunable(k cgroup.Knob) (int64, error)
	BlkioWeight() (uint64, error)
	SetBlkioWeight(w uint64) error
	SetDeviceBlkio(k cgroup.BlkioKind, major, minor uint32, v uint64) error
	DeviceBlkio(k cgroup.BlkioKind, major, minor uint32) (uint64, error)
	AttachInterface(in controller.Interface) (hostName string, err error)
	DetachInterface(hostName string) error
	Close() error
}

// runtime starts containers and finds running ones again after a daemon
// restart.
type runtime interface {
	Start(spec *controller.Spec) (container, error)
	// Attach returns the running container of name, or the record of how
	// it ended if it stopped while nobody watched (container nil).
	Attach(name string) (container, *exitInfo, error)
}
