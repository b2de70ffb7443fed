package lxc

import (
	"github.com/virtlxcd/virtlxcd/pkg/cgroup"
	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/domxml"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// unlimitedKiB is what libvirt reports for a memory limit that is not set.
const unlimitedKiB = 1<<53 - 1

// listFilters are the groups of virConnectListAllDomains flags: within a
// group a domain must match one of the given bits; a group with no bit
// set does not filter.
var listFilters = []struct {
	mask  uint32
	match func(m *dom) uint32 // the bit of the group this domain has
}{
	{domain.ListActive | domain.ListInactive, func(m *dom) uint32 {
		if m.active() {
			return domain.ListActive
		}
		return domain.ListInactive
	}},
	{domain.ListPersistent | domain.ListTransient, func(m *dom) uint32 {
		if m.conf != nil {
			return domain.ListPersistent
		}
		return domain.ListTransient
	}},
	{domain.ListRunning | domain.ListPaused | domain.ListShutoff | domain.ListOther, func(m *dom) uint32 {
		switch m.state {
		case domain.Running:
			return domain.ListRunning
		case domain.Paused:
			return domain.ListPaused
		case domain.Shutoff:
			return domain.ListShutoff
		}
		return domain.ListOther
	}},
	// The LXC driver has no managed save, snapshots or checkpoints.
	{domain.ListManagedSave | domain.ListNoManaged, func(*dom) uint32 { return domain.ListNoManaged }},
	{domain.ListAutostart | domain.ListNoAutostart, func(m *dom) uint32 {
		if m.autostart {
			return domain.ListAutostart
		}
		return domain.ListNoAutostart
	}},
	{domain.ListSnapshot | domain.ListNoSnapshot, func(*dom) uint32 { return domain.ListNoSnapshot }},
	{domain.ListCheckpoint | domain.ListNoCheckpt, func(*dom) uint32 { return domain.ListNoCheckpt }},
}

const listAllFlags = 1<<16 - 1

// ListAllDomains returns the domains matching flags.
func (d *Driver) ListAllDomains(flags uint32) ([]domain.Ref, error) {
	if err := checkFlags(flags, listAllFlags, "lxcConnectListAllDomains"); err != nil {
		return nil, err
	}
	var active []func(*dom) uint32
	var masks []uint32
	for _, f := range listFilters {
		if flags&f.mask != 0 {
			active = append(active, f.match)
			masks = append(masks, flags&f.mask)
		}
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]domain.Ref, 0, len(d.byUUID))
next:
	for _, m := range d.byUUID {
		for i, match := range active {
			if match(m)&masks[i] == 0 {
				continue next
			}
		}
		out = append(out, m.ref)
	}
	return out, nil
}

// NumOfDomains counts running domains.
func (d *Driver) NumOfDomains() (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.active, nil
}

// ListDomainIDs returns up to max ids of running domains.
func (d *Driver) ListDomainIDs(max int) ([]int32, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]int32, 0, min(max, len(d.byID)))
	for id := range d.byID {
		if len(out) >= max {
			break
		}
		out = append(out, id)
	}
	return out, nil
}

// NumOfDefinedDomains counts inactive persistent domains.
func (d *Driver) NumOfDefinedDomains() (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	n := 0
	for _, m := range d.byUUID {
		if !m.active() && m.conf != nil {
			n++
		}
	}
	return n, nil
}

// ListDefinedDomains returns up to max names of inactive domains.
func (d *Driver) ListDefinedDomains(max int) ([]string, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]string, 0, min(max, len(d.byUUID)-d.active))
	for _, m := range d.byUUID {
		if len(out) >= max {
			break
		}
		if !m.active() && m.conf != nil {
			out = append(out, m.ref.Name)
		}
	}
	return out, nil
}

// LookupByName finds a domain by name.
func (d *Driver) LookupByName(name string) (domain.Ref, error) {
	d.mu.RLock()
	m := d.byName[name]
	var ref domain.Ref
	if m != nil {
		ref = m.ref
	}
	d.mu.RUnlock()
	if m == nil {
		return ref, virterror.New(virterror.NoDomain, virterror.FromLXC, "No domain with matching name '%s'", name)
	}
	return ref, nil
}

// LookupByUUID finds a domain by uuid.
func (d *Driver) LookupByUUID(uuid [16]byte) (domain.Ref, error) {
	d.mu.RLock()
	m := d.byUUID[uuid]
	var ref domain.Ref
	if m != nil {
		ref = m.ref
	}
	d.mu.RUnlock()
	if m == nil {
		return ref, virterror.New(virterror.NoDomain, virterror.FromLXC, "No domain with matching uuid '%s'", domxml.FormatUUID(uuid))
	}
	return ref, nil
}

