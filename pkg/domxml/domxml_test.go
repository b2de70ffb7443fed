package domxml

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/controller"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

const emu = "/usr/sbin/virtlxcd"

const minimal = `<domain type='lxc'>
  <name>ct</name>
  <memory>65536</memory>
  <os><type>exe</type><init>/bin/sh</init></os>
  <devices><console type='pty'/></devices>
</domain>`

func normalized(t *testing.T, text string) *libvirtxml.Domain {
	t.Helper()
	d, err := Parse(text)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if err := Normalize(d, emu); err != nil {
		t.Fatalf("normalize: %v", err)
	}
	return d
}

func wantErr(t *testing.T, err error, code virterror.Code, dom virterror.Domain, msg string) {
	t.Helper()
	ve, ok := err.(*virterror.Error)
	if !ok {
		t.Fatalf("error %v (%T) is not a libvirt error", err, err)
	}
	if ve.Code != code || ve.Domain != dom || !strings.Contains(ve.Message, msg) {
		t.Fatalf("got %d/%d %q, want %d/%d containing %q", ve.Code, ve.Domain, ve.Message, code, dom, msg)
	}
}

func TestParseErrors(t *testing.T) {
	_, err := Parse("<domain type='lxc'>\n  <name>x</name>\n  <memory>")
	wantErr(t, err, virterror.XMLDetail, virterror.FromDomain, "(domain_definition):3: Premature end of data in tag memory line 3\n  <memory>\n----------^")
	_, err = Parse("<domain type='lxc'>\n  <name>x</name>\n")
	wantErr(t, err, virterror.XMLDetail, virterror.FromDomain, "(domain_definition):3: Premature end of data in tag domain line 1\n(null)\n^")
	_, err = Parse("<domain type='lxc'>\n  <name>x</nam>\n</domain>")
	wantErr(t, err, virterror.XMLDetail, virterror.FromDomain, "(domain_definition):2: Opening and ending tag mismatch: name line 2 and nam\n  <name>x</nam>\n---------------^")
	_, err = Parse("<domain type='lxc'>\n  <name x=>x</name>\n</domain>")
	wantErr(t, err, virterror.XMLDetail, virterror.FromDomain, "(domain_definition):2: ")
	if !strings.Contains(err.Error(), "\n  <name x=>x</name>\n-") {
		t.Errorf("no source line in %q", err)
	}
	_, err = Parse("   ")
	wantErr(t, err, virterror.XMLDetail, virterror.FromDomain, "Document is empty")
	_, err = Parse("<network><name>n</name></network>")
	wantErr(t, err, virterror.XMLError, virterror.FromDomain, "expecting root element of 'domain', not 'network'")
	_, err = Parse("this is not xml\n")
	wantErr(t, err, virterror.XMLDetail, virterror.FromDomain, "(domain_definition):1: Start tag expected, '<' not found\nthis is not xml\n^")
	_, err = Parse("")
	wantErr(t, err, virterror.XMLDetail, virterror.FromDomain, "(domain_definition):1: Document is empty\n(null)\n^")
	_, err = Parse("<domain type='lxc>\n  <name>x</name>\n</domain>\n")
	wantErr(t, err, virterror.XMLDetail, virterror.FromDomain, "(domain_definition):2: Unescaped '<' not allowed in attributes values\n  <name>x</name>\n--^")
	_, err = Parse("<domain type='lxc'>\n  <name>x</name>\n  <memory unit='MiB'>lots</memory>\n</domain>\n")
	wantErr(t, err, virterror.XMLError, virterror.FromDomain, "XML error: Invalid value 'lots' for element or attribute './memory[1]'")
	_, err = Parse("<domain type='lxc'><name>x</name><memory>lots</memory></domain>")
	wantErr(t, err, virterror.XMLError, virterror.FromDomain, "XML error")
}

func TestNormalizeDefaults(t *testing.T) {
	d := normalized(t, minimal)
	out, err := Format(d, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"<uuid>", "<memory unit='KiB'>65536</memory>", "<currentMemory unit='KiB'>65536</currentMemory>",
		"<vcpu placement='static'>1</vcpu>", "<type arch='x86_64'>exe</type>",
		"<clock offset='utc'/>", "<on_poweroff>destroy</on_poweroff>", "<on_reboot>restart</on_reboot>",
		"<on_crash>destroy</on_crash>", "<emulator>" + emu + "</emulator>", "<target type='lxc' port='0'/>",
		"<domain type='lxc'>", "<console type='pty'>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("normalized XML lacks %s:\n%s", want, out)
		}
	}
	if _, err := ParseUUID(d.UUID); err != nil {
		t.Errorf("generated uuid %q: %v", d.UUID, err)
	}
	// libvirt adds the default partition when the domain starts, not at
	// define time.
	if strings.Contains(out, "<resource>") {
		t.Errorf("inactive definition has a resource partition:\n%s", out)
	}
	live, err := Clone(d)
	if err != nil {
		t.Fatal(err)
	}
	SetLive(live, Live{ID: 42})
	if out, _ := Format(live, false); !strings.Contains(out, "<resource>\n    <partition>/machine</partition>\n  </resource>") {
		t.Errorf("live definition lacks the partition:\n%s", out)
	}

	// Formatting what we formatted is stable.
	again, err := Format(normalized(t, out), false)
	if err != nil || again != out {
		t.Errorf("second round differs:\n%s\n---\n%s", out, again)
	}
}

