package remote

import (
	"io"
	"os"

	"github.com/virtlxcd/virtlxcd/pkg/domain"
)

// Driver is what the remote program needs from a hypervisor driver. The
// LXC driver (pkg/lxc) implements it; handlers in this package only
// translate between XDR and these calls. Every error returned should be a
// *virterror.Error so that clients see libvirt's codes; anything else is
// reported as an internal error.
//
// Flags are passed through untouched: the driver rejects the ones it does
// not support with VIR_ERR_INVALID_ARG ("unsupported flags (0x%x) in
// function %s"), as libvirt's drivers do.
type Driver interface {
	// Type is the hypervisor name reported by virConnectGetType ("LXC").
	Type() string
	// URIs accepted by virConnectOpen are checked by the driver.
	Open(uri string) error

	ListAllDomains(flags uint32) ([]domain.Ref, error)
	NumOfDomains() (int, error)
	ListDomainIDs(max int) ([]int32, error)
	NumOfDefinedDomains() (int, error)
	ListDefinedDomains(max int) ([]string, error)

	LookupByName(name string) (domain.Ref, error)
	LookupByUUID(uuid [16]byte) (domain.Ref, error)
	LookupByID(id int32) (domain.Ref, error)

	DefineXML(xml string, flags uint32) (domain.Ref, error)
	Undefine(dom domain.Ref, flags uint32) error
	Create(dom domain.Ref, flags uint32) (domain.Ref, error)
	CreateXML(xml string, flags uint32) (domain.Ref, error)
	Destroy(dom domain.Ref, flags uint32) error
	Shutdown(dom domain.Ref, flags uint32) error
	Reboot(dom domain.Ref, flags uint32) error

	GetInfo(dom domain.Ref) (domain.Info, error)
	GetState(dom domain.Ref, flags uint32) (state domain.State, reason int32, err error)
	GetXMLDesc(dom domain.Ref, flags uint32) (string, error)
	GetOSType(dom domain.Ref) (string, error)
	GetMaxMemory(dom domain.Ref) (uint64, error)
	GetAutostart(dom domain.Ref) (bool, error)
	SetAutostart(dom domain.Ref, on bool) error
	IsActive(dom domain.Ref) (bool, error)
	IsPersistent(dom domain.Ref) (bool, error)
	IsUpdated(dom domain.Ref) (bool, error)
	SetMemoryFlags(dom domain.Ref, kib uint64, flags uint32) error
	// MemoryParameters returns hard_limit, soft_limit, swap_hard_limit in
	// KiB (unlimited = 1<<53 - 1).
	MemoryParameters(dom domain.Ref, flags uint32) (hard, soft, swapHard uint64, err error)
	// SchedulerParameters returns cpu_shares, vcpu_period, vcpu_quota.
	SchedulerParameters(dom domain.Ref, flags uint32) (shares, period uint64, quota int64, err error)
	// Hostname of a running container (virDomainGetHostname).
	GetHostname(dom domain.Ref, flags uint32) (string, error)

	// OpenConsole returns the host side of the console named devName
	// ("" = the first one). Reads return guest output, writes go to the
	// guest; Close detaches without affecting the guest.
	OpenConsole(dom domain.Ref, devName string, flags uint32) (io.ReadWriteCloser, error)

	// Subscribe registers fn for every domain event until cancel is called.
	// fn must not block.
	Subscribe(fn func(domain.Event)) (cancel func())
}

// NamespaceOpener is implemented by drivers that can hand out a running
// domain's namespaces (virDomainLxcOpenNamespace, used by virsh
// lxc-enter-namespace). The files are sent to the client and closed.
type NamespaceOpener interface {
	OpenNamespaces(dom domain.Ref, flags uint32) ([]*os.File, error)
}
