package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
)

// BlkioKind is one per-device block I/O setting.
type BlkioKind int

const (
	DeviceWeight BlkioKind = iota
	DeviceReadIOPS
	DeviceWriteIOPS
	DeviceReadBPS
	DeviceWriteBPS
)

// ErrNoBlkioWeight means the kernel offers no proportional weight for the
// group: only the bfq (and formerly cfq) schedulers provide it.
var ErrNoBlkioWeight = errors.New("no blkio weight file")

// v1 throttle files, and the key of each in v2's io.max.
var blkioFiles = map[BlkioKind]struct{ v1, v2key string }{
	DeviceReadIOPS:  {"blkio.throttle.read_iops_device", "riops"},
	DeviceWriteIOPS: {"blkio.throttle.write_iops_device", "wiops"},
	DeviceReadBPS:   {"blkio.throttle.read_bps_device", "rbps"},
	DeviceWriteBPS:  {"blkio.throttle.write_bps_device", "wbps"},
}

// weightFile finds the first existing weight file of the group (bfq's
// first, as libvirt looks); device selects the per-device variant.
func (g *Group) weightFile(device bool) (string, error) {
	dir := g.Dir("blkio")
	if dir == "" {
		return "", fmt.Errorf("cgroup %s has no blkio controller", g.path)
	}
	names := []string{"blkio.bfq.weight", "blkio.weight"}
	if cgroups.IsCgroup2UnifiedMode() {
		names = []string{"io.bfq.weight", "io.weight"}
	}
	for _, n := range names {
		if device {
			n += "_device"
			if cgroups.IsCgroup2UnifiedMode() {
				n = strings.TrimSuffix(n, "_device") // v2 takes "maj:min w" in the same file
			}
		}
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBlkioWeight
}

// BlkioWeight reads the group's proportional weight.
func (g *Group) BlkioWeight() (uint64, error) {
	p, err := g.weightFile(false)
	if err != nil {
		return 0, err
	}
	s, err := cgroups.ReadFile(filepath.Dir(p), filepath.Base(p))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, fmt.Errorf("%s is empty", p)
	}
	// v2 prints "default N".
	return strconv.ParseUint(f[len(f)-1], 10, 64)
}

// SetBlkioWeight writes the group's proportional weight.
func (g *Group) SetBlkioWeight(w uint64) error {
	p, err := g.weightFile(false)
	if err != nil {
		return err
	}
	return cgroups.WriteFile(filepath.Dir(p), filepath.Base(p), strconv.FormatUint(w, 10))
}

// SetDeviceBlkio sets one per-device setting; 0 removes the throttle.
func (g *Group) SetDeviceBlkio(k BlkioKind, major, minor uint32, v uint64) error {
	dev := fmt.Sprintf("%d:%d", major, minor)
	if k == DeviceWeight {
		p, err := g.weightFile(true)
		if err != nil {
			return err
		}
		return cgroups.WriteFile(filepath.Dir(p), filepath.Base(p), dev+" "+strconv.FormatUint(v, 10))
	}
	dir := g.Dir("blkio")
	if dir == "" {
		return fmt.Errorf("cgroup %s has no blkio controller", g.path)
	}
	f := blkioFiles[k]
	if cgroups.IsCgroup2UnifiedMode() {
		val := "max"
		if v != 0 {
			val = strconv.FormatUint(v, 10)
		}
		return cgroups.WriteFile(dir, "io.max", dev+" "+f.v2key+"="+val)
	}
	return cgroups.WriteFile(dir, f.v1, dev+" "+strconv.FormatUint(v, 10))
}

// DeviceBlkio reads one per-device setting back (0 = none).
func (g *Group) DeviceBlkio(k BlkioKind, major, minor uint32) (uint64, error) {
	dev := fmt.Sprintf("%d:%d", major, minor)
	var dir, file, key string
	if k == DeviceWeight {
		p, err := g.weightFile(true)
		if err != nil {
			return 0, err
		}
		dir, file = filepath.Dir(p), filepath.Base(p)
	} else {
		dir = g.Dir("blkio")
		file = blkioFiles[k].v1
		if cgroups.IsCgroup2UnifiedMode() {
			file, key = "io.max", blkioFiles[k].v2key+"="
		}
	}
	s, err := cgroups.ReadFile(dir, file)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != dev {
			continue
		}
		if key == "" {
			return strconv.ParseUint(f[1], 10, 64)
		}
		for _, kv := range f[1:] {
			if v, ok := strings.CutPrefix(kv, key); ok {
				if v == "max" {
					return 0, nil
				}
				return strconv.ParseUint(v, 10, 64)
			}
		}
	}
	return 0, nil
}