func TestNormalizeUnitsAndDevices(t *testing.T) {
	data, err := os.ReadFile("testdata/full.xml")
	if err != nil {
		t.Fatal(err)
	}
	d := normalized(t, string(data))
	if d.UUID != "0ba1b5b2-a0b3-4b0f-9f5e-1c2d3e4f5a6b" {
		t.Errorf("uuid %q", d.UUID)
	}
	if MemoryKiB(d) != 256*1024 || CurrentMemoryKiB(d) != 128*1024 || VCPUs(d) != 2 {
		t.Errorf("memory %d current %d vcpus %d", MemoryKiB(d), CurrentMemoryKiB(d), VCPUs(d))
	}
	if d.MemoryTune.HardLimit.Value != 200*1024 || d.MemoryTune.SwapHardLimit.Value != 300*1024 {
		t.Errorf("memtune %+v", d.MemoryTune)
	}
	if d.Devices.Emulator != emu {
		t.Errorf("emulator %q not replaced", d.Devices.Emulator)
	}
	if d.Devices.Filesystems[0].AccessMode != "passthrough" {
		t.Errorf("accessmode %q", d.Devices.Filesystems[0].AccessMode)
	}
	if got := d.Devices.Interfaces[0].MAC.Address; got != "52:54:00:aa:bb:cc" {
		t.Errorf("mac %q", got)
	}
	if got := d.Devices.Interfaces[1].MAC.Address; !strings.HasPrefix(got, "52:54:00:") {
		t.Errorf("generated mac %q", got)
	}
	if p := d.Devices.Consoles[1].Target.Port; p == nil || *p != 1 {
		t.Errorf("second console port %v", p)
	}
}

func TestNormalizeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		code           virterror.Code
		msg            string
	}{
		{"kvm", "type='lxc'", "type='kvm'", virterror.InvalidArg, "could not find capabilities for ostype=exe arch=" + hostArch() + " domaintype=kvm "},
		{"hvm", "<type>exe</type>", "<type>hvm</type>", virterror.InvalidArg, "could not find capabilities for arch=" + hostArch() + " domaintype=lxc "},
		{"arch", "<type>exe</type>", "<type arch='s390x'>exe</type>", virterror.InvalidArg, "could not find capabilities for ostype=exe arch=s390x domaintype=lxc "},
		{"notype", "type='lxc'", "", virterror.InternalError, "internal error: missing domain type attribute"},
		{"noinit", "<init>/bin/sh</init>", "", virterror.XMLError, "XML error: init binary must be specified"},
		{"graphics", "<console type='pty'/>", "<console type='pty'/><graphics type='vnc'/>", virterror.InternalError, "internal error: missing video model and cannot determine default"},
		{"slash", "<name>ct</name>", "<name>a/b</name>", virterror.XMLDetail, "name a/b cannot contain '/'"},
		{"noname", "<name>ct</name>", "", virterror.Code(15), "missing name information"},
		{"nomem", "<memory>65536</memory>", "", virterror.XMLError, "Memory size must be specified"},
		{"uuid", "<name>ct</name>", "<name>ct</name><uuid>xyz</uuid>", virterror.InternalError, "malformed uuid element"},
		{"unit", "<memory>", "<memory unit='furlong'>", virterror.InvalidArg, "unknown suffix 'furlong'"},
		{"mac", "<console type='pty'/>", "<interface type='bridge'><mac address='01:00:00:00:00:01'/><source bridge='b'/></interface><console type='pty'/>", virterror.XMLError, "multicast"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse(strings.Replace(minimal, tc.from, tc.to, 1))
			if err == nil {
				err = Normalize(d, emu)
			}
			if err == nil {
				t.Fatal("accepted")
			}
			ve := err.(*virterror.Error)
			if ve.Code != tc.code || !strings.Contains(ve.Message, tc.msg) {
				t.Fatalf("got %d %q, want %d %q", ve.Code, ve.Message, tc.code, tc.msg)
			}
		})
	}
}

