package remote

import (
	"github.com/virtlxcd/virtlxcd/pkg/hostinfo"
	"github.com/virtlxcd/virtlxcd/pkg/rpc"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// Limits from remote_protocol.x.
const (
	nodeStatsMax = 16
	nodeMaxCells = 1024
)

// nodeStats answers the two-step protocol of the node statistics calls:
// with nparams 0 the client learns how many there are, then it asks for
// exactly that many.
func nodeStats(c *rpc.Call, nparams int32, count int, fn string, get func() ([]hostinfo.Stat, error)) error {
	if nparams < 0 || nparams > nodeStatsMax {
		return virterror.New(virterror.InternalError, virterror.FromRPC, "nparams too large")
	}
	if nparams == 0 {
		c.Ret.Uint32(0)
		c.Ret.Int32(int32(count))
		return nil
	}
	if int(nparams) != count {
		return virterror.New(virterror.InvalidArg, virterror.FromNone, "nparams in %s must be %d", fn, count)
	}
	stats, err := get()
	if err != nil {
		return err
	}
	c.Ret.Uint32(uint32(len(stats)))
	for _, s := range stats {
		c.Ret.String(s.Field)
		c.Ret.Uint64(s.Value)
	}
	c.Ret.Int32(0)
	return nil
}

func (h *handlers) nodeGetCPUStats(c *rpc.Call) error {
	cpu := c.Args.Int32()
	n := c.Args.Int32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if flags != 0 {
		return unsupportedFlags(flags, "virHostCPUGetStats")
	}
	return nodeStats(c, n, hostinfo.CPUStatsCount, "virHostCPUGetStatsLinux", func() ([]hostinfo.Stat, error) {
		return hostinfo.CPUStats(int(cpu))
	})
}

func (h *handlers) nodeGetMemoryStats(c *rpc.Call) error {
	n := c.Args.Int32()
	cell := c.Args.Int32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if flags != 0 {
		return unsupportedFlags(flags, "virHostMemGetStats")
	}
	return nodeStats(c, n, hostinfo.MemoryStatsCount(int(cell)), "virHostMemGetStatsLinux", func() ([]hostinfo.Stat, error) {
		return hostinfo.MemoryStats(int(cell))
	})
}

func (h *handlers) nodeGetCellsFreeMemory(c *rpc.Call) error {
	start := c.Args.Int32()
	max := c.Args.Int32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if max < 0 || max > nodeMaxCells {
		return virterror.New(virterror.RPC, virterror.FromRPC, "maxCells > REMOTE_NODE_MAX_CELLS")
	}
	cells, err := hostinfo.CellsFreeMemory(int(start), int(max))
	if err != nil {
		return err
	}
	c.Ret.Uint32(uint32(len(cells)))
	for _, v := range cells {
		c.Ret.Uint64(v)
	}
	return nil
}

func (h *handlers) nodeGetCPUMap(c *rpc.Call) error {
	needMap := c.Args.Int32()
	needOnline := c.Args.Int32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if flags != 0 {
		return unsupportedFlags(flags, "virHostCPUGetMap")
	}
	bitmap, online, present := hostinfo.CPUMap()
	if needMap != 0 {
		c.Ret.Opaque(bitmap)
	} else {
		c.Ret.Opaque(nil)
	}
	if needOnline == 0 {
		online = 0
	}
	c.Ret.Uint32(uint32(online))
	c.Ret.Int32(int32(present))
	return nil
}
