package domxml

import (
	"fmt"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/controller"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// startErr is how the LXC driver reports a definition it cannot start.
func startErr(format string, args ...any) error {
	return virterror.New(virterror.ConfigUnsupported, virterror.FromLXC, format, args...)
}

// BridgeOf names the host bridge behind a libvirt virtual network, or
// fails with libvirt's error for that network.
type BridgeOf func(network string) (string, error)

// ToSpec derives what the runtime needs from a normalized definition, and
// refuses what the runtime cannot do with the errors libvirt's LXC driver
// gives at start. Interfaces of type network are attached to the bridge
// bridgeOf names (nil: such interfaces are refused).
func ToSpec(d *libvirtxml.Domain, bridgeOf BridgeOf) (*controller.Spec, error) {
	s := &controller.Spec{
		Name:      d.Name,
		UUID:      d.UUID,
		MemoryKiB: MemoryKiB(d),
		Partition: DefaultPartition,
	}
	if d.Resource != nil && d.Resource.Partition != "" {
		s.Partition = d.Resource.Partition
	}
	if os := d.OS; os != nil {
		s.Init, s.InitArgs, s.InitDir = os.Init, os.InitArgs, os.InitDir
		s.InitUser, s.InitGroup, s.Cmdline = os.InitUser, os.InitGroup, os.Cmdline
		for _, e := range os.InitEnv {
			s.InitEnv = append(s.InitEnv, e.Name+"="+e.Value)
		}
	}
	if s.Init == "" {
		s.Init = DefaultInit
	}
	if mt := d.MemoryTune; mt != nil {
		if mt.HardLimit != nil {
			s.HardLimitKiB = mt.HardLimit.Value
		}
		if mt.SoftLimit != nil {
			s.SoftLimitKiB = mt.SoftLimit.Value
		}
		if mt.SwapHardLimit != nil {
			s.SwapHardLimitKiB = mt.SwapHardLimit.Value
		}
	}
	if ct := d.CPUTune; ct != nil {
		if ct.Shares != nil {
			s.CPUShares = uint64(ct.Shares.Value)
		}
		if ct.Period != nil {
			s.CPUPeriod = ct.Period.Value
		}
		if ct.Quota != nil {
			s.CPUQuota = ct.Quota.Value
		}
	}
	if bt := d.BlockIOTune; bt != nil {
		s.BlkioWeight = uint64(bt.Weight)
		for _, dev := range bt.Device {
			s.BlkioDevices = append(s.BlkioDevices, controller.BlkioDevice{
				Path: dev.Path, Weight: uint64(dev.Weight),
				ReadIOPS: uint64(dev.ReadIopsSec), WriteIOPS: uint64(dev.WriteIopsSec),
				ReadBPS: uint64(dev.ReadBytesSec), WriteBPS: uint64(dev.WriteBytesSec),
			})
		}
	}
	if im := d.IDMap; im != nil {
		for _, r := range im.UIDs {
			s.UIDMap = append(s.UIDMap, controller.IDMap{Start: uint32(r.Start), Target: uint32(r.Target), Count: uint32(r.Count)})
		}
		for _, r := range im.GIDs {
			s.GIDMap = append(s.GIDMap, controller.IDMap{Start: uint32(r.Start), Target: uint32(r.Target), Count: uint32(r.Count)})
		}
		if (len(s.UIDMap) == 0) != (len(s.GIDMap) == 0) {
			return nil, startErr("you must map both uid and gid of the container")
		}
	}
	if f := d.Features; f != nil {
		s.PrivNet = f.PrivNet != nil
		s.CapPolicy, s.CapsOn, s.CapsOff = capSpec(f.Capabilities)
	}
	if d.Devices == nil {
		return nil, startErr("At least one PTY console is required")
	}
	// Refuse what the runtime would otherwise silently leave out, so a
	// guest never runs without a device or namespace its owner asked for.
	for _, c := range []struct {
		present bool
		what    string
	}{
		{len(d.Devices.Hostdevs) > 0, "host devices (<hostdev>)"},
		{len(d.Devices.Disks) > 0, "disks (<disk>)"},
		{d.LXCNamespace != nil, "shared namespaces (<lxc:namespace>)"},
	} {
		if c.present {
			return nil, startErr("%s are not supported by this driver", c.what)
		}
	}
	for _, fs := range d.Devices.Filesystems {
		f, err := fsSpec(fs)
		if err != nil {
			return nil, err
		}
		s.Filesystems = append(s.Filesystems, f)
	}
	for i, nic := range d.Devices.Interfaces {
		n, err := ifSpec(i, nic, bridgeOf)
		if err != nil {
			return nil, err
		}
		s.Interfaces = append(s.Interfaces, n)
	}
	for _, c := range d.Devices.Consoles {
		if c.Source == nil || c.Source.Pty == nil {
			return nil, startErr("Only PTY console types are supported")
		}
		s.Consoles++
	}
	if s.Consoles == 0 {
		return nil, startErr("At least one PTY console is required")
	}
	return s, nil
}

func fsSpec(fs libvirtxml.DomainFilesystem) (controller.Filesystem, error) {
	f := controller.Filesystem{Target: fs.Target.Dir, ReadOnly: fs.ReadOnly != nil}
	switch src := fs.Source; {
	case src.Mount != nil:
		f.Type, f.Source = "mount", src.Mount.Dir
	case src.Bind != nil:
		f.Type, f.Source = "bind", src.Bind.Dir
	case src.RAM != nil:
		f.Type, f.UsageKiB = "ram", uint64(src.RAM.Usage)
	default:
		return f, startErr("Cannot mount filesystem type %s", fsType(fs))
	}
	if f.Type != "ram" && f.Source == "" {
		return f, startErr("filesystem for target '%s' has no source directory", f.Target)
	}
	return f, nil
}

func fsType(fs libvirtxml.DomainFilesystem) string {
	switch s := fs.Source; {
	case s.Block != nil:
		return "block"
	case s.File != nil:
		return "file"
	case s.Template != nil:
		return "template"
	case s.Volume != nil:
		return "volume"
	}
	return "unknown"
}

func ifSpec(i int, nic libvirtxml.DomainInterface, bridgeOf BridgeOf) (controller.Interface, error) {
	n := controller.Interface{MAC: nic.MAC.Address}
	switch {
	case nic.Source != nil && nic.Source.Bridge != nil:
		n.Type, n.Bridge = "bridge", nic.Source.Bridge.Bridge
	case nic.Source != nil && nic.Source.Ethernet != nil:
		n.Type = "ethernet"
	case nic.Source != nil && nic.Source.Network != nil && bridgeOf != nil:
		// A virtual network's port is a veth on the network's bridge.
		br, err := bridgeOf(nic.Source.Network.Network)
		if err != nil {
			return n, err
		}
		n.Type, n.Bridge = "bridge", br
	default:
		return n, startErr("Unsupported network type %s", ifType(nic))
	}
	if nic.Target != nil && !strings.HasPrefix(nic.Target.Dev, autoIfPrefix) {
		n.HostDev = nic.Target.Dev
	}
	n.GuestDev = fmt.Sprintf("eth%d", i)
	if nic.Guest != nil && nic.Guest.Dev != "" {
		n.GuestDev = nic.Guest.Dev
	}
	for _, ip := range nic.IP {
		n.IPs = append(n.IPs, controller.IPAddr{Address: ip.Address, Prefix: int(ip.Prefix), Peer: ip.Peer})
	}
	for _, r := range nic.Route {
		n.Routes = append(n.Routes, controller.Route{Address: r.Address, Prefix: int(r.Prefix), Gateway: r.Gateway})
	}
	n.LinkDown = nic.Link != nil && nic.Link.State == "down"
	return n, nil
}

func ifType(nic libvirtxml.DomainInterface) string {
	if nic.Source == nil {
		return "unknown"
	}
	switch s := nic.Source; {
	case s.Network != nil:
		return "network"
	case s.Direct != nil:
		return "direct"
	case s.User != nil:
		return "user"
	case s.Hostdev != nil:
		return "hostdev"
	}
	return "unknown"
}

// Live is what the runtime reports about a started container, to be shown
// in the live XML.
type Live struct {
	ID             int
	ConsolePaths   []string
	HostInterfaces []string
	Bridges        []string // per interface, the bridge it was attached to
}

// SetLive adds to a copy of a definition what libvirt shows for a running
// domain: the id, the default resource partition, console ptys with their
// aliases, host and guest interface names and interface aliases.
func SetLive(d *libvirtxml.Domain, l Live) {
	id := l.ID
	d.ID = &id
	if d.Resource == nil {
		d.Resource = &libvirtxml.DomainResource{}
	}
	if d.Resource.Partition == "" {
		d.Resource.Partition = DefaultPartition
	}
	if d.Devices == nil {
		return
	}
	for i := range d.Devices.Consoles {
		c := &d.Devices.Consoles[i]
		if i < len(l.ConsolePaths) && c.Source != nil && c.Source.Pty != nil {
			c.TTY = l.ConsolePaths[i]
			c.Source.Pty.Path = l.ConsolePaths[i]
		}
		c.Alias = &libvirtxml.DomainAlias{Name: fmt.Sprintf("console%d", i)}
	}
	for i := range d.Devices.Interfaces {
		n := &d.Devices.Interfaces[i]
		if i < len(l.HostInterfaces) {
			n.Target = &libvirtxml.DomainInterfaceTarget{Dev: l.HostInterfaces[i]}
		}
		if n.Source != nil && n.Source.Network != nil && i < len(l.Bridges) {
			n.Source.Network.Bridge = l.Bridges[i]
		}
		if n.Guest == nil || n.Guest.Dev == "" {
			n.Guest = &libvirtxml.DomainInterfaceGuest{Dev: fmt.Sprintf("eth%d", i)}
		}
		n.Alias = &libvirtxml.DomainAlias{Name: fmt.Sprintf("net%d", i)}
	}
	// libvirt 9.0 names no filesystem of a running container (only
	// consoles get aliases in its LXC driver).
}

// MemoryKiB is the maximum memory of a normalized definition.
func MemoryKiB(d *libvirtxml.Domain) uint64 {
	if d.Memory == nil {
		return 0
	}
	return uint64(d.Memory.Value)
}

// CurrentMemoryKiB is the current memory of a normalized definition.
func CurrentMemoryKiB(d *libvirtxml.Domain) uint64 {
	if d.CurrentMemory == nil {
		return MemoryKiB(d)
	}
	return uint64(d.CurrentMemory.Value)
}

// VCPUs is the vcpu count of a normalized definition.
func VCPUs(d *libvirtxml.Domain) uint16 {
	if d.VCPU == nil || d.VCPU.Value == 0 {
		return 1
	}
	return uint16(d.VCPU.Value)
}
