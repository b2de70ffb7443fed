package netdev

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
)

// Counters are a host interface's traffic counters as the kernel keeps
// them (seen from the host: rx = received by this end).
type Counters struct {
	RxBytes, RxPackets, RxErrs, RxDrop int64
	TxBytes, TxPackets, TxErrs, TxDrop int64
}

// ErrNoInterface means the interface is not in /proc/net/dev.
var ErrNoInterface = errors.New("/proc/net/dev: Interface not found")

// procNetDev is where the kernel lists interface counters; a variable so
// that the parser can be tested on a copy.
var procNetDev = "/proc/net/dev"

// ReadCounters reads the counters of the host interface name.
func ReadCounters(name string) (Counters, error) {
	f, err := os.Open(procNetDev)
	if err != nil {
		return Counters{}, fmt.Errorf("could not open %s: %w", procNetDev, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		ifname, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(ifname) != name {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 16 {
			continue
		}
		var v [16]int64
		bad := false
		for i := range v {
			if v[i], err = strconv.ParseInt(fields[i], 10, 64); err != nil {
				bad = true
				break
			}
		}
		if bad {
			continue
		}
		// Columns: rx bytes packets errs drop fifo frame compressed
		// multicast, then tx bytes packets errs drop ...
		return Counters{
			RxBytes: v[0], RxPackets: v[1], RxErrs: v[2], RxDrop: v[3],
			TxBytes: v[8], TxPackets: v[9], TxErrs: v[10], TxDrop: v[11],
		}, nil
	}
	if err := sc.Err(); err != nil {
		return Counters{}, fmt.Errorf("read %s: %w", procNetDev, err)
	}
	return Counters{}, ErrNoInterface
}

// Swapped is the view from the other end of a point-to-point link: what
// the host end sent, the guest end received.
func (c Counters) Swapped() Counters {
	return Counters{
		RxBytes: c.TxBytes, RxPackets: c.TxPackets, RxErrs: c.TxErrs, RxDrop: c.TxDrop,
		TxBytes: c.RxBytes, TxPackets: c.RxPackets, TxErrs: c.RxErrs, TxDrop: c.RxDrop,
	}
}

// Neighbour is one IPv4 entry of the host's neighbour (ARP) table.
type Neighbour struct {
	IP  string
	MAC string // lower case, colon separated
}

// ARPTable lists the host's IPv4 neighbours that are reachable or stale,
// the entries that name a live peer.
func ARPTable() ([]Neighbour, error) {
	list, err := netlink.NeighList(0, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("dump neighbour table: %w", err)
	}
	var out []Neighbour
	for _, n := range list {
		if n.State != 0 && n.State != netlink.NUD_REACHABLE && n.State != netlink.NUD_STALE {
			continue
		}
		if n.IP == nil || n.IP.To4() == nil || len(n.HardwareAddr) == 0 {
			continue
		}
		out = append(out, Neighbour{IP: n.IP.To4().String(), MAC: n.HardwareAddr.String()})
	}
	return out, nil
}
