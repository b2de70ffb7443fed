package remote

import (
	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/rpc"
	"github.com/virtlxcd/virtlxcd/pkg/typedparam"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// StatsReader is implemented by drivers that report domain statistics and
// addresses. Handlers of drivers without it answer "not supported".
type StatsReader interface {
	InterfaceStats(dom domain.Ref, device string) (domain.InterfaceStats, error)
	BlockStats(dom domain.Ref, path string) (domain.BlockStats, error)
	// BlockStatsFlags returns up to nparams statistics and their count;
	// with nparams 0 only the count.
	BlockStatsFlags(dom domain.Ref, path string, nparams int, flags uint32) ([]typedparam.Param, int, error)
	MemoryStats(dom domain.Ref, max uint32, flags uint32) ([]domain.MemoryStat, error)
	// CPUStats returns the statistics found, CPU by CPU, and how many each
	// CPU has (see virDomainGetCPUStats for the nparams/ncpus = 0 cases).
	CPUStats(dom domain.Ref, nparams uint32, startCPU int32, ncpus uint32, flags uint32) ([]typedparam.Param, int, error)
	InterfaceAddresses(dom domain.Ref, source uint32, flags uint32) ([]domain.Interface, error)
}

// Limits from remote_protocol.x.
const (
	memoryStatsMax      = 1024
	blockStatsParamsMax = 16
	cpuStatsNcpusMax    = 128
	cpuStatsParamsMax   = 16 // REMOTE_NODE_CPU_STATS_MAX, per CPU
	interfaceMax        = 2048
	ipAddrMax           = 2048
)

func (h *handlers) stats(api string) (StatsReader, error) {
	s, ok := h.drv.(StatsReader)
	if !ok {
		return nil, virterror.Unsupported(api, virterror.FromDomain)
	}
	return s, nil
}

func (h *handlers) domainBlockStats(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	path := c.Args.String()
	if err := c.Decoded(); err != nil {
		return err
	}
	s, err := h.stats("virDomainBlockStats")
	if err != nil {
		return err
	}
	st, err := s.BlockStats(d, path)
	if err != nil {
		return err
	}
	for _, v := range []int64{st.RdReq, st.RdBytes, st.WrReq, st.WrBytes, st.Errs} {
		c.Ret.Int64(v)
	}
	return nil
}

func (h *handlers) domainBlockStatsFlags(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	path := c.Args.String()
	n := c.Args.Int32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if n < 0 || n > blockStatsParamsMax {
		return virterror.New(virterror.InternalError, virterror.FromRPC, "nparams too large")
	}
	s, err := h.stats("virDomainBlockStatsFlags")
	if err != nil {
		return err
	}
	params, count, err := s.BlockStatsFlags(d, path, int(n), flags)
	if err != nil {
		return err
	}
	if n == 0 {
		// The client asks how many there are first.
		c.Ret.Uint32(0)
		c.Ret.Int32(int32(count))
		return nil
	}
	typedparam.EncodeParams(c.Ret, params)
	c.Ret.Int32(0)
	return nil
}

func (h *handlers) domainInterfaceStats(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	dev := c.Args.String()
	if err := c.Decoded(); err != nil {
		return err
	}
	s, err := h.stats("virDomainInterfaceStats")
	if err != nil {
		return err
	}
	st, err := s.InterfaceStats(d, dev)
	if err != nil {
		return err
	}
	for _, v := range []int64{st.RxBytes, st.RxPackets, st.RxErrs, st.RxDrop, st.TxBytes, st.TxPackets, st.TxErrs, st.TxDrop} {
		c.Ret.Int64(v)
	}
	return nil
}

func (h *handlers) domainMemoryStats(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	max := c.Args.Uint32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if max > memoryStatsMax {
		return virterror.New(virterror.InternalError, virterror.FromRPC, "maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX")
	}
	s, err := h.stats("virDomainMemoryStats")
	if err != nil {
		return err
	}
	st, err := s.MemoryStats(d, max, flags)
	if err != nil {
		return err
	}
	c.Ret.Uint32(uint32(len(st)))
	for _, m := range st {
		c.Ret.Int32(m.Tag)
		c.Ret.Uint64(m.Val)
	}
	return nil
}

// domainGetCPUStats serves virDomainGetCPUStats. Only the parameters the
// driver filled are sent, CPU after CPU; the reply's nparams tells the
// client how many belong to each CPU so that it can spread them out again.
func (h *handlers) domainGetCPUStats(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	n := c.Args.Uint32()
	start := c.Args.Int32()
	ncpus := c.Args.Uint32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if n > cpuStatsParamsMax {
		return virterror.New(virterror.InternalError, virterror.FromRPC, "nparams too large")
	}
	if ncpus > cpuStatsNcpusMax {
		return virterror.New(virterror.InternalError, virterror.FromRPC, "ncpus too large")
	}
	s, err := h.stats("virDomainGetCPUStats")
	if err != nil {
		return err
	}
	params, count, err := s.CPUStats(d, n, start, ncpus, flags)
	if err != nil {
		return err
	}
	if n == 0 {
		params = nil
	}
	typedparam.EncodeParams(c.Ret, params)
	c.Ret.Int32(int32(count))
	return nil
}

func (h *handlers) domainInterfaceAddresses(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	source := c.Args.Uint32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	// Asking the guest agent needs a writable connection; libvirt checks
	// this before it looks at the domain.
	if source == domain.IfaceAddrSrcAgent && c.Client.ReadOnly() {
		return virterror.ReadOnly("virDomainInterfaceAddresses")
	}
	s, err := h.stats("virDomainInterfaceAddresses")
	if err != nil {
		return err
	}
	ifaces, err := s.InterfaceAddresses(d, source, flags)
	if err != nil {
		return err
	}
	if len(ifaces) > interfaceMax {
		return virterror.New(virterror.InternalError, virterror.FromRPC, "Number of interfaces, %d exceeds the max limit: %d", len(ifaces), interfaceMax)
	}
	c.Ret.Uint32(uint32(len(ifaces)))
	for _, iface := range ifaces {
		if len(iface.Addrs) > ipAddrMax {
			return virterror.New(virterror.InternalError, virterror.FromRPC, "Number of interfaces, %d exceeds the max limit: %d", len(iface.Addrs), ipAddrMax)
		}
		c.Ret.String(iface.Name)
		if iface.HWAddr != "" {
			c.Ret.OptString(&iface.HWAddr)
		} else {
			c.Ret.OptString(nil)
		}
		c.Ret.Uint32(uint32(len(iface.Addrs)))
		for _, a := range iface.Addrs {
			c.Ret.Int32(a.Type)
			c.Ret.String(a.Addr)
			c.Ret.Uint32(a.Prefix)
		}
	}
	return nil
}

// connectGetAllDomainStats is unsupported, as in libvirt's LXC driver; the
// refusal names the API the client called: with domains listed it was
// virDomainListGetStats (virsh domstats DOMAIN), without them
// virConnectGetAllDomainStats.
func (h *handlers) connectGetAllDomainStats(c *rpc.Call) error {
	n := c.Args.ArrayLen(domainListMax)
	for i := 0; i < n; i++ {
		decodeDomain(c.Args)
	}
	c.Args.Uint32() // stats
	c.Args.Uint32() // flags
	if err := c.Decoded(); err != nil {
		return err
	}
	api := "virConnectGetAllDomainStats"
	if n > 0 {
		api = "virDomainListGetStats"
	}
	return virterror.Unsupported(api, virterror.FromDomain)
}