func TestToSpec(t *testing.T) {
	data, err := os.ReadFile("testdata/full.xml")
	if err != nil {
		t.Fatal(err)
	}
	d := normalized(t, string(data))
	s, err := ToSpec(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &controller.Spec{
		Name: "full", UUID: "0ba1b5b2-a0b3-4b0f-9f5e-1c2d3e4f5a6b",
		Init: "/bin/sh", InitArgs: []string{"-c", "echo hi"}, InitEnv: []string{"FOO=bar"},
		InitDir: "/tmp", InitUser: "+1000", InitGroup: "+1000",
		Filesystems: []controller.Filesystem{
			{Type: "mount", Source: "/srv/root", Target: "/"},
			{Type: "ram", Target: "/run", UsageKiB: 16384},
			{Type: "bind", Source: "/data", Target: "/mnt", ReadOnly: true},
		},
		UIDMap:    []controller.IDMap{{Start: 0, Target: 100000, Count: 65536}},
		GIDMap:    []controller.IDMap{{Start: 0, Target: 100000, Count: 65536}},
		MemoryKiB: 262144, HardLimitKiB: 204800, SoftLimitKiB: 100000, SwapHardLimitKiB: 307200,
		CPUShares: 512, CPUPeriod: 100000, CPUQuota: 50000, Partition: "/machine",
		PrivNet: true, CapPolicy: "default", CapsOn: []string{"sys_time"}, CapsOff: []string{"net_admin"},
		Interfaces: []controller.Interface{
			{Type: "bridge", Bridge: "br0", GuestDev: "veth-in", MAC: "52:54:00:aa:bb:cc",
				IPs:      []controller.IPAddr{{Address: "192.168.7.2", Prefix: 24}},
				Routes:   []controller.Route{{Address: "192.168.8.0", Prefix: 24, Gateway: "192.168.7.1"}},
				LinkDown: true},
			{Type: "ethernet", HostDev: "hostside0", GuestDev: "eth1", MAC: d.Devices.Interfaces[1].MAC.Address,
				IPs: []controller.IPAddr{{Address: "10.0.0.2", Prefix: 32, Peer: "10.0.0.1"}}},
		},
		Consoles: 2,
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("spec\n got %+v\nwant %+v", s, want)
	}
}

func TestToSpecRefusals(t *testing.T) {
	for _, tc := range []struct{ name, from, to, msg string }{
		{"noconsole", "<console type='pty'/>", "", "At least one PTY console is required"},
		{"fileconsole", "<console type='pty'/>", "<console type='file'><source path='/tmp/x'/></console>", "Only PTY console types are supported"},
		{"network", "<console type='pty'/>", "<interface type='network'><source network='default'/></interface><console type='pty'/>", "Unsupported network type network"},
		{"hostdev", "<console type='pty'/>", "<hostdev mode='capabilities' type='misc'><source><char>/dev/null</char></source></hostdev><console type='pty'/>", "host devices (<hostdev>) are not supported by this driver"},
		{"sharenet", "</domain>", "<lxc:namespace xmlns:lxc='http://libvirt.org/schemas/domain/lxc/1.0'><lxc:sharenet type='netns' value='red'/></lxc:namespace></domain>", "shared namespaces (<lxc:namespace>) are not supported by this driver"},
		{"template", "<console type='pty'/>", "<filesystem type='template'><source name='t'/><target dir='/'/></filesystem><console type='pty'/>", "Cannot mount filesystem type template"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ToSpec(normalized(t, strings.Replace(minimal, tc.from, tc.to, 1)), nil)
			wantErr(t, err, virterror.ConfigUnsupported, virterror.FromLXC, tc.msg)
		})
	}
}

func TestLiveAndInactive(t *testing.T) {
	data, err := os.ReadFile("testdata/full.xml")
	if err != nil {
		t.Fatal(err)
	}
	d := normalized(t, string(data))
	inactive, err := Format(d, true)
	if err != nil {
		t.Fatal(err)
	}
	live, err := Clone(d)
	if err != nil {
		t.Fatal(err)
	}
	SetLive(live, Live{ID: 4242, ConsolePaths: []string{"/dev/pts/7", "/dev/pts/8"}, HostInterfaces: []string{"vnet3", "hostside0"}})
	active, err := Format(live, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"id='4242'", "tty='/dev/pts/8'", "<source path='/dev/pts/7'/>", "<alias name='console1'/>",
		"<target dev='vnet3'/>", "<guest dev='eth1'/>", "<alias name='net0'/>"} {
		if !strings.Contains(active, want) {
			t.Errorf("live XML lacks %s", want)
		}
	}
	back, err := Format(live, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"4242", "/dev/pts", "alias", "vnet3"} {
		if strings.Contains(back, bad) {
			t.Errorf("inactive XML of a live definition still has %s:\n%s", bad, back)
		}
	}
	if !strings.Contains(back, "<target dev='hostside0'/>") || strings.Contains(inactive, "id=") {
		t.Errorf("user-chosen interface name lost or id present:\n%s", back)
	}
}

