package domxml

import (
	"fmt"
	"net"
	"runtime"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// DefaultPartition is libvirt's cgroup partition for machines.
const DefaultPartition = "/machine"

// DefaultInit is what libvirt runs when <os> names no <init>.
const DefaultInit = "/sbin/init"

// autoIfPrefix is the prefix of host interface names the runtime generates;
// libvirt treats such names in a definition as leftovers of a previous run
// and drops them.
const autoIfPrefix = "vnet"

// hostArch is the architecture libvirt's capabilities list for exe guests.
func hostArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "386":
		return "i686"
	case "arm64":
		return "aarch64"
	default:
		return runtime.GOARCH
	}
}

var lifecycleActions = map[string]bool{
	"destroy": true, "restart": true, "preserve": true, "rename-restart": true,
	"coredump-destroy": true, "coredump-restart": true,
}

func xmlErr(format string, args ...any) error {
	return virterror.New(virterror.XMLError, virterror.FromDomain, format, args...)
}

func unsupported(format string, args ...any) error {
	return virterror.New(virterror.ConfigUnsupported, virterror.FromDomain, format, args...)
}

// Normalize validates d for the LXC driver and fills in what libvirt fills
// in at define time (uuid, memory in KiB, currentMemory, vcpu, os arch and
// init, clock, lifecycle actions, partition, console targets, interface
// MACs, filesystem access mode), so that dumpxml shows the same document
// libvirt would. emulator is the controller binary: the runtime is our own
// executable, so whatever <emulator> the document names is replaced by it.
func Normalize(d *libvirtxml.Domain, emulator string) error {
	if d.Type == "" {
		return virterror.New(virterror.InternalError, virterror.FromDomain, "missing domain type attribute")
	}
	if d.Type != "lxc" {
		ostype, arch := "", hostArch()
		if d.OS != nil && d.OS.Type != nil {
			ostype = d.OS.Type.Type
			if d.OS.Type.Arch != "" {
				arch = d.OS.Type.Arch
			}
		}
		return noCapabilities(ostype, arch, d.Type)
	}
	if err := checkName(d.Name); err != nil {
		return err
	}
	if d.UUID == "" {
		d.UUID = FormatUUID(NewUUID())
	} else {
		u, err := ParseUUID(d.UUID)
		if err != nil {
			return virterror.New(virterror.InternalError, virterror.FromDomain, "malformed uuid element")
		}
		d.UUID = FormatUUID(u)
	}
	d.ID = nil

	if err := normalizeOS(d); err != nil {
		return err
	}
	if err := normalizeMemory(d); err != nil {
		return err
	}
	if d.VCPU == nil {
		d.VCPU = &libvirtxml.DomainVCPU{Value: 1}
	}
	if d.VCPU.Value == 0 {
		return xmlErr("Invalid number of vCPUs '0'")
	}
	if d.VCPU.Placement == "" {
		d.VCPU.Placement = "static"
	}
	// The default partition appears in the live definition only (libvirt
	// adds it when the domain starts; see SetLive).
	if d.Resource != nil && d.Resource.Partition != "" && !strings.HasPrefix(d.Resource.Partition, "/") {
		return unsupported("resource partition '%s' must start with '/'", d.Resource.Partition)
	}
	if d.Clock == nil {
		d.Clock = &libvirtxml.DomainClock{Offset: "utc"}
	}
	for _, a := range []struct {
		field *string
		def   string
		elem  string
	}{
		{&d.OnPoweroff, "destroy", "on_poweroff"},
		{&d.OnReboot, "restart", "on_reboot"},
		{&d.OnCrash, "destroy", "on_crash"},
	} {
		if *a.field == "" {
			*a.field = a.def
		}
		if !lifecycleActions[*a.field] {
			return xmlErr("unknown %s action: %s", a.elem, *a.field)
		}
	}
	if d.Devices == nil {
		d.Devices = &libvirtxml.DomainDeviceList{}
	}
	d.Devices.Emulator = emulator
	// libvirt's post-parse adds a video device for each graphics one and
	// its LXC driver knows no default video model.
	if len(d.Devices.Graphics) > 0 && len(d.Devices.Videos) == 0 {
		return virterror.New(virterror.InternalError, virterror.FromDomain, "missing video model and cannot determine default")
	}
	if err := normalizeFilesystems(d.Devices.Filesystems); err != nil {
		return err
	}
	if err := normalizeInterfaces(d.Devices.Interfaces); err != nil {
		return err
	}
	normalizeConsoles(d.Devices.Consoles)
	StripLive(d)
	return nil
}

