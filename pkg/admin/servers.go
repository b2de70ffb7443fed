package admin

import (
	"github.com/virtlxcd/virtlxcd/pkg/rpc"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// Typed parameter names of the server calls (libvirt-admin.h).
const (
	paramMinWorkers    = "minWorkers"
	paramMaxWorkers    = "maxWorkers"
	paramWorkers       = "nWorkers"
	paramFreeWorkers   = "freeWorkers"
	paramPrioWorkers   = "prioWorkers"
	paramJobQueueDepth = "jobQueueDepth"

	paramClientsMax       = "nclients_max"
	paramClients          = "nclients"
	paramClientsUnauthMax = "nclients_unauth_max"
	paramClientsUnauth    = "nclients_unauth"
)

var threadpoolSettable = map[string]ParamType{
	paramMinWorkers: ParamUint, paramMaxWorkers: ParamUint, paramPrioWorkers: ParamUint,
}

var clientLimitsSettable = map[string]ParamType{
	paramClientsMax: ParamUint, paramClientsUnauthMax: ParamUint,
}

func (h *handlers) connectListServers(c *rpc.Call) error {
	needResults := c.Args.Uint32()
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if err := checkFlags(flags, 0, "adminConnectListServers"); err != nil {
		return err
	}
	if needResults != 0 {
		c.Ret.Uint32(uint32(len(h.opts.Servers)))
		for _, s := range h.opts.Servers {
			encodeServer(c.Ret, s.Name)
		}
	} else {
		c.Ret.Uint32(0)
	}
	c.Ret.Uint32(uint32(len(h.opts.Servers)))
	return nil
}

func (h *handlers) connectLookupServer(c *rpc.Call) error {
	name := c.Args.String()
	_ = c.Args.Uint32() // flags: libvirt 9.0 accepts any value here
	if err := c.Decoded(); err != nil {
		return err
	}
	s, err := h.server(name)
	if err != nil {
		return err
	}
	encodeServer(c.Ret, s.Name)
	return nil
}

func (h *handlers) serverGetThreadpoolParameters(c *rpc.Call) error {
	name := decodeServer(c.Args)
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	s, err := h.server(name)
	if err != nil {
		return err
	}
	if err := checkFlags(flags, 0, "adminServerGetThreadPoolParameters"); err != nil {
		return err
	}
	st := s.Pool().Stats()
	EncodeParams(c.Ret, []Param{
		UintParam(paramMinWorkers, st.MinWorkers),
		UintParam(paramMaxWorkers, st.MaxWorkers),
		UintParam(paramWorkers, st.Workers),
		UintParam(paramFreeWorkers, st.FreeWorkers),
		UintParam(paramPrioWorkers, st.PrioWorkers),
		UintParam(paramJobQueueDepth, st.JobQueueDepth),
	})
	return nil
}

func (h *handlers) serverSetThreadpoolParameters(c *rpc.Call) error {
	name := decodeServer(c.Args)
	params, perr := DecodeParams(c.Args, threadpoolParamsMax)
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	s, err := h.serverForUpdate(name)
	if err != nil {
		return err
	}
	if perr != nil {
		return perr
	}
	if err := checkFlags(flags, 0, "adminServerSetThreadPoolParameters"); err != nil {
		return err
	}
	if err := validateParams(params, threadpoolSettable); err != nil {
		return err
	}
	min, max, prio := uintParam(params, paramMinWorkers), uintParam(params, paramMaxWorkers), uintParam(params, paramPrioWorkers)
	if err := checkPoolLimits(s.Pool().Stats(), min, max); err != nil {
		return err
	}
	if err := s.Pool().SetLimits(int(min), int(max), int(prio)); err != nil {
		return virterror.New(virterror.InvalidArg, virterror.FromNone, "%s", err.Error())
	}
	h.log.Info("thread pool limits changed", "server", s.Name, "minWorkers", min, "maxWorkers", max, "prioWorkers", prio, "client", c.Client.ID)
	return nil
}

// checkPoolLimits applies libvirt's thread pool rules (-1 = unchanged)
// with its wording, before the pool is touched.
func checkPoolLimits(cur rpc.PoolStats, min, max int64) error {
	newMax, newMin := int64(cur.MaxWorkers), int64(cur.MinWorkers)
	if max >= 0 {
		newMax = max
	}
	if min >= 0 {
		newMin = min
	}
	if newMin > newMax {
		return virterror.New(virterror.InvalidArg, virterror.FromNone, "minWorkers cannot be larger than maxWorkers")
	}
	if (max == 0 && cur.MaxWorkers > 0) || (max > 0 && cur.MaxWorkers == 0) {
		return virterror.New(virterror.InvalidArg, virterror.FromNone, "maxWorkers must not be switched from zero to non-zero and vice versa")
	}
	return nil
}

func (h *handlers) serverGetClientLimits(c *rpc.Call) error {
	name := decodeServer(c.Args)
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	s, err := h.server(name)
	if err != nil {
		return err
	}
	if err := checkFlags(flags, 0, "adminServerGetClientLimits"); err != nil {
		return err
	}
	maxClients, clients, maxUnauth, unauth := s.ClientLimits()
	EncodeParams(c.Ret, []Param{
		UintParam(paramClientsMax, maxClients),
		UintParam(paramClients, clients),
		UintParam(paramClientsUnauthMax, maxUnauth),
		UintParam(paramClientsUnauth, unauth),
	})
	return nil
}

func (h *handlers) serverSetClientLimits(c *rpc.Call) error {
	name := decodeServer(c.Args)
	params, perr := DecodeParams(c.Args, clientLimitsParamMax)
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	s, err := h.serverForUpdate(name)
	if err != nil {
		return err
	}
	if perr != nil {
		return perr
	}
	if err := checkFlags(flags, 0, "adminServerSetClientLimits"); err != nil {
		return err
	}
	if err := validateParams(params, clientLimitsSettable); err != nil {
		return err
	}
	maxClients, maxUnauth := uintParam(params, paramClientsMax), uintParam(params, paramClientsUnauthMax)
	curMax, _, curUnauth, _ := s.ClientLimits()
	newMax, newUnauth := int64(curMax), int64(curUnauth)
	if maxClients >= 0 {
		newMax = maxClients
	}
	if maxUnauth >= 0 {
		newUnauth = maxUnauth
	}
	if newMax < newUnauth {
		return virterror.New(virterror.InvalidArg, virterror.FromRPC,
			"The overall maximum number of clients waiting for authentication must not be less than the overall maximum number of clients")
	}
	if err := s.SetClientLimits(maxClients, maxUnauth); err != nil {
		return virterror.New(virterror.InvalidArg, virterror.FromRPC, "%s", err.Error())
	}
	h.log.Info("client limits changed", "server", s.Name, "nclients_max", maxClients, "nclients_unauth_max", maxUnauth, "client", c.Client.ID)
	return nil
}

func (h *handlers) serverUpdateTLSFiles(c *rpc.Call) error {
	name := decodeServer(c.Args)
	flags := c.Args.Uint32()
	if err := c.Decoded(); err != nil {
		return err
	}
	if _, err := h.server(name); err != nil {
		return err
	}
	if err := checkFlags(flags, 0, "adminServerUpdateTlsFiles"); err != nil {
		return err
	}
	// Every server here listens on UNIX sockets only.
	return virterror.New(virterror.InternalError, virterror.FromRPC, "no tls service found, unable to update tls files")
}
