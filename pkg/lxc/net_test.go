package lxc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/virtlxcd/virtlxcd/pkg/domain"
)

// TestBridgeInterface starts a domain with <interface type='bridge'> and
// checks what the driver reports: the host veth in the live XML (and only
// there), attached to the bridge, and gone after destroy.
func TestBridgeInterface(t *testing.T) {
	needContainers(t)
	br := fmt.Sprintf("lxb%d", os.Getpid()%1000000)
	la := netlink.NewLinkAttrs()
	la.Name = br
	bridge := &netlink.Bridge{LinkAttrs: la}
	if err := netlink.LinkAdd(bridge); err != nil {
		t.Fatalf("create bridge: %v", err)
	}
	t.Cleanup(func() {
		if err := netlink.LinkDel(bridge); err != nil {
			t.Errorf("delete bridge: %v", err)
		}
	})
	d := containerDriver(t, testPaths(t))
	name := uniq(t, "net")
	xml := strings.Replace(rootXML(name, makeRootfs(t), initScript), "<console type='pty'/>",
		"<interface type='bridge'><mac address='52:54:00:12:34:56'/><source bridge='"+br+"'/></interface><console type='pty'/>", 1)
	ref, err := d.DefineXML(xml, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ref, err = d.Create(ref, 0); err != nil {
		t.Fatal(err)
	}
	live, _ := d.GetXMLDesc(ref, 0)
	var host string
	if i := strings.Index(live, "<target dev='"); i >= 0 {
		host = strings.SplitN(live[i+len("<target dev='"):], "'", 2)[0]
	}
	if !strings.HasPrefix(host, "vnet") || !strings.Contains(live, "<guest dev='eth0'/>") ||
		!strings.Contains(live, "<mac address='52:54:00:12:34:56'/>") || !strings.Contains(live, "<alias name='net0'/>") {
		t.Fatalf("live interface XML (host %q):\n%s", host, live)
	}
	inactive, _ := d.GetXMLDesc(ref, domain.XMLInactive)
	if strings.Contains(inactive, host) {
		t.Errorf("inactive XML names the generated %s", host)
	}
	l, err := netlink.LinkByName(host)
	if err != nil {
		t.Fatalf("host veth %s: %v", host, err)
	}
	if l.Attrs().MasterIndex != bridge.Attrs().Index {
		t.Errorf("%s not on bridge %s", host, br)
	}
	if err := d.Destroy(ref, 0); err != nil {
		t.Fatal(err)
	}
	// By index: tests running in parallel may reuse the freed vnetN name.
	if _, err := netlink.LinkByIndex(l.Attrs().Index); err == nil {
		t.Errorf("veth %s (index %d) left after destroy", host, l.Attrs().Index)
	}
}

// TestNetworkInterface attaches <interface type='network'> to the bridge
// of a libvirt virtual network, found through the network driver's status
// file in the (relocated) run dir; an unknown network fails like libvirt.
func TestNetworkInterface(t *testing.T) {
	needContainers(t)
	br := fmt.Sprintf("lxn%d", os.Getpid()%1000000)
	la := netlink.NewLinkAttrs()
	la.Name = br
	bridge := &netlink.Bridge{LinkAttrs: la}
	if err := netlink.LinkAdd(bridge); err != nil {
		t.Fatalf("create bridge: %v", err)
	}
	t.Cleanup(func() {
		if err := netlink.LinkDel(bridge); err != nil {
			t.Errorf("delete bridge: %v", err)
		}
	})
	p := testPaths(t)
	netDir := filepath.Join(p.RunDir, "network")
	if err := os.MkdirAll(netDir, 0o755); err != nil {
		t.Fatal(err)
	}
	status := "<networkstatus>\n  <class_id bitmap='0-2'/>\n  <network>\n    <name>testnet</name>\n    <forward mode='nat'/>\n    <bridge name='" + br + "' stp='on' delay='0'/>\n  </network>\n</networkstatus>\n"
	if err := os.WriteFile(filepath.Join(netDir, "testnet.xml"), []byte(status), 0o600); err != nil {
		t.Fatal(err)
	}
	d := containerDriver(t, p)
	name := uniq(t, "nw")
	withNet := func(network string) string {
		return strings.Replace(rootXML(name, makeRootfs(t), initScript), "<console type='pty'/>",
			"<interface type='network'><source network='"+network+"'/></interface><console type='pty'/>", 1)
	}
	_, err := d.CreateXML(withNet("nosuchnet"), 0)
	wantErr(t, err, 43, 19, "Network not found: no network with matching name 'nosuchnet'")

	ref, err := d.CreateXML(withNet("testnet"), 0)
	if err != nil {
		t.Fatal(err)
	}
	live, _ := d.GetXMLDesc(ref, 0)
	if !strings.Contains(live, "<source network='testnet' bridge='"+br+"'/>") {
		t.Errorf("live XML:\n%s", live)
	}
	var host string
	if i := strings.Index(live, "<target dev='"); i >= 0 {
		host = strings.SplitN(live[i+len("<target dev='"):], "'", 2)[0]
	}
	l, err := netlink.LinkByName(host)
	if err != nil {
		t.Fatalf("host veth %q: %v", host, err)
	}
	if l.Attrs().MasterIndex != bridge.Attrs().Index {
		t.Errorf("%s not on the network's bridge %s", host, br)
	}
	if err := d.Destroy(ref, 0); err != nil {
		t.Fatal(err)
	}
}