// LookupByID finds a running domain by id.
func (d *Driver) LookupByID(id int32) (domain.Ref, error) {
	d.mu.RLock()
	m := d.byID[id]
	var ref domain.Ref
	if m != nil {
		ref = m.ref
	}
	d.mu.RUnlock()
	if m == nil {
		return ref, virterror.New(virterror.NoDomain, virterror.FromLXC, "No domain with matching id %d", id)
	}
	return ref, nil
}

// view runs fn on the domain under the read lock.
func (d *Driver) view(ref domain.Ref, fn func(m *dom) error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	m := d.byUUID[ref.UUID]
	if m == nil {
		return noDomain(ref)
	}
	return fn(m)
}

// GetInfo reports state, memory, vcpus and CPU time; for a running domain
// memory and CPU time come from its cgroup.
func (d *Driver) GetInfo(ref domain.Ref) (domain.Info, error) {
	for {
		var info domain.Info
		var c container
		err := d.view(ref, func(m *dom) error {
			def := m.cur()
			info = domain.Info{
				State:     m.state,
				MaxMemKiB: domxml.MemoryKiB(def),
				MemoryKiB: domxml.CurrentMemoryKiB(def),
				NrVirtCPU: domxml.VCPUs(def),
			}
			c = m.cont
			return nil
		})
		if err != nil || c == nil {
			return info, err
		}
		cpu, mem, err := c.Stats()
		if err == nil {
			info.CPUTimeNs = cpu
			info.MemoryKiB = mem / 1024
			return info, nil
		}
		// The container may have stopped between the two steps; then the
		// answer is the shut-off domain's.
		stillRunning := false
		d.view(ref, func(m *dom) error {
			stillRunning = m.cont == c
			return nil
		})
		if stillRunning {
			return info, virterror.New(virterror.OperationFailed, virterror.FromLXC, "Cannot read cputime for domain")
		}
	}
}

// GetState reports the state and its reason.
func (d *Driver) GetState(ref domain.Ref, flags uint32) (domain.State, int32, error) {
	if err := checkFlags(flags, 0, "lxcDomainGetState"); err != nil {
		return 0, 0, err
	}
	var st domain.State
	var reason int32
	err := d.view(ref, func(m *dom) error {
		st, reason = m.state, m.reason
		return nil
	})
	return st, reason, err
}

// GetXMLDesc formats the live definition, or with XMLInactive the
// persistent one.
func (d *Driver) GetXMLDesc(ref domain.Ref, flags uint32) (string, error) {
	if err := checkFlags(flags, domain.XMLSecure|domain.XMLInactive|domain.XMLMigratable, "lxcDomainGetXMLDesc"); err != nil {
		return "", err
	}
	// MIGRATABLE alone still formats the live definition, as libvirt's
	// lxcDomainGetXMLDesc does; only INACTIVE selects the next-boot one.
	inactive := flags&domain.XMLInactive != 0
	var out string
	err := d.view(ref, func(m *dom) error {
		def := m.cur()
		if inactive && m.conf != nil {
			def = m.conf
		}
		s, err := domxml.Format(def, inactive)
		if err != nil {
			return virterror.From(err, virterror.FromLXC)
		}
		out = s
		return nil
	})
	return out, err
}

// GetOSType is always "exe" for a container, read from the definition.
func (d *Driver) GetOSType(ref domain.Ref) (string, error) {
	var t string
	err := d.view(ref, func(m *dom) error {
		t = m.cur().OS.Type.Type
		return nil
	})
	return t, err
}

// GetMaxMemory is the domain's maximum memory in KiB.
func (d *Driver) GetMaxMemory(ref domain.Ref) (uint64, error) {
	var kib uint64
	err := d.view(ref, func(m *dom) error {
		kib = domxml.MemoryKiB(m.cur())
		return nil
	})
	return kib, err
}

// GetAutostart reports the autostart flag.
func (d *Driver) GetAutostart(ref domain.Ref) (bool, error) {
	var on bool
	err := d.view(ref, func(m *dom) error {
		on = m.autostart
		return nil
	})
	return on, err
}

// IsActive reports whether the domain runs.
func (d *Driver) IsActive(ref domain.Ref) (bool, error) {
	var on bool
	err := d.view(ref, func(m *dom) error {
		on = m.active()
		return nil
	})
	return on, err
}

// IsPersistent reports whether the domain has a persistent definition.
func (d *Driver) IsPersistent(ref domain.Ref) (bool, error) {
	var on bool
	err := d.view(ref, func(m *dom) error {
		on = m.conf != nil
		return nil
	})
	return on, err
}

// IsUpdated is libvirt's "live definition differs from what was started"
// flag; it is only set by device hotplug, which this driver does not do.
func (d *Driver) IsUpdated(ref domain.Ref) (bool, error) {
	return false, d.view(ref, func(*dom) error { return nil })
}

