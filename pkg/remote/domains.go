package remote

import (
	"errors"
	"io"
	"os"

	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/rpc"
	"github.com/virtlxcd/virtlxcd/pkg/typedparam"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// args decodes a domain followed by an unsigned flags word, the shape of
// most domain calls.
func domFlags(c *rpc.Call) (domain.Ref, uint32, error) {
	d := decodeDomain(c.Args)
	f := c.Args.Uint32()
	return d, f, c.Decoded()
}

func domOnly(c *rpc.Call) (domain.Ref, error) {
	d := decodeDomain(c.Args)
	return d, c.Decoded()
}

// Lists.

func (h *handlers) connectListAllDomains(c *rpc.Call) error {
	need := c.Args.Int32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	doms, err := h.drv.ListAllDomains(flags)
	if err != nil {
		return err
	}
	if len(doms) > domainListMax {
		return virterror.New(virterror.InternalError, virterror.FromRPC, "Too many domains '%d' for limit '%d'", len(doms), domainListMax)
	}
	if need != 0 {
		c.Ret.Uint32(uint32(len(doms)))
		for _, d := range doms {
			encodeDomain(c.Ret, d)
		}
	} else {
		c.Ret.Uint32(0)
	}
	c.Ret.Uint32(uint32(len(doms)))
	return nil
}

func (h *handlers) connectNumOfDomains(c *rpc.Call) error {
	n, err := h.drv.NumOfDomains()
	if err != nil {
		return err
	}
	c.Ret.Int32(int32(n))
	return nil
}

func (h *handlers) connectNumOfDefinedDomains(c *rpc.Call) error {
	n, err := h.drv.NumOfDefinedDomains()
	if err != nil {
		return err
	}
	c.Ret.Int32(int32(n))
	return nil
}

func (h *handlers) connectListDomains(c *rpc.Call) error {
	max := c.Args.Int32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if max < 0 || max > domainListMax {
		return virterror.New(virterror.RPC, virterror.FromRPC, "maxids > REMOTE_DOMAIN_LIST_MAX")
	}
	ids, err := h.drv.ListDomainIDs(int(max))
	if err != nil {
		return err
	}
	c.Ret.Uint32(uint32(len(ids)))
	for _, id := range ids {
		c.Ret.Int32(id)
	}
	return nil
}

func (h *handlers) connectListDefinedDomains(c *rpc.Call) error {
	max := c.Args.Int32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if max < 0 || max > domainListMax {
		return virterror.New(virterror.RPC, virterror.FromRPC, "maxnames > REMOTE_DOMAIN_LIST_MAX")
	}
	names, err := h.drv.ListDefinedDomains(int(max))
	if err != nil {
		return err
	}
	c.Ret.Uint32(uint32(len(names)))
	for _, n := range names {
		c.Ret.String(n)
	}
	return nil
}

// Lookups.

func (h *handlers) domainLookupByName(c *rpc.Call) error {
	name := c.Args.String()
	if err := c.Decoded(); err != nil {
		return err
	}
	return h.retDomain(c)(h.drv.LookupByName(name))
}

func (h *handlers) domainLookupByUUID(c *rpc.Call) error {
	var u [16]byte
	c.Args.FixedOpaque(u[:])
	if err := c.Decoded(); err != nil {
		return err
	}
	return h.retDomain(c)(h.drv.LookupByUUID(u))
}

func (h *handlers) domainLookupByID(c *rpc.Call) error {
	id := c.Args.Int32()
	if err := c.Decoded(); err != nil {
		return err
	}
	return h.retDomain(c)(h.drv.LookupByID(id))
}

// retDomain encodes a driver result that is a domain.
func (h *handlers) retDomain(c *rpc.Call) func(domain.Ref, error) error {
	return func(d domain.Ref, err error) error {
		if err != nil {
			return err
		}
		encodeDomain(c.Ret, d)
		return nil
	}
}

// Definition and lifecycle.

func (h *handlers) domainDefineXML(c *rpc.Call) error {
	xml := c.Args.String()
	if err := c.Decoded(); err != nil {
		return err
	}
	return h.retDomain(c)(h.drv.DefineXML(xml, 0))
}

func (h *handlers) domainDefineXMLFlags(c *rpc.Call) error {
	xml := c.Args.String()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	return h.retDomain(c)(h.drv.DefineXML(xml, flags))
}

func (h *handlers) domainCreateXML(c *rpc.Call) error {
	xml := c.Args.String()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	d, err := h.drv.CreateXML(xml, flags&^domain.CreateAutodestroy)
	if err == nil && flags&domain.CreateAutodestroy != 0 {
		h.autodestroy(c.Client, d)
	}
	return h.retDomain(c)(d, err)
}

// autodestroy ties a domain's life to the connection that started it
// (VIR_DOMAIN_START_AUTODESTROY): when the client goes away, the domain
// is destroyed if it is still the same running instance.
func (h *handlers) autodestroy(c *rpc.Client, d domain.Ref) {
	c.OnClose(func() {
		cur, err := h.drv.LookupByUUID(d.UUID)
		if err != nil || cur.ID != d.ID {
			return
		}
		if err := h.drv.Destroy(cur, 0); err != nil {
			h.log.Warn("autodestroy failed", "domain", d.Name, "err", err)
		}
	})
}

func (h *handlers) domainCreate(c *rpc.Call) error {
	d, err := domOnly(c)
	if err != nil {
		return err
	}
	_, err = h.drv.Create(d, 0)
	return err
}

func (h *handlers) domainCreateWithFlags(c *rpc.Call) error {
	d, flags, err := domFlags(c)
	if err != nil {
		return err
	}
	d, err = h.drv.Create(d, flags&^domain.CreateAutodestroy)
	if err == nil && flags&domain.CreateAutodestroy != 0 {
		h.autodestroy(c.Client, d)
	}
	return h.retDomain(c)(d, err)
}

func (h *handlers) domainUndefine(c *rpc.Call) error {
	d, err := domOnly(c)
	if err != nil {
		return err
	}
	return h.drv.Undefine(d, 0)
}

func (h *handlers) domainUndefineFlags(c *rpc.Call) error {
	d, flags, err := domFlags(c)
	if err != nil {
		return err
	}
	return h.drv.Undefine(d, flags)
}

func (h *handlers) domainDestroy(c *rpc.Call) error {
	d, err := domOnly(c)
	if err != nil {
		return err
	}
	return h.drv.Destroy(d, 0)
}

func (h *handlers) domainDestroyFlags(c *rpc.Call) error {
	d, flags, err := domFlags(c)
	if err != nil {
		return err
	}
	return h.drv.Destroy(d, flags)
}

func (h *handlers) domainShutdown(c *rpc.Call) error {
	d, err := domOnly(c)
	if err != nil {
		return err
	}
	return h.drv.Shutdown(d, 0)
}

func (h *handlers) domainShutdownFlags(c *rpc.Call) error {
	d, flags, err := domFlags(c)
	if err != nil {
		return err
	}
	return h.drv.Shutdown(d, flags)
}

func (h *handlers) domainReboot(c *rpc.Call) error {
	d, flags, err := domFlags(c)
	if err != nil {
		return err
	}
	return h.drv.Reboot(d, flags)
}

// Queries.

func (h *handlers) domainGetInfo(c *rpc.Call) error {
	d, err := domOnly(c)
	if err != nil {
		return err
	}
	info, err := h.drv.GetInfo(d)
	if err != nil {
		return err
	}
	c.Ret.Int32(int32(info.State)) // unsigned char: one XDR word
	c.Ret.Uint64(info.MaxMemKiB)
	c.Ret.Uint64(info.MemoryKiB)
	c.Ret.Uint32(uint32(info.NrVirtCPU))
	c.Ret.Uint64(info.CPUTimeNs)
	return nil
}

func (h *handlers) domainGetState(c *rpc.Call) error {
	d, flags, err := domFlags(c)
	if err != nil {
		return err
	}
	state, reason, err := h.drv.GetState(d, flags)
	if err != nil {
		return err
	}
	c.Ret.Int32(int32(state))
	c.Ret.Int32(reason)
	return nil
}

func (h *handlers) domainGetXMLDesc(c *rpc.Call) error {
	d, flags, err := domFlags(c)
	if err != nil {
		return err
	}
	if flags&domain.XMLSecure != 0 && c.Client.ReadOnly() {
		return virterror.New(virterror.OperationDenied, virterror.FromDomain, "virDomainGetXMLDesc with secure flag")
	}
	xml, err := h.drv.GetXMLDesc(d, flags)
	if err != nil {
		return err
	}
	c.Ret.String(xml)
	return nil
}

func (h *handlers) domainGetOSType(c *rpc.Call) error {
	d, err := domOnly(c)
	if err != nil {
		return err
	}
	t, err := h.drv.GetOSType(d)
	if err != nil {
		return err
	}
	c.Ret.String(t)
	return nil
}

func (h *handlers) domainGetMaxMemory(c *rpc.Call) error {
	d, err := domOnly(c)
	if err != nil {
		return err
	}
	m, err := h.drv.GetMaxMemory(d)
	if err != nil {
		return err
	}
	c.Ret.Uint64(m)
	return nil
}

func (h *handlers) retBool(c *rpc.Call, f func(domain.Ref) (bool, error)) error {
	d, err := domOnly(c)
	if err != nil {
		return err
	}
	v, err := f(d)
	if err != nil {
		return err
	}
	c.Ret.Bool(v)
	return nil
}

func (h *handlers) domainGetAutostart(c *rpc.Call) error { return h.retBool(c, h.drv.GetAutostart) }
func (h *handlers) domainIsActive(c *rpc.Call) error     { return h.retBool(c, h.drv.IsActive) }
func (h *handlers) domainIsPersistent(c *rpc.Call) error { return h.retBool(c, h.drv.IsPersistent) }
func (h *handlers) domainIsUpdated(c *rpc.Call) error    { return h.retBool(c, h.drv.IsUpdated) }

func (h *handlers) domainSetAutostart(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	on := c.Args.Int32()
	if err := c.Decoded(); err != nil {
		return err
	}
	return h.drv.SetAutostart(d, on != 0)
}

func (h *handlers) domainSetMemory(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	kib := c.Args.Uint64()
	if err := c.Decoded(); err != nil {
		return err
	}
	return h.drv.SetMemoryFlags(d, kib, domain.AffectLive)
}

func (h *handlers) domainSetMemoryFlags(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	kib := c.Args.Uint64()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	return h.drv.SetMemoryFlags(d, kib, flags)
}

func (h *handlers) domainGetSecurityLabel(c *rpc.Call) error {
	d, err := domOnly(c)
	if err != nil {
		return err
	}
	if _, err := h.drv.IsActive(d); err != nil {
		return err
	}
	// Security driver "none": an empty label, not enforcing.
	c.Ret.CharArray("", true)
	c.Ret.Int32(0)
	return nil
}

// domainHasManagedSaveImage: containers have no managed save, so the
// answer is always "no" for a domain that exists (libvirt's LXC driver too).
func (h *handlers) domainHasManagedSaveImage(c *rpc.Call) error {
	d, flags, err := domFlags(c)
	if err != nil {
		return err
	}
	if flags != 0 {
		return unsupportedFlags(flags, "lxcDomainHasManagedSaveImage")
	}
	if _, err := h.drv.IsActive(d); err != nil {
		return err
	}
	c.Ret.Int32(0)
	return nil
}

func (h *handlers) domainGetHostname(c *rpc.Call) error {
	d, flags, err := domFlags(c)
	if err != nil {
		return err
	}
	name, err := h.drv.GetHostname(d, flags)
	if err != nil {
		return err
	}
	c.Ret.String(name)
	return nil
}

// Tunables.

func (h *handlers) domainGetSchedulerType(c *rpc.Call) error {
	d, err := domOnly(c)
	if err != nil {
		return err
	}
	if _, err := h.drv.IsActive(d); err != nil {
		return err
	}
	c.Ret.String("posix")
	c.Ret.Int32(3)
	return nil
}

func (h *handlers) schedulerParams(c *rpc.Call, d domain.Ref, n int32, flags uint32) error {
	if n < 0 || n > typedParamsMax {
		return virterror.New(virterror.RPC, virterror.FromRPC, "nparams too large")
	}
	shares, period, quota, err := h.drv.SchedulerParameters(d, flags)
	if err != nil {
		return err
	}
	params := []typedparam.Param{
		typedparam.ULLongParam("cpu_shares", shares),
		typedparam.ULLongParam("vcpu_period", period),
		typedparam.LLongParam("vcpu_quota", quota),
	}
	typedparam.EncodeParams(c.Ret, params[:min(int(n), len(params))])
	return nil
}

func (h *handlers) domainGetSchedulerParameters(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	n := c.Args.Int32()
	if err := c.Decoded(); err != nil {
		return err
	}
	return h.schedulerParams(c, d, n, 0)
}

func (h *handlers) domainGetSchedulerParametersFlags(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	n := c.Args.Int32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	return h.schedulerParams(c, d, n, flags)
}

func (h *handlers) domainGetMemoryParameters(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	n := c.Args.Int32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if n < 0 || n > typedParamsMax {
		return virterror.New(virterror.RPC, virterror.FromRPC, "nparams too large")
	}
	// The typed-param-string flag is a client capability, not a choice.
	hard, soft, swap, err := h.drv.MemoryParameters(d, flags&^(1<<2))
	if err != nil {
		return err
	}
	if n == 0 {
		// The client asks how many there are first.
		c.Ret.Uint32(0)
		c.Ret.Int32(3)
		return nil
	}
	params := []typedparam.Param{
		typedparam.ULLongParam("hard_limit", hard),
		typedparam.ULLongParam("soft_limit", soft),
		typedparam.ULLongParam("swap_hard_limit", swap),
	}
	typedparam.EncodeParams(c.Ret, params[:min(int(n), len(params))])
	c.Ret.Int32(0)
	return nil
}

// Console.

func (h *handlers) domainOpenConsole(c *rpc.Call) error {
	d := decodeDomain(c.Args)
	dev := c.Args.OptString()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	name := ""
	if dev != nil {
		name = *dev
	}
	rw, err := h.drv.OpenConsole(d, name, flags)
	if err != nil {
		return err
	}
	st := c.NewStream(func(b []byte) error {
		_, err := rw.Write(b)
		return err
	}, func(bool) { rw.Close() })
	c.AfterReply(func() { go pump(rw, st) })
	return nil
}

// pump copies guest console output to the client until either side ends.
func pump(r io.Reader, st *rpc.Stream) {
	buf := make([]byte, 64*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 && !st.Send(buf[:n]) {
			return
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
				if errors.Is(err, io.EOF) {
					st.SendEOF()
				}
				return
			}
			st.Fail(virterror.New(virterror.SystemError, virterror.FromStreams, "console read failed: %v", err))
			return
		}
	}
}
