package controller

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/virtlxcd/virtlxcd/pkg/netdev"
)

// ErrSharedNetwork means the container uses the host's network namespace,
// so there is no namespace of its own to plug an interface into.
var ErrSharedNetwork = errors.New("the container shares the host network")

// AttachInterface plugs one more veth into the running container and
// returns the name of its host end. The guest end dies with the
// container's network namespace, taking the host end along, so the
// controller needs no record of it.
func (c *Container) AttachInterface(in Interface) (string, error) {
	if !c.running() {
		return "", errors.New("container is not running")
	}
	own, err := ownNetNS(c.st.InitPID)
	if err != nil {
		return "", err
	}
	if !own {
		return "", ErrSharedNetwork
	}
	links, err := netdev.Setup(c.st.InitPID, []netdev.Veth{vethFor(0, in)})
	if err != nil {
		return "", fmt.Errorf("attach interface to %s: %w", c.st.Name, err)
	}
	return links[0].Name, nil
}

// DetachInterface removes the veth whose host end is hostName; the
// kernel removes the guest end with it.
func (c *Container) DetachInterface(hostName string) error {
	l, err := netlink.LinkByName(hostName)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("find %s: %w", hostName, err)
	}
	return netdev.Remove([]netdev.Link{{Name: hostName, Index: l.Attrs().Index}})
}

// ownNetNS reports whether pid lives in another network namespace than
// this process.
func ownNetNS(pid int) (bool, error) {
	var theirs, ours unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &theirs); err != nil {
		return false, fmt.Errorf("network namespace of %d: %w", pid, err)
	}
	if err := unix.Stat("/proc/self/ns/net", &ours); err != nil {
		return false, fmt.Errorf("own network namespace: %w", err)
	}
	return theirs.Ino != ours.Ino || theirs.Dev != ours.Dev, nil
}