const typedParamStringOkay = 1 << 2

// pickDef chooses the definition an AFFECT_* flag set refers to, with
// libvirt's errors.
func pickDef(m *dom, flags uint32) (live, conf bool, err error) {
	live = flags&domain.AffectLive != 0
	conf = flags&domain.AffectConfig != 0
	if !live && !conf {
		if m.active() {
			live = true
		} else {
			conf = true
		}
	}
	if live && !m.active() {
		return false, false, notRunning()
	}
	if conf && m.conf == nil {
		return false, false, virterror.New(virterror.OperationInvalid, virterror.FromDomain,
			"transient domains do not have any persistent config")
	}
	return live, conf, nil
}

// MemoryParameters reports hard, soft and swap limits in KiB. For a
// running domain the hard limit is read from its cgroup, where the start
// and every live setmem put it, as libvirt reads it.
func (d *Driver) MemoryParameters(ref domain.Ref, flags uint32) (hard, soft, swap uint64, err error) {
	if err := checkFlags(flags, domain.AffectLive|domain.AffectConfig|typedParamStringOkay, "lxcDomainGetMemoryParameters"); err != nil {
		return 0, 0, 0, err
	}
	var cgPath string
	err = d.view(ref, func(m *dom) error {
		live, _, err := pickDef(m, flags&^typedParamStringOkay)
		if err != nil {
			return err
		}
		def := m.conf
		if live {
			def = m.live
			cgPath = m.cont.CgroupPath()
		}
		hard, soft, swap = unlimitedKiB, unlimitedKiB, unlimitedKiB
		if mt := def.MemoryTune; mt != nil {
			if mt.HardLimit != nil {
				hard = mt.HardLimit.Value
			}
			if mt.SoftLimit != nil {
				soft = mt.SoftLimit.Value
			}
			if mt.SwapHardLimit != nil {
				swap = mt.SwapHardLimit.Value
			}
		}
		return nil
	})
	if err != nil || cgPath == "" {
		return hard, soft, swap, err
	}
	g, err := cgroup.Open(cgPath)
	if err == nil {
		var limit int64
		if limit, err = g.MemoryLimit(); err == nil {
			hard = unlimitedKiB
			if limit > 0 {
				hard = uint64(limit) / 1024
			}
		}
	}
	if err != nil {
		return 0, 0, 0, virterror.New(virterror.OperationFailed, virterror.FromLXC, "cannot read memory limit of domain: %v", err)
	}
	// Soft and swap limits too come from the cgroup where it has them (a
	// kernel without swap accounting has no memory+swap file).
	for knob, dst := range map[cgroup.Knob]*uint64{cgroup.MemorySoft: &soft, cgroup.MemorySwap: &swap} {
		if v, err := g.Get(knob); err == nil {
			*dst = unlimitedKiB
			if v >= 0 {
				*dst = uint64(v) / 1024
			}
		}
	}
	return hard, soft, swap, nil
}

// SchedulerParameters reports cpu shares, period and quota, with the
// kernel's defaults where the definition sets none.
func (d *Driver) SchedulerParameters(ref domain.Ref, flags uint32) (shares, period uint64, quota int64, err error) {
	if err := checkFlags(flags, domain.AffectLive|domain.AffectConfig|typedParamStringOkay, "lxcDomainGetSchedulerParametersFlags"); err != nil {
		return 0, 0, 0, err
	}
	var c container
	err = d.view(ref, func(m *dom) error {
		live, _, err := pickDef(m, flags&^typedParamStringOkay)
		if err != nil {
			return err
		}
		def := m.conf
		if live {
			def = m.live
		}
		shares, period, quota = 1024, 100000, -1
		if ct := def.CPUTune; ct != nil {
			if ct.Shares != nil {
				shares = uint64(ct.Shares.Value)
			}
			if ct.Period != nil {
				period = ct.Period.Value
			}
			if ct.Quota != nil {
				quota = ct.Quota.Value
			}
		}
		if live {
			c = m.cont
		}
		return nil
	})
	if err != nil || c == nil {
		return shares, period, quota, err
	}
	// A running domain answers from its cgroup, as libvirt does.
	if !c.HasController("cpu") {
		return 0, 0, 0, virterror.New(virterror.OperationInvalid, virterror.FromLXC, "cgroup CPU controller is not mounted")
	}
	vals := map[cgroup.Knob]int64{}
	for _, k := range []cgroup.Knob{cgroup.CPUShares, cgroup.CPUPeriod, cgroup.CPUQuota} {
		if vals[k], err = c.Tunable(k); err != nil {
			return 0, 0, 0, cgroupError(err)
		}
	}
	return uint64(vals[cgroup.CPUShares]), uint64(vals[cgroup.CPUPeriod]), vals[cgroup.CPUQuota], nil
}
