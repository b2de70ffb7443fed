package lxc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/cgroup"
	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/typedparam"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// Typed parameter names of blkiotune.
const (
	paramBlkioWeight = "weight"
	paramDevWeight   = "device_weight"
	paramDevRIOPS    = "device_read_iops_sec"
	paramDevWIOPS    = "device_write_iops_sec"
	paramDevRBPS     = "device_read_bytes_sec"
	paramDevWBPS     = "device_write_bytes_sec"
)

// blkioDeviceParams are the per-device parameters in libvirt's order,
// with the cgroup setting and the definition field of each.
var blkioDeviceParams = []struct {
	name  string
	kind  cgroup.BlkioKind
	field func(*libvirtxml.DomainBlockIOTuneDevice) *uint
}{
	{paramDevWeight, cgroup.DeviceWeight, func(d *libvirtxml.DomainBlockIOTuneDevice) *uint { return &d.Weight }},
	{paramDevRIOPS, cgroup.DeviceReadIOPS, func(d *libvirtxml.DomainBlockIOTuneDevice) *uint { return &d.ReadIopsSec }},
	{paramDevWIOPS, cgroup.DeviceWriteIOPS, func(d *libvirtxml.DomainBlockIOTuneDevice) *uint { return &d.WriteIopsSec }},
	{paramDevRBPS, cgroup.DeviceReadBPS, func(d *libvirtxml.DomainBlockIOTuneDevice) *uint { return &d.ReadBytesSec }},
	{paramDevWBPS, cgroup.DeviceWriteBPS, func(d *libvirtxml.DomainBlockIOTuneDevice) *uint { return &d.WriteBytesSec }},
}

// blkioParamCount is LXC_NB_BLKIO_PARAM.
const blkioParamCount = 6

var blkioParams = map[string]typedparam.ParamType{
	paramBlkioWeight: typedparam.ParamUint,
	paramDevWeight:   typedparam.ParamString,
	paramDevRIOPS:    typedparam.ParamString,
	paramDevWIOPS:    typedparam.ParamString,
	paramDevRBPS:     typedparam.ParamString,
	paramDevWBPS:     typedparam.ParamString,
}

func blkioDevice(p typedparam.Param) (kind cgroup.BlkioKind, field func(*libvirtxml.DomainBlockIOTuneDevice) *uint, ok bool) {
	for _, b := range blkioDeviceParams {
		if b.name == p.Field {
			return b.kind, b.field, true
		}
	}
	return 0, nil, false
}

// BlkioParameters reports weight and the per-device settings; with
// nparams 0 only how many there are.
func (d *Driver) BlkioParameters(ref domain.Ref, nparams int, flags uint32) ([]typedparam.Param, int, error) {
	if err := checkFlags(flags, domain.AffectLive|domain.AffectConfig|typedParamStringOkay, "lxcDomainGetBlkioParameters"); err != nil {
		return nil, 0, err
	}
	flags &^= typedParamStringOkay
	var def *libvirtxml.Domain
	var c container
	err := d.view(ref, func(m *dom) error {
		if nparams == 0 {
			return nil
		}
		live, _, err := pickDef(m, flags)
		if err != nil {
			return err
		}
		def = m.conf
		if live {
			def, c = m.live, m.cont
		}
		return nil
	})
	if err != nil || nparams == 0 {
		return nil, blkioParamCount, err
	}
	var weight uint64
	d.mu.RLock()
	if def.BlockIOTune != nil {
		weight = uint64(def.BlockIOTune.Weight)
	}
	d.mu.RUnlock()
	if c != nil {
		if !c.HasController("blkio") {
			return nil, 0, virterror.New(virterror.OperationInvalid, virterror.FromLXC, "blkio cgroup isn't mounted")
		}
		if weight, err = c.BlkioWeight(); err != nil {
			return nil, 0, blkioError(err)
		}
	}
	out := []typedparam.Param{typedparam.UintParam(paramBlkioWeight, uint(weight))}
	d.mu.RLock()
	for _, b := range blkioDeviceParams {
		var parts []string
		if def.BlockIOTune != nil {
			for i := range def.BlockIOTune.Device {
				dev := &def.BlockIOTune.Device[i]
				if v := *b.field(dev); v != 0 {
					parts = append(parts, dev.Path, strconv.FormatUint(uint64(v), 10))
				}
			}
		}
		out = append(out, typedparam.StringParam(b.name, strings.Join(parts, ",")))
	}
	d.mu.RUnlock()
	return out[:min(nparams, len(out))], min(nparams, len(out)), nil
}

func blkioError(err error) error {
	if errors.Is(err, cgroup.ErrNoBlkioWeight) {
		return virterror.New(virterror.OperationInvalid, virterror.FromCgroup, "blkio device weight is valid only for bfq or cfq scheduler")
	}
	var ve *virterror.Error
	if errors.As(err, &ve) {
		return ve
	}
	return cgroupError(err)
}

// blkioEntry is one "path,value" pair of a device parameter.
type blkioEntry struct {
	path  string
	value uint64
}

