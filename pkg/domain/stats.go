package domain

// InterfaceStats is virDomainInterfaceStatsStruct: counters seen from the
// guest's side of the link (-1 = not available).
type InterfaceStats struct {
	RxBytes, RxPackets, RxErrs, RxDrop int64
	TxBytes, TxPackets, TxErrs, TxDrop int64
}

// BlockStats is virDomainBlockStatsStruct (-1 = not available).
type BlockStats struct {
	RdReq, RdBytes, WrReq, WrBytes, Errs int64
}

// Memory statistic tags (virDomainMemoryStatTags).
const (
	MemStatSwapIn        = 0
	MemStatSwapOut       = 1
	MemStatMajorFault    = 2
	MemStatMinorFault    = 3
	MemStatUnused        = 4
	MemStatAvailable     = 5
	MemStatActualBalloon = 6
	MemStatRSS           = 7
)

// MemoryStat is one virDomainMemoryStatStruct entry.
type MemoryStat struct {
	Tag int32
	Val uint64
}

// Sources of virDomainInterfaceAddresses.
const (
	IfaceAddrSrcLease = 0
	IfaceAddrSrcAgent = 1
	IfaceAddrSrcARP   = 2
)

// Address families of virDomainIPAddress.
const (
	IPAddrIPv4 = 0
	IPAddrIPv6 = 1
)

// IPAddress is virDomainIPAddress.
type IPAddress struct {
	Type   int32
	Addr   string
	Prefix uint32
}

// Interface is virDomainInterface: a guest interface and its addresses.
type Interface struct {
	Name   string
	HWAddr string // "" = none
	Addrs  []IPAddress
}

// Typed parameter names of virDomainGetCPUStats.
const (
	CPUStatsCPUTime    = "cpu_time"
	CPUStatsUserTime   = "user_time"
	CPUStatsSystemTime = "system_time"
)