// checkName refuses names that cannot be file names: the persistent
// definition is stored as NAME.xml.
func checkName(name string) error {
	if name == "" {
		return virterror.Raw(virterror.Code(15), virterror.FromDomain, "missing name information")
	}
	for _, c := range []string{"/", "\n"} {
		if strings.Contains(name, c) {
			return virterror.Raw(virterror.XMLDetail, virterror.FromDomain,
				"name "+name+" cannot contain '"+c+"'")
		}
	}
	if name == "." || name == ".." {
		return xmlErr("name '%s' is not allowed", name)
	}
	return nil
}

func normalizeOS(d *libvirtxml.Domain) error {
	if d.OS == nil || d.OS.Type == nil || d.OS.Type.Type == "" {
		return xmlErr("An os <type> must be specified")
	}
	arch := hostArch()
	if d.OS.Type.Arch == "" {
		d.OS.Type.Arch = arch
	}
	if d.OS.Type.Type != "exe" {
		return noCapabilities(d.OS.Type.Type, d.OS.Type.Arch, "lxc")
	}
	if a := d.OS.Type.Arch; a != arch && (arch != "x86_64" || a != "i686") {
		return noCapabilities("exe", a, "lxc")
	}
	// libvirt 9.0 has no default init for a container (only its LXC
	// config converter assumes /sbin/init).
	if d.OS.Init == "" {
		return xmlErr("init binary must be specified")
	}
	if !strings.HasPrefix(d.OS.Init, "/") {
		return unsupported("init binary '%s' must be an absolute path", d.OS.Init)
	}
	return nil
}

// noCapabilities is libvirt's refusal of a guest its capabilities do not
// list. The criteria are listed as libvirt lists them, each followed by a
// space, the trailing one included; ostype hvm is left out because libvirt
// tests the enum value, and hvm is 0.
func noCapabilities(ostype, arch, domaintype string) error {
	var b strings.Builder
	if ostype != "" && ostype != "hvm" {
		fmt.Fprintf(&b, "ostype=%s ", ostype)
	}
	if arch != "" {
		fmt.Fprintf(&b, "arch=%s ", arch)
	}
	fmt.Fprintf(&b, "domaintype=%s ", domaintype)
	return virterror.New(virterror.InvalidArg, virterror.Domain(44), "could not find capabilities for %s", b.String())
}

func normalizeMemory(d *libvirtxml.Domain) error {
	if d.Memory == nil || d.Memory.Value == 0 {
		return xmlErr("Memory size must be specified via <memory> or in the <numa> configuration")
	}
	kib, err := ToKiB("memory", uint64(d.Memory.Value), d.Memory.Unit)
	if err != nil {
		return err
	}
	d.Memory.Value, d.Memory.Unit = uint(kib), "KiB"
	cur := kib
	if d.CurrentMemory != nil {
		c, err := ToKiB("currentMemory", uint64(d.CurrentMemory.Value), d.CurrentMemory.Unit)
		if err != nil {
			return err
		}
		if c != 0 && c < kib {
			cur = c
		}
	}
	d.CurrentMemory = &libvirtxml.DomainCurrentMemory{Value: uint(cur), Unit: "KiB"}
	if mt := d.MemoryTune; mt != nil {
		for _, l := range []struct {
			p    *libvirtxml.DomainMemoryTuneLimit
			name string
		}{{mt.HardLimit, "hard_limit"}, {mt.SoftLimit, "soft_limit"}, {mt.MinGuarantee, "min_guarantee"}, {mt.SwapHardLimit, "swap_hard_limit"}} {
			if l.p == nil {
				continue
			}
			v, err := ToKiB(l.name, l.p.Value, l.p.Unit)
			if err != nil {
				return err
			}
			l.p.Value, l.p.Unit = v, "KiB"
		}
		if mt.HardLimit != nil && mt.SwapHardLimit != nil && mt.SwapHardLimit.Value < mt.HardLimit.Value {
			return xmlErr("swap_hard_limit cannot be less than hard_limit")
		}
	}
	return nil
}

