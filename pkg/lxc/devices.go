package lxc

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/controller"
	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/domxml"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// deviceAction is what a device call does to the persistent definition.
type deviceAction int

const (
	attachDevice deviceAction = iota
	detachDevice
	updateDevice
)

// deviceCalls holds, per action, the function name of its flag errors and
// the words of its "not supported" errors.
var deviceCalls = map[deviceAction]struct {
	fn, persistent, live string
}{
	attachDevice: {"lxcDomainAttachDeviceFlags", "persistent attach of device is not supported", "attached"},
	detachDevice: {"lxcDomainDetachDeviceFlags", "persistent detach of device is not supported", "detached"},
	updateDevice: {"lxcDomainUpdateDeviceFlags", "persistent update of device is not supported", ""},
}

// AttachDevice adds a disk, interface or host device to the persistent
// definition, and plugs an interface into a running container.
func (d *Driver) AttachDevice(ref domain.Ref, text string, flags uint32) error {
	return d.changeDevice(ref, text, flags, attachDevice)
}

// DetachDevice removes a disk (by target), interface (by MAC, alias) or
// host device (by source) from the persistent definition, and unplugs an
// interface from a running container.
func (d *Driver) DetachDevice(ref domain.Ref, text string, flags uint32) error {
	return d.changeDevice(ref, text, flags, detachDevice)
}

// UpdateDevice replaces an interface of the persistent definition, found
// as DetachDevice finds it.
func (d *Driver) UpdateDevice(ref domain.Ref, text string, flags uint32) error {
	return d.changeDevice(ref, text, flags, updateDevice)
}

// device is one parsed device document.
type device struct {
	kind    string // the root element: disk, interface, hostdev, ...
	disk    *libvirtxml.DomainDisk
	iface   *libvirtxml.DomainInterface
	hostdev *libvirtxml.DomainHostdev
}

// knownDevices are the device elements of libvirt's schema; other roots
// are not devices at all.
var knownDevices = map[string]bool{
	"disk": true, "lease": true, "filesystem": true, "interface": true, "input": true, "sound": true,
	"video": true, "hostdev": true, "watchdog": true, "controller": true, "graphics": true, "hub": true,
	"redirdev": true, "smartcard": true, "chardev": true, "memballoon": true, "nvram": true, "rng": true,
	"shmem": true, "tpm": true, "panic": true, "memory": true, "iommu": true, "vsock": true, "audio": true,
	"serial": true, "parallel": true, "console": true, "channel": true, "crypto": true,
}

