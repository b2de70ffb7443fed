// Package netdev plugs a container into the host network the way libvirt's
// LXC driver does: one veth pair per interface, the host end on the host
// (optionally enslaved to a bridge), the peer created directly inside the
// container's network namespace and configured there through a netlink
// handle bound to that namespace, so no thread ever has to enter it.
package netdev

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Veth describes one interface to create.
type Veth struct {
	Type     string // "bridge" or "ethernet"
	Bridge   string // bridge to enslave the host end to (Type "bridge")
	HostName string // "" = first free vnetN
	Guest    string // name inside the container
	MAC      string // guest MAC; "" lets the kernel choose
	// GuestAddrs are configured inside, HostAddrs on the host end (the
	// <ip peer=…> addresses of type ethernet).
	GuestAddrs  []Addr
	HostAddrs   []Addr
	GuestRoutes []Route
	HostRoutes  []Route
	Down        bool
}

// Addr is an address with prefix length and optional point-to-point peer.
type Addr struct {
	IP     string
	Prefix int
	Peer   string
}

// Route is a route via a gateway (or on-link when Gateway is empty).
type Route struct {
	Dest    string
	Prefix  int
	Gateway string
}

// Setup brings up the loopback device in the network namespace of pid (a
// new one starts with it down), creates every veth for the container and
// returns the host-side names in order. On error everything created is
// removed.
func Setup(pid int, veths []Veth) (created []Link, err error) {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return nil, fmt.Errorf("open network namespace of %d: %w", pid, err)
	}
	defer ns.Close()
	in, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in namespace of %d: %w", pid, err)
	}
	defer in.Delete()
	defer func() {
		if err != nil {
			Remove(created)
			created = nil
		}
	}()
	if lo, lerr := in.LinkByName("lo"); lerr == nil {
		if err := in.LinkSetUp(lo); err != nil {
			return nil, fmt.Errorf("set lo up: %w", err)
		}
	}
	for i, v := range veths {
		link, err := create(pid, v)
		if err != nil {
			return created, fmt.Errorf("interface %d: %w", i, err)
		}
		created = append(created, Link{Name: link.Attrs().Name, Index: link.Attrs().Index})
		if err := configure(in, link, v); err != nil {
			return created, fmt.Errorf("interface %s: %w", link.Attrs().Name, err)
		}
	}
	return created, nil
}

// Link identifies a host-side device by name and index: names of vanished
// devices are reused at once (vnetN), indexes are not.
type Link struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
}

// create adds the pair and returns the host end. Without a fixed name it
// takes the first free vnetN and retries when a concurrent start grabbed
// the same one.
func create(pid int, v Veth) (netlink.Link, error) {
	var master int
	if v.Type == "bridge" {
		br, err := netlink.LinkByName(v.Bridge)
		if err != nil {
			return nil, fmt.Errorf("bridge %q: %w", v.Bridge, err)
		}
		if _, ok := br.(*netlink.Bridge); !ok {
			return nil, fmt.Errorf("%q is not a bridge", v.Bridge)
		}
		master = br.Attrs().Index
	}
	var mac net.HardwareAddr
	if v.MAC != "" {
		m, err := net.ParseMAC(v.MAC)
		if err != nil {
			return nil, fmt.Errorf("mac %q: %w", v.MAC, err)
		}
		mac = m
	}
	for attempt := 0; attempt < 16; attempt++ {
		name := v.HostName
		if name == "" {
			n, err := freeVnet()
			if err != nil {
				return nil, err
			}
			name = n
		}
		la := netlink.NewLinkAttrs()
		la.Name = name
		la.MasterIndex = master
		veth := &netlink.Veth{
			LinkAttrs:        la,
			PeerName:         v.Guest,
			PeerHardwareAddr: mac,
			PeerNamespace:    netlink.NsPid(pid),
		}
		err := netlink.LinkAdd(veth)
		if errors.Is(err, unix.EEXIST) && v.HostName == "" {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create veth %s/%s: %w", name, v.Guest, err)
		}
		l, err := netlink.LinkByName(name)
		if err != nil {
			return nil, fmt.Errorf("created veth %s: %w", name, err)
		}
		return l, nil
	}
	return nil, errors.New("no free vnetN name after 16 attempts")
}

