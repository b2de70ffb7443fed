package lxc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// namespaceOrder is the order libvirt hands namespaces out in; the client
// (virsh lxc-enter-namespace) joins them in this order, user first.
var namespaceOrder = []string{"user", "ipc", "uts", "net", "pid", "mnt"}

// OpenNamespaces opens the namespaces of a running container's init
// (virDomainLxcOpenNamespace). Namespaces the kernel lacks are skipped.
func (d *Driver) OpenNamespaces(ref domain.Ref, flags uint32) ([]*os.File, error) {
	if err := checkFlags(flags, 0, "lxcDomainLxcOpenNamespace"); err != nil {
		return nil, err
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
		return nil, err
	}
	if pid <= 0 {
		return nil, virterror.New(virterror.OperationInvalid, virterror.FromLXC, "Init pid is not yet available")
	}
	var files []*os.File
	for _, ns := range namespaceOrder {
		f, err := os.Open(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, virterror.New(virterror.SystemError, virterror.FromLXC, "cannot open %s namespace of %d: %v", ns, pid, err)
		}
		files = append(files, f)
	}
	return files, nil
}