func parseDevice(text string) (*device, error) {
	dec := xml.NewDecoder(strings.NewReader(text))
	var root string
	for root == "" {
		tok, err := dec.Token()
		if err != nil {
			return nil, virterror.New(virterror.XMLError, virterror.FromDomain, "(device_definition): %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			root = se.Name.Local
		}
	}
	if !knownDevices[root] {
		return nil, virterror.New(virterror.XMLError, virterror.FromDomain, "unknown device type '%s'", root)
	}
	dev := &device{kind: root}
	var err error
	switch root {
	case "disk":
		dev.disk = &libvirtxml.DomainDisk{}
		err = dev.disk.Unmarshal(text)
	case "interface":
		dev.iface = &libvirtxml.DomainInterface{}
		err = dev.iface.Unmarshal(text)
	case "hostdev":
		dev.hostdev = &libvirtxml.DomainHostdev{}
		err = dev.hostdev.Unmarshal(text)
	}
	if err != nil {
		return nil, virterror.New(virterror.XMLError, virterror.FromDomain, "(device_definition): %v", err)
	}
	return dev, nil
}

func (d *Driver) changeDevice(ref domain.Ref, text string, flags uint32, act deviceAction) error {
	call := deviceCalls[act]
	if err := checkFlags(flags, domain.AffectLive|domain.AffectConfig, call.fn); err != nil {
		return err
	}
	mod, err := d.beginModify(ref, flags)
	if err != nil {
		return err
	}
	defer mod.end()
	if act == updateDevice && mod.c != nil {
		return virterror.New(virterror.OperationUnsupported, virterror.FromLXC, "Unable to modify live devices")
	}
	dev, err := parseDevice(text)
	if err != nil {
		return err
	}
	var next *libvirtxml.Domain
	if mod.conf {
		d.mu.RLock()
		cand, cerr := domxml.Clone(mod.m.conf)
		d.mu.RUnlock()
		if cerr != nil {
			return virterror.From(cerr, virterror.FromLXC)
		}
		if err := applyDevice(cand, dev, act, call.persistent); err != nil {
			return err
		}
		// The result goes through the same checks and defaults as a
		// define (MACs for new interfaces, validation).
		out, err := d.marshalConfig(cand)
		if err != nil {
			return err
		}
		if next, _, err = d.parseDef(out, false); err != nil {
			return err
		}
	}
	if mod.c != nil {
		// Of the devices libvirt hotplugs into containers, interfaces are
		// offered; disks and host devices get to a container at start.
		if dev.iface == nil {
			return virterror.New(virterror.ConfigUnsupported, virterror.FromLXC, "device type '%s' cannot be %s", dev.kind, call.live)
		}
		var err error
		if act == attachDevice {
			err = d.attachInterfaceLive(mod, dev.iface)
		} else {
			err = d.detachInterfaceLive(mod, dev.iface)
		}
		if err != nil {
			return err
		}
	}
	if next == nil {
		return nil
	}
	return d.updateConf(mod.m, func(def *libvirtxml.Domain) { *def = *next })
}

// attachInterfaceLive plugs an interface into the running container and
// adds it to the live definition, with the names libvirt shows: the host
// veth as target, a guest name and alias netN/ethN not taken yet.
func (d *Driver) attachInterfaceLive(mod *modification, nic *libvirtxml.DomainInterface) error {
	if nic.Source == nil || (nic.Source.Bridge == nil && nic.Source.Network == nil && nic.Source.Ethernet == nil) {
		return virterror.New(virterror.ConfigUnsupported, virterror.FromLXC, "Network device type is not supported")
	}
	d.mu.RLock()
	cand, err := domxml.Clone(mod.m.live)
	d.mu.RUnlock()
	if err != nil {
		return virterror.From(err, virterror.FromLXC)
	}
	add := *nic
	if add.MAC == nil || add.MAC.Address == "" {
		add.MAC = &libvirtxml.DomainInterfaceMAC{Address: domxml.NewMAC()}
	} else if hw, err := net.ParseMAC(add.MAC.Address); err != nil {
		return virterror.New(virterror.XMLError, virterror.FromDomain, "unable to parse mac address '%s'", add.MAC.Address)
	} else {
		add.MAC = &libvirtxml.DomainInterfaceMAC{Address: hw.String()}
	}
	if cand.Devices == nil {
		cand.Devices = &libvirtxml.DomainDeviceList{}
	}
	n := freeInterfaceNumber(cand.Devices.Interfaces)
	if add.Guest == nil || add.Guest.Dev == "" {
		add.Guest = &libvirtxml.DomainInterfaceGuest{Dev: fmt.Sprintf("eth%d", n)}
	}
	add.Alias = &libvirtxml.DomainAlias{Name: fmt.Sprintf("net%d", n)}
	cand.Devices.Interfaces = append(cand.Devices.Interfaces, add)
	spec, err := domxml.ToSpec(cand, d.networkBridge)
	if err != nil {
		return err
	}
	in := spec.Interfaces[len(spec.Interfaces)-1]
	host, err := mod.c.AttachInterface(in)
	if errors.Is(err, controller.ErrSharedNetwork) {
		return virterror.New(virterror.OperationInvalid, virterror.FromLXC,
			"Cannot attach an interface to a container that shares the host network")
	}
	if err != nil {
		return virterror.New(virterror.OperationFailed, virterror.FromLXC, "Failed to attach interface: %v", err)
	}
	add.Target = &libvirtxml.DomainInterfaceTarget{Dev: host}
	if add.Source.Network != nil {
		src := *add.Source
		netSrc := *src.Network
		netSrc.Bridge = in.Bridge
		src.Network = &netSrc
		add.Source = &src
	}
	d.changeLive(mod, func(def *libvirtxml.Domain) {
		if def.Devices == nil {
			def.Devices = &libvirtxml.DomainDeviceList{}
		}
		def.Devices.Interfaces = append(def.Devices.Interfaces, add)
	})
	return nil
}

// freeInterfaceNumber is the smallest N that neither an alias netN nor a
// guest name ethN uses.
func freeInterfaceNumber(ifs []libvirtxml.DomainInterface) int {
	used := map[int]bool{}
	for _, nic := range ifs {
		var k int
		if nic.Alias != nil {
			if _, err := fmt.Sscanf(nic.Alias.Name, "net%d", &k); err == nil {
				used[k] = true
			}
		}
		if nic.Guest != nil {
			if _, err := fmt.Sscanf(nic.Guest.Dev, "eth%d", &k); err == nil {
				used[k] = true
			}
		}
	}
	n := 0
	for used[n] {
		n++
	}
	return n
}

// detachInterfaceLive unplugs the interface matching nic from the running
// container and drops it from the live definition.
func (d *Driver) detachInterfaceLive(mod *modification, nic *libvirtxml.DomainInterface) error {
	d.mu.RLock()
	var ifs []libvirtxml.DomainInterface
	if mod.m.live.Devices != nil {
		ifs = mod.m.live.Devices.Interfaces
	}
	idx, err := findInterface(ifs, nic)
	host := ""
	if err == nil && ifs[idx].Target != nil {
		host = ifs[idx].Target.Dev
	}
	d.mu.RUnlock()
	if err != nil {
		return err
	}
	if host == "" {
		return virterror.New(virterror.InternalError, virterror.FromLXC, "interface has no host device name")
	}
	if err := mod.c.DetachInterface(host); err != nil {
		return virterror.New(virterror.OperationFailed, virterror.FromLXC, "Failed to detach interface: %v", err)
	}
	d.changeLive(mod, func(def *libvirtxml.Domain) {
		list := def.Devices.Interfaces
		def.Devices.Interfaces = append(list[:idx:idx], list[idx+1:]...)
	})
	return nil
}

// applyDevice changes def as libvirt's LXC driver changes a persistent
// definition.
func applyDevice(def *libvirtxml.Domain, dev *device, act deviceAction, unsupported string) error {
	if def.Devices == nil {
		def.Devices = &libvirtxml.DomainDeviceList{}
	}
	devs := def.Devices
	switch {
	case dev.disk != nil:
		target := ""
		if dev.disk.Target != nil {
			target = dev.disk.Target.Dev
		}
		idx := -1
		for i := range devs.Disks {
			if devs.Disks[i].Target != nil && devs.Disks[i].Target.Dev == target {
				idx = i
			}
		}
		switch act {
		case attachDevice:
			if idx >= 0 {
				return virterror.New(virterror.InvalidArg, virterror.FromDomain, "target %s already exists.", target)
			}
			devs.Disks = append(devs.Disks, *dev.disk)
			return nil
		case detachDevice:
			if idx < 0 {
				return virterror.New(virterror.InvalidArg, virterror.FromDomain, "no target device %s", target)
			}
			devs.Disks = append(devs.Disks[:idx], devs.Disks[idx+1:]...)
			return nil
		}
	case dev.iface != nil:
		if act == attachDevice {
			devs.Interfaces = append(devs.Interfaces, *dev.iface)
			return nil
		}
		idx, err := findInterface(devs.Interfaces, dev.iface)
		if err != nil {
			return err
		}
		if act == detachDevice {
			devs.Interfaces = append(devs.Interfaces[:idx], devs.Interfaces[idx+1:]...)
			return nil
		}
		next := *dev.iface
		if next.MAC == nil {
			next.MAC = devs.Interfaces[idx].MAC
		}
		devs.Interfaces[idx] = next
		return nil
	case dev.hostdev != nil:
		idx := findHostdev(devs.Hostdevs, dev.hostdev)
		switch act {
		case attachDevice:
			if idx >= 0 {
				return virterror.New(virterror.InvalidArg, virterror.FromDomain, "device is already in the domain configuration")
			}
			devs.Hostdevs = append(devs.Hostdevs, *dev.hostdev)
			return nil
		case detachDevice:
			if idx < 0 {
				return virterror.New(virterror.InvalidArg, virterror.FromDomain, "device not present in domain configuration")
			}
			devs.Hostdevs = append(devs.Hostdevs[:idx], devs.Hostdevs[idx+1:]...)
			return nil
		}
	}
	return virterror.New(virterror.ConfigUnsupported, virterror.FromLXC, "%s", unsupported)
}

// findInterface finds the one interface matching the MAC (when given)
// and alias (when both have one), with libvirt's errors.
func findInterface(ifs []libvirtxml.DomainInterface, want *libvirtxml.DomainInterface) (int, error) {
	var mac net.HardwareAddr
	macText := "(<null>)"
	if want.MAC != nil && want.MAC.Address != "" {
		hw, err := net.ParseMAC(want.MAC.Address)
		if err != nil {
			return -1, virterror.New(virterror.XMLError, virterror.FromDomain, "unable to parse mac address '%s'", want.MAC.Address)
		}
		mac, macText = hw, hw.String()
	}
	match := -1
	for i, nic := range ifs {
		if mac != nil {
			if nic.MAC == nil {
				continue
			}
			hw, err := net.ParseMAC(nic.MAC.Address)
			if err != nil || hw.String() != mac.String() {
				continue
			}
		}
		if want.Alias != nil && nic.Alias != nil && want.Alias.Name != nic.Alias.Name {
			continue
		}
		if match >= 0 {
			if mac != nil {
				return -1, virterror.New(virterror.OperationFailed, virterror.FromDomain, "multiple devices matching MAC address %s found", macText)
			}
			return -1, virterror.New(virterror.OperationFailed, virterror.FromDomain, "multiple matching devices found")
		}
		match = i
	}
	if match < 0 {
		alias := "(<null>)"
		if want.Alias != nil {
			alias = want.Alias.Name
		}
		return -1, virterror.New(virterror.DeviceMissing, virterror.FromDomain,
			"no device found at address '(<null>)' matching MAC address '%s' and alias '%s'", macText, alias)
	}
	return match, nil
}

// findHostdev finds a host device with the same source: the document
// without the guest-side parts.
func findHostdev(hds []libvirtxml.DomainHostdev, want *libvirtxml.DomainHostdev) int {
	source := func(h libvirtxml.DomainHostdev) string {
		h.Managed, h.Boot, h.ROM, h.ACPI, h.Alias, h.Address = "", nil, nil, nil, nil, nil
		s, _ := h.Marshal()
		return s
	}
	w := source(*want)
	for i := range hds {
		if source(hds[i]) == w {
			return i
		}
	}
	return -1
}
