package lxc

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// Error code and domain of libvirt's "Network not found".
const (
	errNoNetwork   virterror.Code   = 43
	fromNetwork    virterror.Domain = 19
	networkDirName                  = "network" // below the run dir: libvirt's network driver state
)

// forwardModes are the virtual network kinds whose guests attach to the
// network's bridge with a plain veth.
var forwardModes = map[string]bool{"": true, "nat": true, "route": true, "open": true, "bridge": true}

// networkStatus is the file libvirt's network driver keeps for an active
// network; older files hold a bare <network>.
type networkStatus struct {
	XMLName xml.Name            `xml:"networkstatus"`
	Network *libvirtxml.Network `xml:"network"`
}

// networkBridge finds the bridge of an active libvirt virtual network from
// the status file libvirt's network driver keeps for it in the run dir, so
// that <interface type='network'> works next to a libvirt network daemon.
func (d *Driver) networkBridge(name string) (string, error) {
	net, err := d.networkDef(name)
	if err != nil {
		return "", err
	}
	mode := ""
	if net.Forward != nil {
		mode = net.Forward.Mode
	}
	if !forwardModes[mode] {
		return "", virterror.New(virterror.ConfigUnsupported, virterror.FromLXC,
			"network '%s' uses forward mode '%s', which this driver cannot attach to", name, mode)
	}
	if net.Bridge == nil || net.Bridge.Name == "" {
		return "", virterror.New(virterror.ConfigUnsupported, virterror.FromLXC, "network '%s' has no bridge", name)
	}
	return net.Bridge.Name, nil
}

// networkDef reads the definition of an active libvirt virtual network
// from the network driver's status file.
func (d *Driver) networkDef(name string) (*libvirtxml.Network, error) {
	notFound := virterror.Raw(errNoNetwork, fromNetwork, fmt.Sprintf("Network not found: no network with matching name '%s'", name))
	if name == "" || filepath.Base(name) != name {
		return nil, notFound
	}
	data, err := os.ReadFile(filepath.Join(d.cfg.Paths.RunDir, networkDirName, name+".xml"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notFound
	}
	if err != nil {
		return nil, virterror.New(virterror.InternalError, virterror.FromLXC, "read state of network '%s': %v", name, err)
	}
	net := &libvirtxml.Network{}
	var st networkStatus
	if xml.Unmarshal(data, &st) == nil && st.Network != nil {
		net = st.Network
	} else if err := net.Unmarshal(string(data)); err != nil {
		return nil, virterror.New(virterror.InternalError, virterror.FromLXC, "parse state of network '%s': %v", name, err)
	}
	return net, nil
}
