package remote

import (
	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/rpc"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
	"github.com/virtlxcd/virtlxcd/pkg/xdr"
)

// lastLegacyEventID is VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED: events added
// after it exist only in the callback form of the protocol.
const lastLegacyEventID = 15

// Old-style event messages: the domain and the event's data, no callback
// id.
const (
	procLegacyLifecycle = 107 // DOMAIN_EVENT_LIFECYCLE
	procLegacyReboot    = 169 // DOMAIN_EVENT_REBOOT
)

// encodeLegacyEvent builds the old-style MESSAGE of an event; 0 means the
// event has none.
func encodeLegacyEvent(ev domain.Event) (int32, []byte) {
	e := xdr.NewEncoder(make([]byte, 0, 96))
	encodeDomain(e, ev.Dom)
	switch ev.ID {
	case domain.EventIDLifecycle:
		e.Int32(ev.Event)
		e.Int32(ev.Detail)
		return procLegacyLifecycle, e.Bytes()
	case domain.EventIDReboot:
		return procLegacyReboot, e.Bytes()
	}
	return 0, nil
}

// registerLegacy adds a legacy callback for eventID on every domain. A
// connection has at most one callback per event for all domains, as in
// libvirt, where a second one is the same callback tracked twice.
func (h *handlers) registerLegacy(c *rpc.Client, eventID int32) error {
	st := h.state(c)
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, cb := range st.callbacks {
		if cb.eventID == eventID && cb.dom == nil {
			return virterror.New(virterror.InvalidArg, virterror.FromNone, "event callback already tracked")
		}
	}
	st.callbacks[h.nextCallback.Add(1)] = callback{eventID: eventID, legacy: true}
	return nil
}

func (h *handlers) deregisterLegacy(c *rpc.Client, eventID int32) error {
	st := h.state(c)
	st.mu.Lock()
	defer st.mu.Unlock()
	for id, cb := range st.callbacks {
		if cb.legacy && cb.eventID == eventID {
			delete(st.callbacks, id)
			return nil
		}
	}
	return virterror.New(virterror.InternalError, virterror.FromRPC, "domain event %d not registered", eventID)
}

func legacyEventID(c *rpc.Call) (int32, error) {
	id := c.Args.Int32()
	if err := c.Decoded(); err != nil {
		return 0, err
	}
	if id < 0 || id > lastLegacyEventID {
		return 0, virterror.New(virterror.InternalError, virterror.FromRPC, "unsupported event ID %d", id)
	}
	return id, nil
}

// connectDomainEventRegister is virConnectDomainEventRegister: lifecycle
// events of every domain, as DOMAIN_EVENT_LIFECYCLE messages.
func (h *handlers) connectDomainEventRegister(c *rpc.Call) error {
	if err := c.Decoded(); err != nil {
		return err
	}
	if err := h.registerLegacy(c.Client, domain.EventIDLifecycle); err != nil {
		return err
	}
	c.Ret.Int32(0) // cb_registered, which libvirt leaves unset
	return nil
}

func (h *handlers) connectDomainEventDeregister(c *rpc.Call) error {
	if err := c.Decoded(); err != nil {
		return err
	}
	if err := h.deregisterLegacy(c.Client, domain.EventIDLifecycle); err != nil {
		return err
	}
	c.Ret.Int32(0)
	return nil
}

// connectDomainEventRegisterAny is virConnectDomainEventRegisterAny in
// its old wire form: one event id for every domain, no callback id.
func (h *handlers) connectDomainEventRegisterAny(c *rpc.Call) error {
	id, err := legacyEventID(c)
	if err != nil {
		return err
	}
	return h.registerLegacy(c.Client, id)
}

func (h *handlers) connectDomainEventDeregisterAny(c *rpc.Call) error {
	id, err := legacyEventID(c)
	if err != nil {
		return err
	}
	return h.deregisterLegacy(c.Client, id)
}
