package lxc

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/netdev"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// InterfaceAddresses reports the addresses of a running domain's
// interfaces (virDomainInterfaceAddresses) from the sources libvirt's LXC
// driver knows: the DHCP leases of libvirt virtual networks, or the host's
// ARP table. Interfaces are named by their host-side device.
func (d *Driver) InterfaceAddresses(ref domain.Ref, source uint32, flags uint32) ([]domain.Interface, error) {
	if err := checkFlags(flags, 0, "lxcDomainInterfaceAddresses"); err != nil {
		return nil, err
	}
	def, _, err := d.running(ref)
	if err != nil {
		return nil, err
	}
	var nics []libvirtxml.DomainInterface
	if def.Devices != nil {
		nics = def.Devices.Interfaces
	}
	switch source {
	case domain.IfaceAddrSrcLease:
		return d.leaseAddresses(nics)
	case domain.IfaceAddrSrcARP:
		return arpAddresses(nics)
	}
	return nil, virterror.New(virterror.ArgumentUnsupported, virterror.FromLXC, "Unknown IP address data source %d", source)
}

func nicName(n *libvirtxml.DomainInterface) string {
	if n.Target != nil {
		return n.Target.Dev
	}
	return ""
}

func nicMAC(n *libvirtxml.DomainInterface) string {
	if n.MAC != nil {
		return strings.ToLower(n.MAC.Address)
	}
	return ""
}

func arpAddresses(nics []libvirtxml.DomainInterface) ([]domain.Interface, error) {
	table, err := netdev.ARPTable()
	if err != nil {
		return nil, virterror.New(virterror.InternalError, virterror.FromNone, "%v", err)
	}
	var out []domain.Interface
	for i := range nics {
		mac := nicMAC(&nics[i])
		for _, e := range table {
			if e.MAC == mac {
				out = append(out, domain.Interface{
					Name:   nicName(&nics[i]),
					HWAddr: mac,
					Addrs:  []domain.IPAddress{{Type: domain.IPAddrIPv4, Addr: e.IP}},
				})
			}
		}
	}
	return out, nil
}

// lease is one entry of the lease file libvirt's network driver keeps per
// bridge (written by its DHCP lease helper).
type lease struct {
	IP     string `json:"ip-address"`
	MAC    string `json:"mac-address"`
	Expiry *int64 `json:"expiry-time"`
}

// leaseAddresses reports, for each interface on a libvirt virtual network,
// the unexpired DHCP leases of its MAC; interfaces without one are left
// out.
func (d *Driver) leaseAddresses(nics []libvirtxml.DomainInterface) ([]domain.Interface, error) {
	var out []domain.Interface
	for i := range nics {
		n := &nics[i]
		if n.Source == nil || n.Source.Network == nil {
			continue
		}
		netDef, err := d.networkDef(n.Source.Network.Network)
		if err != nil {
			return nil, err
		}
		mac := nicMAC(n)
		leases, err := d.networkLeases(netDef, mac)
		if err != nil {
			return nil, err
		}
		if len(leases) == 0 {
			continue
		}
		iface := domain.Interface{Name: nicName(n), HWAddr: mac}
		for _, l := range leases {
			a := domain.IPAddress{Type: domain.IPAddrIPv4, Addr: l.IP}
			if strings.Contains(l.IP, ":") {
				a.Type = domain.IPAddrIPv6
			}
			a.Prefix = networkPrefix(netDef, a.Type == domain.IPAddrIPv6)
			iface.Addrs = append(iface.Addrs, a)
		}
		out = append(out, iface)
	}
	return out, nil
}

// networkLeases reads the lease file of a network's bridge and returns the
// current leases of mac. A network without one (no DHCP) has none.
func (d *Driver) networkLeases(netDef *libvirtxml.Network, mac string) ([]lease, error) {
	if netDef.Bridge == nil || netDef.Bridge.Name == "" {
		return nil, nil
	}
	path := filepath.Join(d.cfg.Paths.RunDir, networkDirName, netDef.Bridge.Name+".status")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, virterror.New(virterror.SystemError, fromNetwork, "Unable to read leases file: %s: %v", path, err)
	}
	if len(data) == 0 {
		return nil, nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, virterror.New(virterror.InternalError, fromNetwork, "invalid json in file: %s", path)
	}
	now := time.Now().Unix()
	var out []lease
	for _, raw := range entries {
		var l lease
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, virterror.New(virterror.InternalError, fromNetwork, "failed to parse json")
		}
		if l.MAC == "" {
			return nil, virterror.New(virterror.InternalError, fromNetwork, "found lease without mac-address")
		}
		hw, err := net.ParseMAC(l.MAC)
		if err != nil || !strings.EqualFold(hw.String(), mac) {
			continue
		}
		if l.Expiry == nil {
			return nil, virterror.New(virterror.InternalError, fromNetwork, "found lease without expiry-time")
		}
		if *l.Expiry > 0 && *l.Expiry < now {
			continue
		}
		if l.IP == "" {
			return nil, virterror.New(virterror.InternalError, fromNetwork, "found lease without ip-address")
		}
		out = append(out, l)
	}
	return out, nil
}

// networkPrefix is the prefix length of the network's first address of
// the family, from its prefix or netmask (IPv4 defaults to its class).
func networkPrefix(netDef *libvirtxml.Network, ipv6 bool) uint32 {
	for _, ip := range netDef.IPs {
		v6 := ip.Family == "ipv6" || strings.Contains(ip.Address, ":")
		if v6 != ipv6 {
			continue
		}
		if ip.Prefix != 0 {
			return uint32(ip.Prefix)
		}
		if ipv6 {
			return 0
		}
		if ip.Netmask != "" {
			if m := net.ParseIP(ip.Netmask).To4(); m != nil {
				ones, _ := net.IPv4Mask(m[0], m[1], m[2], m[3]).Size()
				return uint32(ones)
			}
		}
		return classfulPrefix(ip.Address)
	}
	return 0
}

// classfulPrefix is the historical default prefix of an IPv4 address,
// which libvirt assumes when a network gives neither prefix nor netmask.
func classfulPrefix(addr string) uint32 {
	ip := net.ParseIP(addr).To4()
	switch {
	case ip == nil:
		return 0
	case ip[0] < 128:
		return 8
	case ip[0] < 192:
		return 16
	case ip[0] < 224:
		return 24
	}
	return 0
}
