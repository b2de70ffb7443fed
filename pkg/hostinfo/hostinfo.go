// Package hostinfo describes the host the way libvirt's node and connection
// APIs report it: node info, free memory, kernel version as a libvirt
// version number, hostname, host UUID, the capabilities XML of the LXC
// driver and SMBIOS sysinfo.
package hostinfo

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// NodeInfo is virNodeInfo.
type NodeInfo struct {
	Model     string
	MemoryKiB uint64
	CPUs      int32
	MHz       int32
	Nodes     int32
	Sockets   int32
	Cores     int32
	Threads   int32
}

// Arch is the machine name from uname ("x86_64").
func Arch() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return runtime.GOARCH
	}
	return unix.ByteSliceToString(u.Machine[:])
}

// KernelVersion returns the running kernel's release as libvirt encodes
// hypervisor versions for LXC: major*1e6 + minor*1e3 + micro.
func KernelVersion() uint64 {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return 0
	}
	return ParseVersion(unix.ByteSliceToString(u.Release[:]))
}

// ParseVersion turns "6.18.44-foo" into 6018044.
func ParseVersion(rel string) uint64 {
	var nums [3]uint64
	for i, part := range strings.SplitN(rel, ".", 3) {
		end := 0
		for end < len(part) && part[end] >= '0' && part[end] <= '9' {
			end++
		}
		n, _ := strconv.ParseUint(part[:end], 10, 64)
		nums[i] = n
		if end < len(part) {
			break
		}
	}
	return nums[0]*1000000 + nums[1]*1000 + nums[2]
}

// Hostname is the host's name (virConnectGetHostname).
func Hostname() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", virterror.New(virterror.SystemError, virterror.FromNone, "cannot get hostname: %v", err)
	}
	return h, nil
}

func meminfo(key string) uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == key+":" {
			v, _ := strconv.ParseUint(fields[1], 10, 64)
			return v
		}
	}
	return 0
}

// FreeMemory is the host's free memory in bytes (virNodeGetFreeMemory).
func FreeMemory() uint64 { return meminfo("MemFree") * 1024 }

type cpuTopo struct {
	online  []int
	socket  map[int]int
	core    map[int]int
	sockets int
	cores   int
	threads int
}

func readInt(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}

// parseCPUList parses "0-3,5".
func parseCPUList(s string) []int {
	var out []int
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		if part == "" {
			continue
		}
		lo, hi, ok := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if ok {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out
}

func topology() cpuTopo {
	t := cpuTopo{socket: map[int]int{}, core: map[int]int{}}
	if b, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil {
		t.online = parseCPUList(string(b))
	}
	if len(t.online) == 0 {
		for i := 0; i < runtime.NumCPU(); i++ {
			t.online = append(t.online, i)
		}
	}
	sockets := map[int]bool{}
	coresPerSocket := map[[2]int]int{}
	for _, cpu := range t.online {
		dir := fmt.Sprintf("/sys/devices/system/cpu/cpu%d/topology", cpu)
		s, _ := readInt(filepath.Join(dir, "physical_package_id"))
		c, _ := readInt(filepath.Join(dir, "core_id"))
		t.socket[cpu], t.core[cpu] = s, c
		sockets[s] = true
		coresPerSocket[[2]int{s, c}]++
	}
	t.sockets = max(1, len(sockets))
	t.cores = max(1, len(coresPerSocket)/t.sockets)
	t.threads = max(1, len(t.online)/(t.sockets*t.cores))
	return t
}

func cpuMHz() int32 {
	if khz, ok := readInt("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"); ok {
		return int32(khz / 1000)
	}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(k) == "cpu MHz" {
			mhz, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int32(mhz)
		}
	}
	return 0
}

func numaNodes() int32 {
	m, _ := filepath.Glob("/sys/devices/system/node/node[0-9]*")
	return int32(max(1, len(m)))
}

// Node returns virNodeGetInfo's answer.
func Node() NodeInfo {
	t := topology()
	return NodeInfo{
		Model:     Arch(),
		MemoryKiB: meminfo("MemTotal"),
		CPUs:      int32(len(t.online)),
		MHz:       cpuMHz(),
		Nodes:     numaNodes(),
		Sockets:   int32(t.sockets),
		Cores:     int32(t.cores),
		Threads:   int32(t.threads),
	}
}

