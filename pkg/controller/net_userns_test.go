package controller

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func TestVethOnBridge(t *testing.T) {
	e := newEnv(t)
	br := fmt.Sprintf("vlb%d", os.Getpid()%1000000)
	// Host routes and addresses are global: every test process gets its
	// own 10.N.x.0 subnets.
	n := os.Getpid()%200 + 20
	ip := func(x, y int) string { return fmt.Sprintf("10.%d.%d.%d", n, x, y) }
	hostDev := fmt.Sprintf("vlh%d", os.Getpid()%1000000)
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
	brAddr, _ := netlink.ParseAddr(ip(13, 1) + "/24")
	if err := netlink.AddrAdd(bridge, brAddr); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(bridge); err != nil {
		t.Fatal(err)
	}

	spec := e.spec("/bin/sh")
	spec.Interfaces = []Interface{
		{Type: "bridge", Bridge: br, MAC: "52:54:00:aa:bb:01",
			IPs:    []IPAddr{{Address: ip(13, 2), Prefix: 24}},
			Routes: []Route{{Address: ip(14, 0), Prefix: 24, Gateway: ip(13, 1)}}},
		{Type: "ethernet", HostDev: hostDev, GuestDev: "ext0", MAC: "52:54:00:aa:bb:02",
			IPs:    []IPAddr{{Address: ip(15, 2), Prefix: 32, Peer: ip(15, 1)}, {Address: ip(16, 2), Prefix: 24}},
			Routes: []Route{{Address: ip(17, 0), Prefix: 24, Gateway: ip(15, 1)}}},
		{Type: "bridge", Bridge: br, MAC: "52:54:00:aa:bb:03", LinkDown: true},
	}
	c := e.start(spec)

	ifs := c.HostInterfaces()
	if len(c.st.Links) != len(ifs) {
		t.Errorf("status links %v for interfaces %v", c.st.Links, ifs)
	}
	if len(ifs) != 3 || !strings.HasPrefix(ifs[0], "vnet") || ifs[1] != hostDev || !strings.HasPrefix(ifs[2], "vnet") {
		t.Fatalf("host interfaces %v, want [vnetN %s vnetM]", ifs, hostDev)
	}
	// <link state='down'/>: both ends stay down.
	if l, err := netlink.LinkByName(ifs[2]); err != nil || l.Attrs().Flags&net.FlagUp != 0 {
		t.Errorf("%s should be down: %v", ifs[2], err)
	}
	if a, b := nsLink(c.InitPID(), "net"), nsLink(os.Getpid(), "net"); a == b {
		t.Error("container shares the host network namespace")
	}
	// Host side: the first end is enslaved to the bridge and up; the
	// ethernet end carries the peer address and the route.
	h0, err := netlink.LinkByName(ifs[0])
	if err != nil {
		t.Fatal(err)
	}
	if h0.Attrs().MasterIndex != bridge.Attrs().Index || h0.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("%s: master %d (bridge %d), flags %v", ifs[0], h0.Attrs().MasterIndex, bridge.Attrs().Index, h0.Attrs().Flags)
	}
	h1, err := netlink.LinkByName(hostDev)
	if err != nil {
		t.Fatal(err)
	}
	if addrs, _ := netlink.AddrList(h1, netlink.FAMILY_V4); len(addrs) != 1 || addrs[0].IP.String() != ip(15, 2) ||
		addrs[0].Peer == nil || addrs[0].Peer.IP.String() != ip(15, 1) {
		t.Errorf("host addresses of %s: %v", hostDev, addrs)
	}
	if routes, _ := netlink.RouteList(h1, netlink.FAMILY_V4); !hasRoute(routes, ip(17, 0)+"/24", ip(15, 1)) {
		t.Errorf("host routes of %s: %v", hostDev, routes)
	}

	// Guest side, read through the container's network namespace.
	ns, err := netns.GetFromPid(c.InitPID())
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Delete()
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if eth0.Attrs().HardwareAddr.String() != "52:54:00:aa:bb:01" || eth0.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("eth0: mac %s flags %v", eth0.Attrs().HardwareAddr, eth0.Attrs().Flags)
	}
	if routes, _ := h.RouteList(eth0, netlink.FAMILY_V4); !hasRoute(routes, ip(14, 0)+"/24", ip(13, 1)) {
		t.Errorf("guest routes: %v", routes)
	}
	if eth2, err := h.LinkByName("eth2"); err != nil || eth2.Attrs().Flags&net.FlagUp != 0 {
		t.Errorf("eth2 should exist and be down: %v", err)
	}
	ext0, err := h.LinkByName("ext0")
	if err != nil {
		t.Fatal(err)
	}
	if addrs, _ := h.AddrList(ext0, netlink.FAMILY_V4); len(addrs) != 1 || addrs[0].IPNet.String() != ip(16, 2)+"/24" {
		t.Errorf("ext0 addresses: %v", addrs)
	}

	// And traffic flows: the container reaches the host over the bridge.
	con := openConsole(t, c.ConsolePaths()[0])
	defer con.close()
	if got := con.run("ip addr show eth0 | grep -c " + ip(13, 2) + "/24; ping -c 1 -W 5 " + ip(13, 1) + " >/dev/null && echo pong"); got != "1\r\npong" {
		t.Errorf("inside: %q", got)
	}
}

func hasRoute(routes []netlink.Route, dst, gw string) bool {
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() == dst && r.Gw.String() == gw {
			return true
		}
	}
	return false
}

func TestUserNamespace(t *testing.T) {
	e := newEnv(t)
	chownTree(t, e.root, 100000, 100000)
	spec := e.spec("/bin/sh")
	spec.UIDMap = []IDMap{{Start: 0, Target: 100000, Count: 65536}}
	spec.GIDMap = []IDMap{{Start: 0, Target: 100000, Count: 65536}}
	spec.PrivNet = true
	// libvirt's state directory may be private to root: the container must
	// not need to reach it.
	if err := os.MkdirAll(e.dirs.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := e.start(spec)

	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", c.InitPID()))
	if err != nil || strings.Join(strings.Fields(string(b)), " ") != "0 100000 65536" {
		t.Errorf("uid_map %q (%v)", b, err)
	}
	if got := procStatusField(c.InitPID(), "Uid"); got != "100000 100000 100000 100000" {
		t.Errorf("init's host uid %q, want 100000", got)
	}
	if a, b := nsLink(c.InitPID(), "user"), nsLink(os.Getpid(), "user"); a == b {
		t.Error("no user namespace")
	}
	// <privnet/>: an own network namespace with just a working loopback.
	if a, b := nsLink(c.InitPID(), "net"), nsLink(os.Getpid(), "net"); a == b {
		t.Error("privnet container shares the host network namespace")
	}
	con := openConsole(t, c.ConsolePaths()[0])
	defer con.close()
	if got := con.run("ls /sys/class/net; ping -c 1 -W 5 127.0.0.1 >/dev/null && echo lo-up"); got != "lo\r\nlo-up" {
		t.Errorf("privnet: %q", got)
	}
	if got := con.run("id -u; touch /root/ok && echo wrote; head -c 4 /dev/urandom | wc -c; hostname"); got != "0\r\nwrote\r\n4\r\n"+spec.Name {
		t.Errorf("inside the user namespace: %q", got)
	}
	st, err := os.Stat(e.root + "/root/ok")
	if err != nil {
		t.Fatal(err)
	}
	// Files the container's root creates belong to the mapped host uid.
	if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 100000 {
		t.Errorf("file created inside is owned by host uid %d, want 100000", uid)
	}
}
