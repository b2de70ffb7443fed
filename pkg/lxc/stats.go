package lxc

import (
	"errors"
	"net"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/cgroup"
	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/domxml"
	"github.com/virtlxcd/virtlxcd/pkg/hostinfo"
	"github.com/virtlxcd/virtlxcd/pkg/netdev"
	"github.com/virtlxcd/virtlxcd/pkg/typedparam"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// fromCgroup is VIR_FROM_CGROUP, the error domain of libvirt's cgroup
// helpers.
const fromCgroup virterror.Domain = 54

// blockStatsCount is how many statistics lxcDomainBlockStatsFlags reports.
const blockStatsCount = 4

// running returns the live definition and the container of a running
// domain.
func (d *Driver) running(ref domain.Ref) (*libvirtxml.Domain, container, error) {
	var def *libvirtxml.Domain
	var c container
	err := d.view(ref, func(m *dom) error {
		if m.cont == nil || m.live == nil {
			return notRunning()
		}
		def, c = m.live, m.cont
		return nil
	})
	return def, c, err
}

// group opens the container's control group.
func group(c container) (*cgroup.Group, error) {
	g, err := cgroup.Open(c.CgroupPath())
	if err != nil {
		return nil, virterror.New(virterror.InternalError, fromCgroup, "%v", err)
	}
	return g, nil
}

// cgroupReadError words a failed counter read as libvirt's cgroup helpers
// do.
func cgroupReadError(err error) error {
	return virterror.New(virterror.SystemError, fromCgroup, "Unable to read cgroup counters: %v", err)
}

// findNet finds an interface by MAC address or host-side device name, as
// virDomainNetFind does.
func findNet(def *libvirtxml.Domain, device string) (*libvirtxml.DomainInterface, error) {
	if def.Devices != nil {
		if mac, err := net.ParseMAC(device); err == nil && len(mac) == 6 {
			for i := range def.Devices.Interfaces {
				n := &def.Devices.Interfaces[i]
				if n.MAC != nil && strings.EqualFold(n.MAC.Address, mac.String()) {
					return n, nil
				}
			}
		} else {
			for i := range def.Devices.Interfaces {
				n := &def.Devices.Interfaces[i]
				if n.Target != nil && n.Target.Dev == device {
					return n, nil
				}
			}
		}
	}
	return nil, virterror.New(virterror.InvalidArg, virterror.FromDomain, "'%s' is not a known interface", device)
}

// InterfaceStats reports an interface's traffic as the guest sees it
// (virDomainInterfaceStats). The host end of a veth counts the other way
// round, so its counters are swapped, as libvirt does for every interface
// type that does not share the host's view.
func (d *Driver) InterfaceStats(ref domain.Ref, device string) (domain.InterfaceStats, error) {
	def, _, err := d.running(ref)
	if err != nil {
		return domain.InterfaceStats{}, err
	}
	n, err := findNet(def, device)
	if err != nil {
		return domain.InterfaceStats{}, err
	}
	if n.Target == nil || n.Target.Dev == "" {
		return domain.InterfaceStats{}, virterror.New(virterror.InternalError, virterror.FromNone, "Interface name not provided")
	}
	c, err := netdev.ReadCounters(n.Target.Dev)
	if errors.Is(err, netdev.ErrNoInterface) {
		return domain.InterfaceStats{}, virterror.New(virterror.InternalError, virterror.FromNone, "%v", err)
	}
	if err != nil {
		return domain.InterfaceStats{}, virterror.New(virterror.SystemError, virterror.FromNone, "%v", err)
	}
	c = c.Swapped()
	return domain.InterfaceStats{
		RxBytes: c.RxBytes, RxPackets: c.RxPackets, RxErrs: c.RxErrs, RxDrop: c.RxDrop,
		TxBytes: c.TxBytes, TxPackets: c.TxPackets, TxErrs: c.TxErrs, TxDrop: c.TxDrop,
	}, nil
}

// blkio reads the block I/O totals of a running domain. An empty path
// means the whole domain; a disk would need per-device accounting, which
// containers without disks never reach.
func (d *Driver) blkio(ref domain.Ref, path string) (rdBytes, wrBytes, rdReq, wrReq int64, err error) {
	def, c, err := d.running(ref)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	g, err := group(c)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	if !g.Has("blkio") {
		return 0, 0, 0, 0, virterror.New(virterror.OperationInvalid, virterror.FromLXC, "blkio cgroup isn't mounted")
	}
	if path != "" {
		if def.Devices != nil {
			for _, disk := range def.Devices.Disks {
				if disk.Target != nil && disk.Target.Dev == path {
					return 0, 0, 0, 0, virterror.New(virterror.InternalError, virterror.FromLXC, "missing disk device alias name for %s", path)
				}
			}
		}
		return 0, 0, 0, 0, virterror.New(virterror.InvalidArg, virterror.FromLXC, "invalid path: %s", path)
	}
	rdBytes, wrBytes, rdReq, wrReq, err = g.BlkioServiced()
	if err != nil {
		return 0, 0, 0, 0, cgroupReadError(err)
	}
	return rdBytes, wrBytes, rdReq, wrReq, nil
}

// BlockStats reports the domain's block I/O (virDomainBlockStats); errors
// are not counted (-1).
func (d *Driver) BlockStats(ref domain.Ref, path string) (domain.BlockStats, error) {
	rb, wb, rr, wr, err := d.blkio(ref, path)
	if err != nil {
		return domain.BlockStats{}, err
	}
	return domain.BlockStats{RdReq: rr, RdBytes: rb, WrReq: wr, WrBytes: wb, Errs: -1}, nil
}

// BlockStatsFlags is the typed-parameter form (virDomainBlockStatsFlags):
// with nparams 0 it only says how many statistics there are.
func (d *Driver) BlockStatsFlags(ref domain.Ref, path string, nparams int, flags uint32) ([]typedparam.Param, int, error) {
	if err := checkFlags(flags, typedParamStringOkay, "lxcDomainBlockStatsFlags"); err != nil {
		return nil, 0, err
	}
	if nparams == 0 {
		return nil, blockStatsCount, nil
	}
	rb, wb, rr, wr, err := d.blkio(ref, path)
	if err != nil {
		// A failed counter read is reported in general terms here.
		if virterror.Is(err, virterror.SystemError) {
			return nil, 0, virterror.New(virterror.InternalError, virterror.FromLXC, "domain stats query failed")
		}
		return nil, 0, err
	}
	all := []typedparam.Param{
		typedparam.LLongParam("wr_bytes", wb),
		typedparam.LLongParam("wr_operations", wr),
		typedparam.LLongParam("rd_bytes", rb),
		typedparam.LLongParam("rd_operations", rr),
	}
	out := all[:min(nparams, len(all))]
	return out, len(out), nil
}

// MemoryStats reports the domain's memory (virDomainMemoryStats) as
// libvirt's LXC driver does: the current balloon size, the memory plus
// swap charged to the cgroup under the swap_in tag, and the memory
// charged as rss, all in KiB.
func (d *Driver) MemoryStats(ref domain.Ref, max uint32, flags uint32) ([]domain.MemoryStat, error) {
	if err := checkFlags(flags, 0, "lxcDomainMemoryStats"); err != nil {
		return nil, err
	}
	def, c, err := d.running(ref)
	if err != nil {
		return nil, err
	}
	g, err := group(c)
	if err != nil {
		return nil, err
	}
	swap, err := g.MemSwapUsage()
	if err != nil {
		return nil, cgroupReadError(err)
	}
	mem, err := g.MemoryUsage()
	if err != nil {
		return nil, cgroupReadError(err)
	}
	all := []domain.MemoryStat{
		{Tag: domain.MemStatActualBalloon, Val: domxml.CurrentMemoryKiB(def)},
		{Tag: domain.MemStatSwapIn, Val: swap >> 10},
		{Tag: domain.MemStatRSS, Val: mem >> 10},
	}
	return all[:min(int(max), len(all))], nil
}

// cpuTotalCount and cpuPerCPUCount are how many statistics
// virDomainGetCPUStats reports for the whole domain and for each CPU.
const (
	cpuTotalCount  = 3
	cpuPerCPUCount = 1
)

// CPUStats answers virDomainGetCPUStats. With startCPU -1 it reports the
// domain's total CPU, user and system time; otherwise the CPU time spent
// on each of ncpus CPUs from startCPU. The answer is the parameters found,
// in CPU order, and how many each CPU has; with nparams 0 only the count
// (or with ncpus 0 as well, the number of CPUs) is returned.
func (d *Driver) CPUStats(ref domain.Ref, nparams uint32, startCPU int32, ncpus uint32, flags uint32) ([]typedparam.Param, int, error) {
	if err := checkFlags(flags, typedParamStringOkay, "lxcDomainGetCPUStats"); err != nil {
		return nil, 0, err
	}
	_, c, err := d.running(ref)
	if err != nil {
		return nil, 0, err
	}
	g, err := group(c)
	if err != nil {
		return nil, 0, err
	}
	if !g.Has("cpuacct") {
		return nil, 0, virterror.New(virterror.OperationInvalid, virterror.FromLXC, "cgroup CPUACCT controller is not mounted")
	}
	if startCPU == -1 {
		return totalCPUStats(g, int(nparams))
	}
	if nparams == 0 && ncpus != 0 {
		return nil, cpuPerCPUCount, nil
	}
	present, total, err := hostinfo.PresentCPUs()
	if err != nil {
		return nil, 0, err
	}
	if ncpus == 0 {
		return nil, total, nil
	}
	if int(startCPU) >= total {
		return nil, 0, virterror.New(virterror.InvalidArg, fromCgroup, "start_cpu %d larger than maximum of %d", startCPU, total-1)
	}
	usage, err := g.PercpuUsage()
	if errors.Is(err, cgroup.ErrNotV1) {
		return nil, 0, virterror.New(virterror.OperationInvalid, fromCgroup, "cgroup CPUACCT controller does not keep per-CPU usage")
	}
	if err != nil {
		return nil, 0, cgroupReadError(err)
	}
	// The kernel lists one value per possible CPU; CPUs that are not
	// present count as 0 and take no value.
	need := min(total, int(startCPU)+int(ncpus))
	var out []typedparam.Param
	next := 0
	for cpu := 0; cpu < need; cpu++ {
		var v uint64
		if present[cpu] {
			if next >= len(usage) {
				return nil, 0, virterror.New(virterror.InternalError, fromCgroup, "cpuacct parse error")
			}
			v = usage[next]
			next++
		}
		if cpu >= int(startCPU) {
			out = append(out, typedparam.ULLongParam(domain.CPUStatsCPUTime, v))
		}
	}
	return out, cpuPerCPUCount, nil
}

func totalCPUStats(g *cgroup.Group, nparams int) ([]typedparam.Param, int, error) {
	if nparams == 0 {
		return nil, cpuTotalCount, nil
	}
	cpu, err := g.CPUTime()
	if err != nil {
		return nil, 0, virterror.New(virterror.SystemError, fromCgroup, "unable to get cpu account: %v", err)
	}
	out := []typedparam.Param{typedparam.ULLongParam(domain.CPUStatsCPUTime, cpu)}
	if nparams > 1 {
		user, sys, err := g.CPUUserSystem()
		if err != nil {
			return nil, 0, virterror.New(virterror.SystemError, fromCgroup, "unable to get cpu account: %v", err)
		}
		out = append(out, typedparam.ULLongParam(domain.CPUStatsUserTime, user))
		if nparams > 2 {
			out = append(out, typedparam.ULLongParam(domain.CPUStatsSystemTime, sys))
		}
	}
	return out, len(out), nil
}