// HostUUID picks the host UUID as libvirt does: the configured value,
// else SMBIOS's product UUID or /etc/machine-id per source, falling back
// to the other one and finally to a random UUID for this run.
func HostUUID(configured, source string) string {
	if configured != "" {
		return configured
	}
	smbios := func() string {
		b, err := os.ReadFile("/sys/class/dmi/id/product_uuid")
		if err != nil {
			return ""
		}
		return strings.ToLower(strings.TrimSpace(string(b)))
	}
	machineID := func() string {
		b, err := os.ReadFile("/etc/machine-id")
		id := strings.TrimSpace(string(b))
		if err != nil || len(id) != 32 {
			return ""
		}
		return id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:32]
	}
	order := []func() string{smbios, machineID}
	if source == "machine-id" {
		order = []func() string{machineID, smbios}
	}
	for _, f := range order {
		if u := f(); u != "" {
			return u
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Capabilities builds the LXC driver's capabilities XML: the host and one
// <guest> of os_type exe per architecture the host runs (its own and, on
// 64-bit x86, i686), with emulator naming the controller binary.
func Capabilities(hostUUID, emulator string) (string, error) {
	t := topology()
	node := Node()
	arch := Arch()
	cpus := make([]libvirtxml.CapsHostNUMACPU, 0, len(t.online))
	for _, cpu := range t.online {
		s, c, die := t.socket[cpu], t.core[cpu], 0
		var siblings []string
		for _, other := range t.online {
			if t.socket[other] == s && t.core[other] == c {
				siblings = append(siblings, strconv.Itoa(other))
			}
		}
		cpus = append(cpus, libvirtxml.CapsHostNUMACPU{ID: cpu, SocketID: &s, DieID: &die, CoreID: &c, Siblings: strings.Join(siblings, ",")})
	}
	caps := libvirtxml.Caps{
		Host: libvirtxml.CapsHost{
			UUID: hostUUID,
			CPU: &libvirtxml.CapsHostCPU{
				Arch:      arch,
				Topology:  &libvirtxml.CapsHostCPUTopology{Sockets: t.sockets, Dies: 1, Cores: t.cores, Threads: t.threads},
				PageSizes: capsPageSizes(),
			},
			PowerManagement: &libvirtxml.CapsHostPowerManagement{},
			IOMMU:           &libvirtxml.CapsHostIOMMU{Support: "no"},
			NUMA: &libvirtxml.CapsHostNUMATopology{Cells: &libvirtxml.CapsHostNUMACells{
				Num: 1,
				Cells: []libvirtxml.CapsHostNUMACell{{
					ID:       0,
					Memory:   &libvirtxml.CapsHostNUMAMemory{Size: node.MemoryKiB, Unit: "KiB"},
					PageInfo: cellPageInfo(0),
					CPUS:     &libvirtxml.CapsHostNUMACPUs{Num: uint(len(cpus)), CPUs: cpus},
				}},
			}},
			SecModel: []libvirtxml.CapsHostSecModel{{Name: "none", DOI: "0"}},
		},
	}
	guestArches := []struct {
		name string
		word string
	}{{arch, "64"}}
	switch arch {
	case "x86_64":
		guestArches = append(guestArches, struct{ name, word string }{"i686", "32"})
	case "aarch64":
		guestArches = append(guestArches, struct{ name, word string }{"armv7l", "32"})
	default:
		guestArches[0].word = strconv.Itoa(32 << (^uint(0) >> 63))
	}
	for _, ga := range guestArches {
		caps.Guests = append(caps.Guests, libvirtxml.CapsGuest{
			OSType: "exe",
			Arch: libvirtxml.CapsGuestArch{
				Name:     ga.name,
				WordSize: ga.word,
				Emulator: emulator,
				Domains:  []libvirtxml.CapsGuestDomain{{Type: "lxc"}},
			},
		})
	}
	out, err := caps.Marshal()
	if err != nil {
		return "", fmt.Errorf("format capabilities: %w", err)
	}
	return out + "\n", nil
}

// Sysinfo returns the host's SMBIOS data as libvirt's <sysinfo> XML, or
// libvirt's error when the host exposes none (as on this kind of VM).
func Sysinfo() (string, error) {
	dmi := "/sys/class/dmi/id"
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dmi, name))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	entries := []struct{ block, name, file string }{
		{"bios", "vendor", "bios_vendor"}, {"bios", "version", "bios_version"}, {"bios", "date", "bios_date"},
		{"system", "manufacturer", "sys_vendor"}, {"system", "product", "product_name"},
		{"system", "version", "product_version"}, {"system", "serial", "product_serial"},
		{"system", "uuid", "product_uuid"},
	}
	var b strings.Builder
	b.WriteString("<sysinfo type='smbios'>\n")
	found := false
	cur := ""
	for _, e := range entries {
		v := read(e.file)
		if v == "" {
			continue
		}
		found = true
		if cur != e.block {
			if cur != "" {
				fmt.Fprintf(&b, "  </%s>\n", cur)
			}
			fmt.Fprintf(&b, "  <%s>\n", e.block)
			cur = e.block
		}
		fmt.Fprintf(&b, "    <entry name='%s'>%s</entry>\n", e.name, xmlEscape(v))
	}
	if !found {
		return "", virterror.New(virterror.ConfigUnsupported, virterror.FromLXC, "Host SMBIOS information is not available")
	}
	fmt.Fprintf(&b, "  </%s>\n</sysinfo>\n", cur)
	return b.String(), nil
}

func xmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", `"`, "&quot;")
	return r.Replace(s)
}