func TestToKiB(t *testing.T) {
	for _, tc := range []struct {
		v    uint64
		unit string
		want uint64
	}{{1, "", 1}, {1, "KiB", 1}, {1000, "KB", 977}, {1, "b", 1}, {2, "M", 2048}, {1, "GiB", 1 << 20}, {3, "bytes", 1}} {
		got, err := ToKiB("memory", tc.v, tc.unit)
		if err != nil || got != tc.want {
			t.Errorf("%d %s: %d %v, want %d", tc.v, tc.unit, got, err, tc.want)
		}
	}
	if _, err := ToKiB("memory", 1<<62, "EiB"); err == nil {
		t.Error("overflow accepted")
	}
}

func TestLibvirtStyle(t *testing.T) {
	for in, want := range map[string]string{
		`<a x="1"></a>`:                                          "<a x='1'/>",
		`<a><b></b><c y="&#34;q&#39;"></c></a>`:                  "<a><b/><c y='&quot;q&apos;'/></a>",
		"<a>x&#xA;y&#x9;z</a>":                                   "<a>x\ny\tz</a>",
		`<a>t</a><bb></bb>`:                                      "<a>t</a><bb/>",
		`<ab></ab><a></a>`:                                       "<ab/><a/>",
		`<metadata><m:x a="1"></m:x></metadata><z></z>`:          "<metadata>\n    <m:x a=\"1\"/>\n  </metadata><z/>",
		`<metadata><m:x><m:y>t</m:y><m:z/></m:x><n/></metadata>`: "<metadata>\n    <m:x>\n      <m:y>t</m:y>\n      <m:z/>\n    </m:x>\n    <n/>\n  </metadata>",
	} {
		if got := libvirtStyle(in); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
	// Quotes in values survive a round trip through the rewrite.
	d := normalized(t, strings.Replace(minimal, "<name>ct</name>", "<name>ct</name><description>say \"hi\" 'there' &lt;x&gt;</description>", 1))
	out, err := Format(d, false)
	if err != nil {
		t.Fatal(err)
	}
	back := normalized(t, out)
	if back.Description != `say "hi" 'there' <x>` {
		t.Errorf("description %q from\n%s", back.Description, out)
	}
}

func TestValidate(t *testing.T) {
	data, err := os.ReadFile("testdata/full.xml")
	if err != nil {
		t.Fatal(err)
	}
	withMeta := strings.Replace(string(data), "<memory", "<metadata><app:x xmlns:app='urn:x'><app:y>1</app:y></app:x></metadata><title>t</title><description/>\n  <memory", 1)
	for _, good := range []string{minimal, string(data), withMeta} {
		d, err := Parse(good)
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(good, d); err != nil {
			t.Errorf("valid document refused: %v\n%s", err, good)
		}
	}
	bad := strings.Replace(minimal, "<console type='pty'/>", "<console type='pty'/><bogus level='1'/>", 1)
	d, err := Parse(bad)
	if err != nil {
		t.Fatal(err)
	}
	err = Validate(bad, d)
	if ve, ok := err.(*virterror.Error); !ok || ve.Code != 92 || !strings.Contains(ve.Message, "Element domain/devices/bogus is not allowed here") ||
		!strings.HasPrefix(ve.Message, "XML document failed to validate against schema: Unable to validate doc against ") {
		t.Errorf("invalid document: %v", err)
	}
}

func TestNetworkInterface(t *testing.T) {
	d := normalized(t, strings.Replace(minimal, "<console type='pty'/>",
		"<interface type='network'><source network='lan'/></interface><console type='pty'/>", 1))
	s, err := ToSpec(d, func(n string) (string, error) {
		if n != "lan" {
			return "", fmt.Errorf("asked for %q", n)
		}
		return "br-lan", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Interfaces) != 1 || s.Interfaces[0].Type != "bridge" || s.Interfaces[0].Bridge != "br-lan" || s.Interfaces[0].GuestDev != "eth0" {
		t.Errorf("interfaces %+v", s.Interfaces)
	}
	SetLive(d, Live{ID: 9, ConsolePaths: []string{"/dev/pts/3"}, HostInterfaces: []string{"vnet0"}, Bridges: []string{"br-lan"}})
	live, _ := Format(d, false)
	if !strings.Contains(live, "<source network='lan' bridge='br-lan'/>") {
		t.Errorf("live XML:\n%s", live)
	}
	inactive, _ := Format(d, true)
	if strings.Contains(inactive, "br-lan") || !strings.Contains(inactive, "<source network='lan'/>") {
		t.Errorf("inactive XML:\n%s", inactive)
	}
}
