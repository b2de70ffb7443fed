package lxc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/paths"
)

func TestLeaseAddresses(t *testing.T) {
	run := t.TempDir()
	dir := filepath.Join(run, networkDirName)
	os.MkdirAll(dir, 0o755)
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("lan.xml", `<networkstatus><network><name>lan</name><bridge name='virbr7'/>
<ip address='192.168.7.1' netmask='255.255.255.0'/><ip family='ipv6' address='fd00::1' prefix='64'/></network></networkstatus>`)
	write("classful.xml", `<network><name>classful</name><bridge name='virbr8'/><ip address='172.16.0.1'/></network>`)
	now := time.Now().Unix()
	write("virbr7.status", fmt.Sprintf(`[
 {"ip-address": "192.168.7.50", "mac-address": "52:54:00:00:00:01", "expiry-time": %d},
 {"ip-address": "fd00::50", "mac-address": "52:54:00:00:00:01", "iaid": "1", "expiry-time": 0},
 {"ip-address": "192.168.7.51", "mac-address": "52:54:00:00:00:01", "expiry-time": %d},
 {"ip-address": "192.168.7.60", "mac-address": "52:54:00:00:00:02", "expiry-time": %d}
]`, now+100, now-100, now+100))
	write("virbr8.status", fmt.Sprintf(`[{"ip-address": "172.16.0.9", "mac-address": "52:54:00:00:00:03", "expiry-time": %d}]`, now+100))

	d := &Driver{cfg: Config{Paths: paths.Paths{RunDir: run}}}
	nic := func(network, mac, dev string) libvirtxml.DomainInterface {
		return libvirtxml.DomainInterface{
			MAC:    &libvirtxml.DomainInterfaceMAC{Address: mac},
			Source: &libvirtxml.DomainInterfaceSource{Network: &libvirtxml.DomainInterfaceSourceNetwork{Network: network}},
			Target: &libvirtxml.DomainInterfaceTarget{Dev: dev},
		}
	}
	bridge := libvirtxml.DomainInterface{
		MAC:    &libvirtxml.DomainInterfaceMAC{Address: "52:54:00:00:00:02"},
		Source: &libvirtxml.DomainInterfaceSource{Bridge: &libvirtxml.DomainInterfaceSourceBridge{Bridge: "virbr7"}},
	}
	got, err := d.leaseAddresses([]libvirtxml.DomainInterface{
		nic("lan", "52:54:00:00:00:01", "vnet0"),
		bridge,                                   // not on a libvirt network: leases are not looked up
		nic("lan", "52:54:00:00:00:04", "vnet2"), // no lease: left out
		nic("classful", "52:54:00:00:00:03", "vnet3"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "vnet0 52:54:00:00:00:01 [{0 192.168.7.50 24} {1 fd00::50 64}]; vnet3 52:54:00:00:00:03 [{0 172.16.0.9 16}]"
	var parts []string
	for _, i := range got {
		parts = append(parts, fmt.Sprintf("%s %s %v", i.Name, i.HWAddr, i.Addrs))
	}
	if strings.Join(parts, "; ") != want {
		t.Errorf("leases:\n got %s\nwant %s", strings.Join(parts, "; "), want)
	}

	if _, err := d.leaseAddresses([]libvirtxml.DomainInterface{nic("nosuch", "52:54:00:00:00:01", "vnet0")}); err == nil || !strings.Contains(err.Error(), "Network not found: no network with matching name 'nosuch'") {
		t.Errorf("unknown network: %v", err)
	}
	write("virbr7.status", `[{"ip-address": "192.168.7.50", "mac-address": "52:54:00:00:00:01"}]`)
	if _, err := d.leaseAddresses([]libvirtxml.DomainInterface{nic("lan", "52:54:00:00:00:01", "vnet0")}); err == nil || !strings.Contains(err.Error(), "found lease without expiry-time") {
		t.Errorf("lease without expiry: %v", err)
	}
	write("virbr7.status", `{`)
	if _, err := d.leaseAddresses([]libvirtxml.DomainInterface{nic("lan", "52:54:00:00:00:01", "vnet0")}); err == nil || !strings.Contains(err.Error(), "invalid json in file") {
		t.Errorf("bad json: %v", err)
	}
	// No lease file: a network without DHCP.
	os.Remove(filepath.Join(dir, "virbr7.status"))
	if got, err := d.leaseAddresses([]libvirtxml.DomainInterface{nic("lan", "52:54:00:00:00:01", "vnet0")}); err != nil || len(got) != 0 {
		t.Errorf("no lease file: %v, %v", got, err)
	}
}
