package remote

import (
	"github.com/virtlxcd/virtlxcd/pkg/hostinfo"
	"github.com/virtlxcd/virtlxcd/pkg/rpc"
	"github.com/virtlxcd/virtlxcd/pkg/typedparam"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// nodeMemoryParamsMax is REMOTE_NODE_MEMORY_PARAMETERS_MAX.
const nodeMemoryParamsMax = 64

// allocPagesSet is VIR_NODE_ALLOC_PAGES_SET: size the pools to the counts
// instead of growing them by the counts.
const allocPagesSet = 1 << 0

func hostFlags(flags, allowed uint32, fn string) error {
	if extra := flags &^ allowed; extra != 0 {
		return virterror.BadFlags(virterror.FromNone, extra, fn)
	}
	return nil
}

func (h *handlers) nodeGetMemoryParameters(c *rpc.Call) error {
	n := c.Args.Int32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if n < 0 || n > nodeMemoryParamsMax {
		return virterror.New(virterror.InternalError, virterror.FromRPC, "nparams too large")
	}
	if err := hostFlags(flags, 1<<2, "virHostMemGetParameters"); err != nil {
		return err
	}
	if n == 0 {
		c.Ret.Uint32(0)
		c.Ret.Int32(int32(hostinfo.MemoryParamsCount))
		return nil
	}
	params, err := hostinfo.MemoryParams(int(n))
	if err != nil {
		return err
	}
	typedparam.EncodeParams(c.Ret, params)
	c.Ret.Int32(0)
	return nil
}

func (h *handlers) nodeSetMemoryParameters(c *rpc.Call) error {
	params, perr := typedparam.DecodeParams(c.Args, nodeMemoryParamsMax)
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if perr != nil {
		return perr
	}
	if err := hostFlags(flags, 0, "virHostMemSetParameters"); err != nil {
		return err
	}
	return hostinfo.SetMemoryParams(params)
}

func (h *handlers) nodeGetFreePages(c *rpc.Call) error {
	n := c.Args.ArrayLen(nodeMaxCells)
	sizes := make([]uint32, 0, n)
	for i := 0; i < n; i++ {
		sizes = append(sizes, c.Args.Uint32())
	}
	start := c.Args.Int32()
	cells := c.Args.Uint32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if uint64(len(sizes))*uint64(cells) > nodeMaxCells {
		return virterror.New(virterror.InternalError, virterror.FromRPC, "the result won't fit into REMOTE_NODE_MAX_CELLS")
	}
	if flags != 0 {
		return virterror.BadFlags(virterror.FromLXC, flags, "lxcNodeGetFreePages")
	}
	counts, err := hostinfo.FreePages(sizes, int(start), cells)
	if err != nil {
		return err
	}
	c.Ret.Uint32(uint32(len(counts)))
	for _, v := range counts {
		c.Ret.Uint64(v)
	}
	return nil
}

func (h *handlers) nodeAllocPages(c *rpc.Call) error {
	n := c.Args.ArrayLen(nodeMaxCells)
	sizes := make([]uint32, 0, n)
	for i := 0; i < n; i++ {
		sizes = append(sizes, c.Args.Uint32())
	}
	m := c.Args.ArrayLen(nodeMaxCells)
	counts := make([]uint64, 0, m)
	for i := 0; i < m; i++ {
		counts = append(counts, c.Args.Uint64())
	}
	start := c.Args.Int32()
	cells := c.Args.Uint32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if extra := flags &^ allocPagesSet; extra != 0 {
		return virterror.BadFlags(virterror.FromLXC, extra, "lxcNodeAllocPages")
	}
	done, err := hostinfo.AllocPages(sizes, counts, int(start), cells, flags&allocPagesSet == 0)
	if err != nil {
		return err
	}
	c.Ret.Int32(int32(done))
	return nil
}
