package lxc

import (
	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/cgroup"
	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/typedparam"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// Typed parameter names of the tuning calls (libvirt-domain.h).
const (
	paramHardLimit     = "hard_limit"
	paramSoftLimit     = "soft_limit"
	paramSwapHardLimit = "swap_hard_limit"
	paramCPUShares     = "cpu_shares"
	paramVCPUPeriod    = "vcpu_period"
	paramVCPUQuota     = "vcpu_quota"
)

// Ranges libvirt enforces before writing the CFS knobs.
const (
	cpuPeriodMin = 1000
	cpuPeriodMax = 1000000
	cpuQuotaMin  = 1000
	cpuQuotaMax  = 17592186044415
)

// modification is a setter's target, chosen by its AFFECT_* flags with
// m.op held: the running container (c non-nil) and/or the persistent
// definition (conf).
type modification struct {
	m    *dom
	c    container
	conf bool
}

// beginModify takes m.op and resolves the flags; the caller must call
// end.
func (d *Driver) beginModify(ref domain.Ref, flags uint32) (*modification, error) {
	m, err := d.lockOp(ref)
	if err != nil {
		return nil, err
	}
	d.mu.RLock()
	live, conf, err := pickDef(m, flags)
	c := m.cont
	d.mu.RUnlock()
	if err != nil {
		m.op.Unlock()
		return nil, err
	}
	mod := &modification{m: m, conf: conf}
	if live {
		mod.c = c
	}
	return mod, nil
}

func (mod *modification) end() { mod.m.op.Unlock() }

// changeLive applies change to the live definition and saves the status
// file; m.op is held.
func (d *Driver) changeLive(mod *modification, change func(*libvirtxml.Domain)) {
	d.mu.Lock()
	change(mod.m.live)
	d.mu.Unlock()
	d.saveStatus(mod.m, mod.c)
}

// cgroupError words a failed cgroup write as libvirt's cgroup code does.
func cgroupError(err error) error {
	return virterror.New(virterror.SystemError, virterror.FromCgroup, "%v", err)
}

var memoryParams = map[string]typedparam.ParamType{
	paramHardLimit:     typedparam.ParamULLong,
	paramSoftLimit:     typedparam.ParamULLong,
	paramSwapHardLimit: typedparam.ParamULLong,
}

// memLimit returns a memtune limit of def in KiB, unlimited when unset.
func memLimit(def *libvirtxml.Domain, field string) uint64 {
	mt := def.MemoryTune
	if mt == nil {
		return unlimitedKiB
	}
	l := map[string]*libvirtxml.DomainMemoryTuneLimit{
		paramHardLimit: mt.HardLimit, paramSoftLimit: mt.SoftLimit, paramSwapHardLimit: mt.SwapHardLimit,
	}[field]
	if l == nil {
		return unlimitedKiB
	}
	return l.Value // Normalize converted every limit to KiB
}

// setMemLimit records a memtune limit in def; unlimited removes it, as
// libvirt only writes the limits that are set.
func setMemLimit(def *libvirtxml.Domain, field string, kib uint64) {
	if def.MemoryTune == nil {
		def.MemoryTune = &libvirtxml.DomainMemoryTune{}
	}
	var l *libvirtxml.DomainMemoryTuneLimit
	if kib < unlimitedKiB {
		l = &libvirtxml.DomainMemoryTuneLimit{Value: kib, Unit: "KiB"}
	}
	switch field {
	case paramHardLimit:
		def.MemoryTune.HardLimit = l
	case paramSoftLimit:
		def.MemoryTune.SoftLimit = l
	case paramSwapHardLimit:
		def.MemoryTune.SwapHardLimit = l
	}
	mt := def.MemoryTune
	if mt.HardLimit == nil && mt.SoftLimit == nil && mt.SwapHardLimit == nil && mt.MinGuarantee == nil {
		def.MemoryTune = nil
	}
}

// memKnobs maps the memtune parameters to the cgroup.
var memKnobs = map[string]cgroup.Knob{
	paramHardLimit:     cgroup.MemoryHard,
	paramSoftLimit:     cgroup.MemorySoft,
	paramSwapHardLimit: cgroup.MemorySwap,
}

// SetMemoryParameters changes hard, soft and swap limits (KiB) of the
// running container and/or the persistent definition, with libvirt's
// checks and its order of cgroup writes.
func (d *Driver) SetMemoryParameters(ref domain.Ref, params []typedparam.Param, flags uint32) error {
	if err := checkFlags(flags, domain.AffectLive|domain.AffectConfig, "lxcDomainSetMemoryParameters"); err != nil {
		return err
	}
	if err := typedparam.Validate(params, memoryParams); err != nil {
		return err
	}
	mod, err := d.beginModify(ref, flags)
	if err != nil {
		return err
	}
	defer mod.end()
	if mod.c != nil && !mod.c.HasController("memory") {
		return virterror.New(virterror.OperationInvalid, virterror.FromLXC, "cgroup memory controller is not mounted")
	}
	want := map[string]uint64{}
	for _, p := range params {
		want[p.Field] = p.ULLong
	}
	_, setHard := want[paramHardLimit]
	_, setSwap := want[paramSwapHardLimit]
	d.mu.RLock()
	cur := mod.m.cur()
	hard, swap := memLimit(cur, paramHardLimit), memLimit(cur, paramSwapHardLimit)
	d.mu.RUnlock()
	if setHard || setSwap {
		newHard, newSwap := hard, swap
		if setHard {
			newHard = want[paramHardLimit]
		}
		if setSwap {
			newSwap = want[paramSwapHardLimit]
		}
		if newHard > newSwap {
			return virterror.New(virterror.InvalidArg, virterror.FromLXC,
				"memory hard_limit tunable value must be lower than or equal to swap_hard_limit")
		}
	}
	if mod.c != nil {
		// The soft limit is independent; a hard limit that shrinks goes
		// before the swap limit, one that grows after it, so that the
		// kernel never sees hard > memory+swap.
		order := []string{paramSoftLimit, paramHardLimit, paramSwapHardLimit}
		if !setHard || want[paramHardLimit] >= hard {
			order = []string{paramSoftLimit, paramSwapHardLimit, paramHardLimit}
		}
		for _, field := range order {
			kib, ok := want[field]
			if !ok {
				continue
			}
			if kib > unlimitedKiB {
				return virterror.New(virterror.InvalidArg, virterror.FromCgroup,
					"Memory '%d' must be less than %d", kib, uint64(unlimitedKiB))
			}
			v := int64(-1)
			if kib < unlimitedKiB {
				v = int64(kib) * 1024
			}
			if err := mod.c.SetTunable(memKnobs[field], v); err != nil {
				return cgroupError(err)
			}
			d.changeLive(mod, func(def *libvirtxml.Domain) { setMemLimit(def, field, kib) })
		}
	}
	if mod.conf {
		return d.updateConf(mod.m, func(def *libvirtxml.Domain) {
			for field, kib := range want {
				setMemLimit(def, field, kib)
			}
		})
	}
	return nil
}

var schedulerParams = map[string]typedparam.ParamType{
	paramCPUShares:  typedparam.ParamULLong,
	paramVCPUPeriod: typedparam.ParamULLong,
	paramVCPUQuota:  typedparam.ParamLLong,
}

// SetSchedulerParameters changes cpu shares and the CFS period and quota.
// Live, a zero period or quota leaves the knob alone, as in libvirt; in
// the persistent definition zero removes the setting.
func (d *Driver) SetSchedulerParameters(ref domain.Ref, params []typedparam.Param, flags uint32) error {
	if err := checkFlags(flags, domain.AffectLive|domain.AffectConfig, "lxcDomainSetSchedulerParametersFlags"); err != nil {
		return err
	}
	if err := typedparam.Validate(params, schedulerParams); err != nil {
		return err
	}
	mod, err := d.beginModify(ref, flags)
	if err != nil {
		return err
	}
	defer mod.end()
	if mod.c != nil && !mod.c.HasController("cpu") {
		return virterror.New(virterror.OperationInvalid, virterror.FromLXC, "cgroup CPU controller is not mounted")
	}
	if mod.c != nil {
		for _, p := range params {
			if err := d.setSchedLive(mod, p); err != nil {
				return err
			}
		}
	}
	if mod.conf {
		return d.updateConf(mod.m, func(def *libvirtxml.Domain) {
			for _, p := range params {
				setSched(def, p, true)
			}
		})
	}
	return nil
}

func (d *Driver) setSchedLive(mod *modification, p typedparam.Param) error {
	switch p.Field {
	case paramCPUShares:
		if err := mod.c.SetTunable(cgroup.CPUShares, int64(p.ULLong)); err != nil {
			return cgroupError(err)
		}
	case paramVCPUPeriod:
		if p.ULLong == 0 {
			return nil
		}
		if p.ULLong < cpuPeriodMin || p.ULLong > cpuPeriodMax {
			return virterror.New(virterror.InvalidArg, virterror.FromCgroup,
				"cfs_period '%d' must be in range (%d, %d)", p.ULLong, cpuPeriodMin, cpuPeriodMax)
		}
		if err := mod.c.SetTunable(cgroup.CPUPeriod, int64(p.ULLong)); err != nil {
			return cgroupError(err)
		}
	case paramVCPUQuota:
		if p.LLong == 0 {
			return nil
		}
		if p.LLong >= 0 && (p.LLong < cpuQuotaMin || p.LLong > cpuQuotaMax) {
			return virterror.New(virterror.InvalidArg, virterror.FromCgroup,
				"cfs_quota '%d' must be in range (%d, %d)", p.LLong, cpuQuotaMin, int64(cpuQuotaMax))
		}
		if err := mod.c.SetTunable(cgroup.CPUQuota, p.LLong); err != nil {
			return cgroupError(err)
		}
	}
	d.changeLive(mod, func(def *libvirtxml.Domain) { setSched(def, p, false) })
	return nil
}

// setSched records one scheduler parameter in def; zeroClears says
// whether a zero period or quota removes the setting.
func setSched(def *libvirtxml.Domain, p typedparam.Param, zeroClears bool) {
	if def.CPUTune == nil {
		def.CPUTune = &libvirtxml.DomainCPUTune{}
	}
	ct := def.CPUTune
	switch p.Field {
	case paramCPUShares:
		ct.Shares = &libvirtxml.DomainCPUTuneShares{Value: uint(p.ULLong)}
	case paramVCPUPeriod:
		if p.ULLong != 0 {
			ct.Period = &libvirtxml.DomainCPUTunePeriod{Value: p.ULLong}
		} else if zeroClears {
			ct.Period = nil
		}
	case paramVCPUQuota:
		if p.LLong != 0 {
			ct.Quota = &libvirtxml.DomainCPUTuneQuota{Value: p.LLong}
		} else if zeroClears {
			ct.Quota = nil
		}
	}
	if ct.Shares == nil && ct.Period == nil && ct.Quota == nil && isEmptyCPUTune(ct) {
		def.CPUTune = nil
	}
}

func isEmptyCPUTune(ct *libvirtxml.DomainCPUTune) bool {
	return ct.GlobalPeriod == nil && ct.GlobalQuota == nil && ct.EmulatorPeriod == nil &&
		ct.EmulatorQuota == nil && ct.IOThreadPeriod == nil && ct.IOThreadQuota == nil && len(ct.VCPUPin) == 0 &&
		ct.EmulatorPin == nil && len(ct.IOThreadPin) == 0 && len(ct.VCPUSched) == 0 && ct.EmulatorSched == nil &&
		len(ct.IOThreadSched) == 0 && len(ct.CacheTune) == 0 && len(ct.MemoryTune) == 0 && len(ct.EnergyTune) == 0
}