func normalizeFilesystems(fss []libvirtxml.DomainFilesystem) error {
	for i := range fss {
		fs := &fss[i]
		if fs.Target == nil || fs.Target.Dir == "" {
			return xmlErr("missing target information for filesystem")
		}
		if fs.Source == nil {
			return xmlErr("missing source information for filesystem '%s'", fs.Target.Dir)
		}
		if fs.Source.Mount != nil && fs.AccessMode == "" {
			fs.AccessMode = "passthrough"
		}
		if r := fs.Source.RAM; r != nil {
			v, err := ToKiB("usage", uint64(r.Usage), r.Units)
			if err != nil {
				return err
			}
			r.Usage, r.Units = uint(v), "KiB"
		}
	}
	return nil
}

func normalizeInterfaces(ifs []libvirtxml.DomainInterface) error {
	for i := range ifs {
		nic := &ifs[i]
		if nic.MAC == nil || nic.MAC.Address == "" {
			nic.MAC = &libvirtxml.DomainInterfaceMAC{Address: NewMAC()}
		} else {
			hw, err := net.ParseMAC(nic.MAC.Address)
			if err != nil || len(hw) != 6 {
				return xmlErr("unable to parse mac address '%s'", nic.MAC.Address)
			}
			if hw[0]&1 != 0 {
				return xmlErr("expected unicast mac address, found multicast '%s'", nic.MAC.Address)
			}
			nic.MAC.Address = hw.String()
		}
		if nic.Source != nil && nic.Source.Bridge != nil && nic.Source.Bridge.Bridge == "" {
			return xmlErr("No <source> 'bridge' attribute specified with <interface type='bridge'/>")
		}
	}
	return nil
}

func normalizeConsoles(cs []libvirtxml.DomainConsole) {
	for i := range cs {
		c := &cs[i]
		if c.Target == nil {
			c.Target = &libvirtxml.DomainConsoleTarget{}
		}
		if c.Target.Type == "" {
			c.Target.Type = "lxc"
		}
		if c.Target.Port == nil {
			p := uint(i)
			c.Target.Port = &p
		}
	}
}

// HasLive reports whether d carries live-only parts.
func HasLive(d *libvirtxml.Domain) bool {
	if d.ID != nil {
		return true
	}
	if d.Devices == nil {
		return false
	}
	for _, c := range d.Devices.Consoles {
		if c.TTY != "" || c.Alias != nil || (c.Source != nil && c.Source.Pty != nil && c.Source.Pty.Path != "") {
			return true
		}
	}
	for _, n := range d.Devices.Interfaces {
		if n.Alias != nil || (n.Target != nil && strings.HasPrefix(n.Target.Dev, autoIfPrefix)) {
			return true
		}
		if n.Source != nil && n.Source.Network != nil && n.Source.Network.Bridge != "" {
			return true
		}
	}
	for _, f := range d.Devices.Filesystems {
		if f.Alias != nil {
			return true
		}
	}
	return false
}

// StripLive removes what only a running domain has: its id, the console
// ptys, device aliases and generated host interface names.
func StripLive(d *libvirtxml.Domain) {
	d.ID = nil
	if d.Devices == nil {
		return
	}
	for i := range d.Devices.Consoles {
		c := &d.Devices.Consoles[i]
		c.TTY = ""
		c.Alias = nil
		if c.Source != nil && c.Source.Pty != nil {
			c.Source.Pty.Path = ""
		}
	}
	for i := range d.Devices.Interfaces {
		n := &d.Devices.Interfaces[i]
		n.Alias = nil
		if n.Target != nil && strings.HasPrefix(n.Target.Dev, autoIfPrefix) {
			n.Target = nil
		}
		if n.Source != nil && n.Source.Network != nil {
			n.Source.Network.Bridge, n.Source.Network.PortID = "", ""
		}
	}
	for i := range d.Devices.Filesystems {
		d.Devices.Filesystems[i].Alias = nil
	}
}
