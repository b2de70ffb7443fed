package controller

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/virtlxcd/virtlxcd/pkg/cgroup"
)

// The daemon changes a running container's cgroup itself: freezing and
// tuning need no help from the controller, and so work with controllers
// of any protocol version.

// Freeze stops every process of the container.
func (c *Container) Freeze() error {
	if !c.running() {
		return errors.New("container is not running")
	}
	return c.cg.Freeze()
}

// Thaw lets a frozen container run again.
func (c *Container) Thaw() error { return c.cg.Thaw() }

// Frozen reports whether the container is frozen.
func (c *Container) Frozen() (bool, error) { return c.cg.Frozen() }

// HasController reports whether the container's cgroup has subsys.
func (c *Container) HasController(subsys string) bool { return c.cg.HasController(subsys) }

// SetTunable writes one cgroup knob of the container.
func (c *Container) SetTunable(k cgroup.Knob, v int64) error {
	if err := c.cg.Set(k, v); err != nil {
		return fmt.Errorf("container %s: %w", c.st.Name, err)
	}
	return nil
}

// Tunable reads one cgroup knob of the container.
func (c *Container) Tunable(k cgroup.Knob) (int64, error) {
	v, err := c.cg.Get(k)
	if err != nil {
		return 0, fmt.Errorf("container %s: %w", c.st.Name, err)
	}
	return v, nil
}

// BlkioWeight reads the container's block I/O weight.
func (c *Container) BlkioWeight() (uint64, error) { return c.cg.BlkioWeight() }

// SetBlkioWeight writes the container's block I/O weight.
func (c *Container) SetBlkioWeight(w uint64) error { return c.cg.SetBlkioWeight(w) }

// SetDeviceBlkio writes one per-device block I/O setting.
func (c *Container) SetDeviceBlkio(k cgroup.BlkioKind, major, minor uint32, v uint64) error {
	return c.cg.SetDeviceBlkio(k, major, minor, v)
}

// DeviceBlkio reads one per-device block I/O setting.
func (c *Container) DeviceBlkio(k cgroup.BlkioKind, major, minor uint32) (uint64, error) {
	return c.cg.DeviceBlkio(k, major, minor)
}

// applyBlkio puts the spec's block I/O settings on a new group. Like
// libvirt, a start fails when the host cannot honour them.
func applyBlkio(g *cgroup.Group, s *Spec) error {
	if s.BlkioWeight == 0 && len(s.BlkioDevices) == 0 {
		return nil
	}
	if !g.HasController("blkio") {
		return errors.New("Block I/O tuning is not available on this host")
	}
	if s.BlkioWeight != 0 {
		if err := g.SetBlkioWeight(s.BlkioWeight); err != nil {
			if errors.Is(err, cgroup.ErrNoBlkioWeight) {
				return errors.New("blkio device weight is valid only for bfq or cfq scheduler")
			}
			return fmt.Errorf("set blkio weight: %w", err)
		}
	}
	for _, d := range s.BlkioDevices {
		var st unix.Stat_t
		if err := unix.Stat(d.Path, &st); err != nil {
			return fmt.Errorf("Unable to stat '%s': %w", d.Path, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFBLK {
			return fmt.Errorf("Path '%s' must be a block device", d.Path)
		}
		major, minor := unix.Major(st.Rdev), unix.Minor(st.Rdev)
		for _, v := range []struct {
			kind  cgroup.BlkioKind
			value uint64
		}{
			{cgroup.DeviceWeight, d.Weight}, {cgroup.DeviceReadIOPS, d.ReadIOPS}, {cgroup.DeviceWriteIOPS, d.WriteIOPS},
			{cgroup.DeviceReadBPS, d.ReadBPS}, {cgroup.DeviceWriteBPS, d.WriteBPS},
		} {
			if v.value == 0 {
				continue
			}
			if err := g.SetDeviceBlkio(v.kind, major, minor, v.value); err != nil {
				if errors.Is(err, cgroup.ErrNoBlkioWeight) {
					return errors.New("blkio device weight is valid only for bfq or cfq scheduler")
				}
				return fmt.Errorf("blkio setting of %s: %w", d.Path, err)
			}
		}
	}
	return nil
}