// parseBlkioDevices reads libvirt's "path,value[,path,value...]" form.
func parseBlkioDevices(field, s string) ([]blkioEntry, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts)%2 != 0 {
		return nil, virterror.New(virterror.InvalidArg, virterror.FromDomain, "unable to parse blkio device '%s' '%s'", field, s)
	}
	bits := 32
	if field == paramDevRBPS || field == paramDevWBPS {
		bits = 64
	}
	var out []blkioEntry
	for i := 0; i < len(parts); i += 2 {
		v, err := strconv.ParseUint(parts[i+1], 10, bits)
		if err != nil {
			return nil, virterror.New(virterror.InvalidArg, virterror.FromDomain,
				"invalid value '%s' for parameter '%s' of device '%s'", strings.Join(parts[i+1:], ","), field, parts[i])
		}
		out = append(out, blkioEntry{parts[i], v})
	}
	return out, nil
}

// blockDevice returns the major and minor numbers of a block device node.
func blockDevice(path string) (uint32, uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, virterror.New(virterror.SystemError, virterror.FromCgroup, "Unable to stat '%s': %v", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, 0, virterror.New(virterror.OperationInvalid, virterror.FromCgroup, "Path '%s' must be a block device", path)
	}
	return unix.Major(st.Rdev), unix.Minor(st.Rdev), nil
}

// mergeBlkio records the entries of one device parameter in def, by
// path; devices left with no setting are dropped.
func mergeBlkio(def *libvirtxml.Domain, field func(*libvirtxml.DomainBlockIOTuneDevice) *uint, entries []blkioEntry) {
	if def.BlockIOTune == nil {
		def.BlockIOTune = &libvirtxml.DomainBlockIOTune{}
	}
	bt := def.BlockIOTune
next:
	for _, e := range entries {
		for i := range bt.Device {
			if bt.Device[i].Path == e.path {
				*field(&bt.Device[i]) = uint(e.value)
				continue next
			}
		}
		dev := libvirtxml.DomainBlockIOTuneDevice{Path: e.path}
		*field(&dev) = uint(e.value)
		bt.Device = append(bt.Device, dev)
	}
	kept := bt.Device[:0]
	for _, dev := range bt.Device {
		if dev.Weight != 0 || dev.ReadIopsSec != 0 || dev.WriteIopsSec != 0 || dev.ReadBytesSec != 0 || dev.WriteBytesSec != 0 {
			kept = append(kept, dev)
		}
	}
	bt.Device = kept
	if bt.Weight == 0 && len(bt.Device) == 0 {
		def.BlockIOTune = nil
	}
}

func setBlkioWeight(def *libvirtxml.Domain, w uint) {
	if def.BlockIOTune == nil {
		def.BlockIOTune = &libvirtxml.DomainBlockIOTune{}
	}
	def.BlockIOTune.Weight = w
	if w == 0 && len(def.BlockIOTune.Device) == 0 {
		def.BlockIOTune = nil
	}
}

// SetBlkioParameters changes weight and per-device throttles of the
// running container (read back from the cgroup, as libvirt records them)
// and/or the persistent definition.
func (d *Driver) SetBlkioParameters(ref domain.Ref, params []typedparam.Param, flags uint32) error {
	if err := checkFlags(flags, domain.AffectLive|domain.AffectConfig, "lxcDomainSetBlkioParameters"); err != nil {
		return err
	}
	if err := typedparam.Validate(params, blkioParams); err != nil {
		return err
	}
	mod, err := d.beginModify(ref, flags)
	if err != nil {
		return err
	}
	defer mod.end()
	if mod.c != nil {
		if !mod.c.HasController("blkio") {
			return virterror.New(virterror.OperationInvalid, virterror.FromLXC, "blkio cgroup isn't mounted")
		}
		for _, p := range params {
			if err := d.setBlkioLive(mod, p); err != nil {
				return err
			}
		}
	}
	if !mod.conf {
		return nil
	}
	parsed := make([][]blkioEntry, len(params))
	for i, p := range params {
		if p.Field != paramBlkioWeight {
			if parsed[i], err = parseBlkioDevices(p.Field, p.Str); err != nil {
				return err
			}
		}
	}
	return d.updateConf(mod.m, func(def *libvirtxml.Domain) {
		for i, p := range params {
			if p.Field == paramBlkioWeight {
				setBlkioWeight(def, uint(p.Uint))
				continue
			}
			_, field, _ := blkioDevice(p)
			mergeBlkio(def, field, parsed[i])
		}
	})
}

func (d *Driver) setBlkioLive(mod *modification, p typedparam.Param) error {
	c := mod.c
	if p.Field == paramBlkioWeight {
		if err := c.SetBlkioWeight(uint64(p.Uint)); err != nil {
			return blkioError(err)
		}
		w, err := c.BlkioWeight()
		if err != nil {
			return blkioError(err)
		}
		d.changeLive(mod, func(def *libvirtxml.Domain) { setBlkioWeight(def, uint(w)) })
		return nil
	}
	kind, field, _ := blkioDevice(p)
	entries, err := parseBlkioDevices(p.Field, p.Str)
	if err != nil {
		return err
	}
	for i, e := range entries {
		major, minor, err := blockDevice(e.path)
		if err != nil {
			return err
		}
		if err := c.SetDeviceBlkio(kind, major, minor, e.value); err != nil {
			return blkioError(fmt.Errorf("%s of %s: %w", p.Field, e.path, err))
		}
		if entries[i].value, err = c.DeviceBlkio(kind, major, minor); err != nil {
			return blkioError(err)
		}
	}
	d.changeLive(mod, func(def *libvirtxml.Domain) { mergeBlkio(def, field, entries) })
	return nil
}
