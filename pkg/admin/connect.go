package admin

import (
	"github.com/virtlxcd/virtlxcd/pkg/rpc"
	"github.com/virtlxcd/virtlxcd/pkg/version"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// Connection-wide calls: open/close, the library version, logging and the
// daemon's idle timeout.

func (h *handlers) connectOpen(c *rpc.Call) error {
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	return checkFlags(flags, 0, "adminDispatchConnectOpen")
}

func (h *handlers) connectClose(c *rpc.Call) error {
	// Answer first, then hang up once the reply is written, as libvirt's
	// delayed close does.
	c.AfterReply(c.Client.CloseAfterFlush)
	return nil
}

func (h *handlers) connectGetLibVersion(c *rpc.Call) error {
	c.Ret.Uint64(version.LibvirtAPI)
	return nil
}

func (h *handlers) connectGetLoggingOutputs(c *rpc.Call) error {
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if err := checkFlags(flags, 0, "adminConnectGetLoggingOutputs"); err != nil {
		return err
	}
	c.Ret.String(h.opts.Logging.Outputs())
	c.Ret.Uint32(uint32(h.opts.Logging.NumOutputs()))
	return nil
}

func (h *handlers) connectGetLoggingFilters(c *rpc.Call) error {
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if err := checkFlags(flags, 0, "adminConnectGetLoggingFilters"); err != nil {
		return err
	}
	// No filters travel as an absent string, not an empty one.
	n := h.opts.Logging.NumFilters()
	var filters *string
	if n > 0 {
		f := h.opts.Logging.Filters()
		filters = &f
	}
	c.Ret.OptString(filters)
	c.Ret.Uint32(uint32(n))
	return nil
}

func (h *handlers) connectSetLoggingOutputs(c *rpc.Call) error {
	spec := c.Args.OptString()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if err := checkFlags(flags, 0, "adminConnectSetLoggingOutputs"); err != nil {
		return err
	}
	s := deref(spec)
	if err := h.opts.Logging.SetOutputs(s); err != nil {
		return logError(err)
	}
	h.log.Info("log outputs changed", "outputs", h.opts.Logging.Outputs(), "client", c.Client.ID)
	return nil
}

func (h *handlers) connectSetLoggingFilters(c *rpc.Call) error {
	spec := c.Args.OptString()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if err := checkFlags(flags, 0, "adminConnectSetLoggingFilters"); err != nil {
		return err
	}
	if err := h.opts.Logging.SetFilters(deref(spec)); err != nil {
		return logError(err)
	}
	h.log.Info("log filters changed", "filters", h.opts.Logging.Filters(), "client", c.Client.ID)
	return nil
}

func (h *handlers) connectSetDaemonTimeout(c *rpc.Call) error {
	timeout := c.Args.Uint32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if err := checkFlags(flags, 0, "adminConnectSetDaemonTimeout"); err != nil {
		return err
	}
	if h.opts.SetTimeout == nil {
		return virterror.New(virterror.OperationUnsupported, virterror.FromAdmin, "the daemon has no idle timeout")
	}
	h.opts.SetTimeout(int64(timeout))
	h.log.Info("idle timeout changed", "seconds", timeout, "client", c.Client.ID)
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
