package remote

import (
	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/hostinfo"
	"github.com/virtlxcd/virtlxcd/pkg/rpc"
	"github.com/virtlxcd/virtlxcd/pkg/version"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// Connection flags of CONNECT_OPEN.
const connectRO = 1

// Driver features (virDrvFeature) and how the daemon answers them.
var features = map[int32]bool{
	9:  true, // TYPED_PARAM_STRING
	10: true, // PROGRAM_KEEPALIVE
	14: true, // REMOTE_EVENT_CALLBACK
	15: true, // REMOTE_CLOSE_CALLBACK
	16: true, // NETWORK_UPDATE_HAS_CORRECT_ORDER
}

const (
	featureFDPassing = 8
	featureKeepalive = 10
)

func (h *handlers) authList(c *rpc.Call) error {
	// Authenticated callers (auth "none", or root on a polkit socket) see
	// only REMOTE_AUTH_NONE; others are told to use polkit.
	c.Ret.Uint32(1)
	if c.Client.Authenticated() {
		c.Ret.Int32(rpc.AuthNone)
	} else {
		c.Ret.Int32(int32(c.Client.Auth()))
	}
	return nil
}

// authPolkit answers AUTH_POLKIT. This daemon does not talk to polkit, so
// only callers already trusted (root) pass; refusing is the safe answer
// for everybody else.
func (h *handlers) authPolkit(c *rpc.Call) error {
	if c.Client.Authenticated() {
		c.Ret.Int32(1)
		return nil
	}
	return virterror.New(virterror.AuthFailed, virterror.FromRPC,
		"polkit authentication is not available in virtlxcd: connect as root, or set auth_unix_rw = \"none\" and restrict the socket with unix_sock_rw_perms/unix_sock_group")
}

func (h *handlers) connectSupportsFeature(c *rpc.Call) error {
	f := c.Args.Int32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if f == featureKeepalive {
		c.Client.StartKeepalive()
	}
	supported := features[f]
	if f == featureFDPassing {
		// Descriptors travel only in LXC_PROC_DOMAIN_OPEN_NAMESPACE replies.
		_, supported = h.drv.(NamespaceOpener)
	}
	c.Ret.Bool(supported)
	return nil
}

func (h *handlers) connectOpen(c *rpc.Call) error {
	name := c.Args.OptString()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	st := h.state(c.Client)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.open {
		return virterror.New(virterror.InternalError, virterror.FromRPC, "connection already open")
	}
	uri := ""
	if name != nil {
		uri = *name
	}
	if err := h.drv.Open(uri); err != nil {
		return err
	}
	if flags&connectRO != 0 {
		c.Client.SetReadOnly()
	}
	if uri == "" {
		uri = "lxc:///system"
	}
	st.uri = uri
	st.open = true
	return nil
}

func (h *handlers) connectClose(c *rpc.Call) error {
	st := h.state(c.Client)
	st.mu.Lock()
	st.open = false
	st.callbacks = map[int32]callback{}
	st.mu.Unlock()
	// libvirtd answers, then closes the socket once the reply is out.
	c.AfterReply(c.Client.CloseAfterFlush)
	return nil
}

func (h *handlers) connectGetType(c *rpc.Call) error {
	c.Ret.String(h.drv.Type())
	return nil
}

func (h *handlers) connectGetVersion(c *rpc.Call) error {
	c.Ret.Uint64(hostinfo.KernelVersion())
	return nil
}

func (h *handlers) connectGetLibVersion(c *rpc.Call) error {
	c.Ret.Uint64(version.LibvirtAPI)
	return nil
}

func (h *handlers) connectGetHostname(c *rpc.Call) error {
	name, err := hostinfo.Hostname()
	if err != nil {
		return err
	}
	c.Ret.String(name)
	return nil
}

func (h *handlers) connectGetURI(c *rpc.Call) error {
	st := h.state(c.Client)
	st.mu.Lock()
	uri := st.uri
	st.mu.Unlock()
	c.Ret.String(uri)
	return nil
}

func (h *handlers) connectIsSecure(c *rpc.Call) error {
	// A local UNIX socket cannot be snooped on.
	c.Ret.Int32(1)
	return nil
}

func (h *handlers) nodeGetInfo(c *rpc.Call) error {
	n := hostinfo.Node()
	c.Ret.FixedCharArray(n.Model, 32)
	c.Ret.Uint64(n.MemoryKiB)
	c.Ret.Int32(n.CPUs)
	c.Ret.Int32(n.MHz)
	c.Ret.Int32(n.Nodes)
	c.Ret.Int32(n.Sockets)
	c.Ret.Int32(n.Cores)
	c.Ret.Int32(n.Threads)
	return nil
}

func (h *handlers) nodeGetFreeMemory(c *rpc.Call) error {
	c.Ret.Uint64(hostinfo.FreeMemory())
	return nil
}

func (h *handlers) connectGetCapabilities(c *rpc.Call) error {
	h.mu.Lock()
	caps := h.caps
	h.mu.Unlock()
	if caps == "" {
		var err error
		if caps, err = hostinfo.Capabilities(h.opts.HostUUID, h.opts.Emulator); err != nil {
			return err
		}
		h.mu.Lock()
		h.caps = caps
		h.mu.Unlock()
	}
	c.Ret.String(caps)
	return nil
}

func (h *handlers) connectGetSysinfo(c *rpc.Call) error {
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if flags != 0 {
		return unsupportedFlags(flags, "lxcConnectGetSysinfo")
	}
	s, err := hostinfo.Sysinfo()
	if err != nil {
		return err
	}
	c.Ret.String(s)
	return nil
}

func (h *handlers) nodeGetSecurityModel(c *rpc.Call) error {
	// No security driver: model "none", DOI "0", as libvirt reports it.
	c.Ret.CharArray("none", true)
	c.Ret.CharArray("0", true)
	return nil
}

func (h *handlers) connectRegisterCloseCallback(c *rpc.Call) error   { return nil }
func (h *handlers) connectUnregisterCloseCallback(c *rpc.Call) error { return nil }

func (h *handlers) connectDomainEventCallbackRegisterAny(c *rpc.Call) error {
	eventID := c.Args.Int32()
	var dom *[16]byte
	if c.Args.Present() {
		r := decodeDomain(c.Args)
		dom = &r.UUID
	}
	if err := c.Decoded(); err != nil {
		return err
	}
	if eventID < 0 || eventID >= domain.EventIDLast {
		return virterror.New(virterror.InternalError, virterror.FromRPC, "unsupported event ID %d", eventID)
	}
	if dom != nil {
		if _, err := h.drv.LookupByUUID(*dom); err != nil {
			return err
		}
	}
	// Callback ids are unique daemon-wide, as libvirt's are.
	id := h.nextCallback.Add(1)
	st := h.state(c.Client)
	st.mu.Lock()
	st.callbacks[id] = callback{eventID: eventID, dom: dom}
	st.mu.Unlock()
	c.Ret.Int32(id)
	return nil
}

func (h *handlers) connectDomainEventCallbackDeregisterAny(c *rpc.Call) error {
	id := c.Args.Int32()
	if err := c.Decoded(); err != nil {
		return err
	}
	st := h.state(c.Client)
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.callbacks[id]; !ok {
		return virterror.New(virterror.InvalidArg, virterror.FromRPC, "could not find event callback %d for deletion", id)
	}
	delete(st.callbacks, id)
	return nil
}

func unsupportedFlags(flags uint32, fn string) error {
	return virterror.BadFlags(virterror.FromLXC, flags, fn)
}
