package remote

import (
	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/rpc"
	"github.com/virtlxcd/virtlxcd/pkg/typedparam"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// Tuner is implemented by drivers that pause containers and change their
// tunables, metadata and devices after definition. Drivers without it
// answer these calls with "not supported".
type Tuner interface {
	Suspend(dom domain.Ref) error
	Resume(dom domain.Ref) error
	SetMemoryParameters(dom domain.Ref, params []typedparam.Param, flags uint32) error
	SetSchedulerParameters(dom domain.Ref, params []typedparam.Param, flags uint32) error
	// SetMetadata and GetMetadata take the optional strings of the wire
	// as nil pointers; type is virDomainMetadataType.
	SetMetadata(dom domain.Ref, typ int32, metadata, key, uri *string, flags uint32) error
	GetMetadata(dom domain.Ref, typ int32, uri *string, flags uint32) (string, error)
	SendProcessSignal(dom domain.Ref, pid int64, signum, flags uint32) error
	// BlkioParameters returns up to nparams parameters, and with nparams
	// 0 only how many there are.
	BlkioParameters(dom domain.Ref, nparams int, flags uint32) ([]typedparam.Param, int, error)
	SetBlkioParameters(dom domain.Ref, params []typedparam.Param, flags uint32) error
	AttachDevice(dom domain.Ref, xml string, flags uint32) error
	DetachDevice(dom domain.Ref, xml string, flags uint32) error
	UpdateDevice(dom domain.Ref, xml string, flags uint32) error
}

// tuner returns the driver's Tuner, or libvirt's "not supported" error for
// the call's API.
func (h *handlers) tuner(c *rpc.Call) (Tuner, error) {
	t, ok := h.drv.(Tuner)
	if !ok {
		return nil, virterror.Unsupported(c.Proc.API, virterror.FromDomain)
	}
	return t, nil
}

func (h *handlers) domainSuspend(c *rpc.Call) error {
	d, err := domOnly(c)
	if err != nil {
		return err
	}
	t, err := h.tuner(c)
	if err != nil {
		return err
	}
	return t.Suspend(d)
}

func (h *handlers) domainResume(c *rpc.Call) error {
	d, err := domOnly(c)
	if err != nil {
		return err
	}
	t, err := h.tuner(c)
	if err != nil {
		return err
	}
	return t.Resume(d)
}

func (h *handlers) domainSetMaxMemory(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	kib := c.Args.Uint64()
	if err := c.Decoded(); err != nil {
		return err
	}
	return h.drv.SetMemoryFlags(d, kib, domain.MemMaximum)
}

// setParams decodes a domain, a typed parameter array and, when withFlags,
// a flags word.
func setParams(c *rpc.Call, withFlags bool) (domain.Ref, []typedparam.Param, uint32, error) {
	d := decodeDomain(c.Args)
	params, perr := typedparam.DecodeParams(c.Args, typedParamsMax)
	var flags uint32
	if withFlags {
		flags = c.Args.Uint32()
	}
	if err := c.Decoded(); err != nil {
		return d, nil, 0, err
	}
	return d, params, flags, perr
}

func (h *handlers) domainSetMemoryParameters(c *rpc.Call) error {
	d, params, flags, err := setParams(c, true)
	if err != nil {
		return err
	}
	t, err := h.tuner(c)
	if err != nil {
		return err
	}
	return t.SetMemoryParameters(d, params, flags)
}

func (h *handlers) domainSetSchedulerParameters(c *rpc.Call) error {
	d, params, _, err := setParams(c, false)
	if err != nil {
		return err
	}
	t, err := h.tuner(c)
	if err != nil {
		return err
	}
	return t.SetSchedulerParameters(d, params, 0)
}

func (h *handlers) domainSetSchedulerParametersFlags(c *rpc.Call) error {
	d, params, flags, err := setParams(c, true)
	if err != nil {
		return err
	}
	t, err := h.tuner(c)
	if err != nil {
		return err
	}
	return t.SetSchedulerParameters(d, params, flags)
}

func (h *handlers) domainSetMetadata(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	typ := c.Args.Int32()
	metadata := c.Args.OptString()
	key := c.Args.OptString()
	uri := c.Args.OptString()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	t, err := h.tuner(c)
	if err != nil {
		return err
	}
	return t.SetMetadata(d, typ, metadata, key, uri, flags)
}

func (h *handlers) domainGetMetadata(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	typ := c.Args.Int32()
	uri := c.Args.OptString()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	t, err := h.tuner(c)
	if err != nil {
		return err
	}
	s, err := t.GetMetadata(d, typ, uri, flags)
	if err != nil {
		return err
	}
	c.Ret.String(s)
	return nil
}

func (h *handlers) domainSendProcessSignal(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	pid := c.Args.Int64()
	signum := c.Args.Uint32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	t, err := h.tuner(c)
	if err != nil {
		return err
	}
	return t.SendProcessSignal(d, pid, signum, flags)
}

// typedParamStringOkay is VIR_TYPED_PARAM_STRING_OKAY: the client can
// take string parameters; older clients get them filtered out.
const typedParamStringOkay = 1 << 2

func (h *handlers) domainGetBlkioParameters(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	n := c.Args.Int32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if n < 0 || n > typedParamsMax {
		return virterror.New(virterror.RPC, virterror.FromRPC, "nparams too large")
	}
	t, err := h.tuner(c)
	if err != nil {
		return err
	}
	params, count, err := t.BlkioParameters(d, int(n), flags)
	if err != nil {
		return err
	}
	if flags&typedParamStringOkay == 0 {
		kept := params[:0]
		for _, p := range params {
			if p.Type != typedparam.ParamString {
				kept = append(kept, p)
			}
		}
		params = kept
		if n != 0 {
			count = len(kept)
		}
	}
	typedparam.EncodeParams(c.Ret, params)
	c.Ret.Int32(int32(count))
	return nil
}

func (h *handlers) domainSetBlkioParameters(c *rpc.Call) error {
	d, params, flags, err := setParams(c, true)
	if err != nil {
		return err
	}
	t, err := h.tuner(c)
	if err != nil {
		return err
	}
	return t.SetBlkioParameters(d, params, flags)
}

// deviceCall decodes a domain, a device document and, when withFlags, a
// flags word; the flagless calls affect the running domain, as libvirt's
// virDomainAttachDevice and virDomainDetachDevice do.
func (h *handlers) deviceCall(c *rpc.Call, withFlags bool, op func(Tuner) func(domain.Ref, string, uint32) error) error {
	d := decodeDomain(c.Args)
	xml := c.Args.String()
	flags := uint32(domain.AffectLive)
	if withFlags {
		flags = c.Args.Uint32()
	}
	if err := c.Decoded(); err != nil {
		return err
	}
	t, err := h.tuner(c)
	if err != nil {
		return err
	}
	return op(t)(d, xml, flags)
}

func attachOp(t Tuner) func(domain.Ref, string, uint32) error { return t.AttachDevice }
func detachOp(t Tuner) func(domain.Ref, string, uint32) error { return t.DetachDevice }
func updateOp(t Tuner) func(domain.Ref, string, uint32) error { return t.UpdateDevice }

func (h *handlers) domainAttachDevice(c *rpc.Call) error { return h.deviceCall(c, false, attachOp) }
func (h *handlers) domainAttachDeviceFlags(c *rpc.Call) error {
	return h.deviceCall(c, true, attachOp)
}
func (h *handlers) domainDetachDevice(c *rpc.Call) error { return h.deviceCall(c, false, detachOp) }
func (h *handlers) domainDetachDeviceFlags(c *rpc.Call) error {
	return h.deviceCall(c, true, detachOp)
}
func (h *handlers) domainUpdateDeviceFlags(c *rpc.Call) error {
	return h.deviceCall(c, true, updateOp)
}