func freeVnet() (string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return "", fmt.Errorf("list links: %w", err)
	}
	used := map[int]bool{}
	for _, l := range links {
		if n, ok := strings.CutPrefix(l.Attrs().Name, "vnet"); ok {
			if i, err := strconv.Atoi(n); err == nil {
				used[i] = true
			}
		}
	}
	for i := 0; ; i++ {
		if !used[i] {
			return "vnet" + strconv.Itoa(i), nil
		}
	}
}

func configure(in *netlink.Handle, host netlink.Link, v Veth) error {
	hostName := host.Attrs().Name
	guest, err := in.LinkByName(v.Guest)
	if err != nil {
		return fmt.Errorf("guest end %s: %w", v.Guest, err)
	}
	for _, a := range v.HostAddrs {
		if err := addAddr(nil, host, a); err != nil {
			return err
		}
	}
	for _, a := range v.GuestAddrs {
		if err := addAddr(in, guest, a); err != nil {
			return err
		}
	}
	if !v.Down {
		if err := netlink.LinkSetUp(host); err != nil {
			return fmt.Errorf("set %s up: %w", hostName, err)
		}
		if err := in.LinkSetUp(guest); err != nil {
			return fmt.Errorf("set %s up: %w", v.Guest, err)
		}
	}
	// Routes need the link up (and its addresses) to be accepted.
	for _, r := range v.HostRoutes {
		if err := addRoute(nil, host, r); err != nil {
			return err
		}
	}
	for _, r := range v.GuestRoutes {
		if err := addRoute(in, guest, r); err != nil {
			return err
		}
	}
	return nil
}

func addAddr(h *netlink.Handle, l netlink.Link, a Addr) error {
	ip := net.ParseIP(a.IP)
	if ip == nil {
		return fmt.Errorf("bad address %q", a.IP)
	}
	bits := 32
	if ip.To4() == nil {
		bits = 128
	}
	prefix := a.Prefix
	if prefix == 0 {
		prefix = bits
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(prefix, bits)}}
	if a.Peer != "" {
		peer := net.ParseIP(a.Peer)
		if peer == nil {
			return fmt.Errorf("bad peer %q", a.Peer)
		}
		addr.Peer = &net.IPNet{IP: peer, Mask: net.CIDRMask(bits, bits)}
	}
	var err error
	if h == nil {
		err = netlink.AddrAdd(l, addr)
	} else {
		err = h.AddrAdd(l, addr)
	}
	if err != nil {
		return fmt.Errorf("add %s/%d to %s: %w", a.IP, prefix, l.Attrs().Name, err)
	}
	return nil
}

func addRoute(h *netlink.Handle, l netlink.Link, r Route) error {
	dst := net.ParseIP(r.Dest)
	if dst == nil && r.Dest != "" {
		return fmt.Errorf("bad route address %q", r.Dest)
	}
	route := &netlink.Route{LinkIndex: l.Attrs().Index}
	if r.Gateway != "" {
		route.Gw = net.ParseIP(r.Gateway)
		if route.Gw == nil {
			return fmt.Errorf("bad gateway %q", r.Gateway)
		}
	} else {
		route.Scope = netlink.SCOPE_LINK
	}
	if dst != nil && !(dst.IsUnspecified() && r.Prefix == 0) {
		bits := 32
		if dst.To4() == nil {
			bits = 128
		}
		route.Dst = &net.IPNet{IP: dst, Mask: net.CIDRMask(r.Prefix, bits)}
	}
	var err error
	if h == nil {
		err = netlink.RouteAdd(route)
	} else {
		err = h.RouteAdd(route)
	}
	if err != nil {
		return fmt.Errorf("add route %s/%d via %q on %s: %w", r.Dest, r.Prefix, r.Gateway, l.Attrs().Name, err)
	}
	return nil
}

// Remove deletes host-side veths; the kernel removes each peer with it.
// Devices already gone (the namespace died first) are not an error, and a
// name now held by another device is left alone.
func Remove(links []Link) error {
	var errs []error
	for _, want := range links {
		l, err := netlink.LinkByIndex(want.Index)
		if err != nil || l.Attrs().Name != want.Name {
			continue
		}
		if _, ok := l.(*netlink.Veth); !ok {
			continue
		}
		if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("delete %s: %w", want.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Names lists the names of links.
func Names(links []Link) []string {
	var out []string
	for _, l := range links {
		out = append(out, l.Name)
	}
	return out
}
