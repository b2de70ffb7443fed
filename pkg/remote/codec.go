package remote

import (
	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/xdr"
)

// Limits from remote_protocol.x.
const (
	domainListMax      = 16384
	typedParamsMax     = 16
	typedParamFieldLen = 80
)

// UnlimitedKiB is VIR_DOMAIN_MEMORY_PARAM_UNLIMITED.
const UnlimitedKiB = 1<<53 - 1

func decodeDomain(d *xdr.Decoder) domain.Ref {
	var r domain.Ref
	r.Name = d.String()
	d.FixedOpaque(r.UUID[:])
	r.ID = d.Int32()
	return r
}

func encodeDomain(e *xdr.Encoder, r domain.Ref) {
	e.String(r.Name)
	e.FixedOpaque(r.UUID[:])
	e.Int32(r.ID)
}

// encodeEvent builds the MESSAGE for a callback-style event; 0 means the
// event has no wire form.
func encodeEvent(callbackID int32, ev domain.Event) (int32, []byte) {
	e := xdr.NewEncoder(make([]byte, 0, 96))
	e.Int32(callbackID)
	encodeDomain(e, ev.Dom)
	switch ev.ID {
	case domain.EventIDLifecycle:
		e.Int32(ev.Event)
		e.Int32(ev.Detail)
		return 318, e.Bytes() // DOMAIN_EVENT_CALLBACK_LIFECYCLE
	case domain.EventIDReboot:
		return 319, e.Bytes() // DOMAIN_EVENT_CALLBACK_REBOOT
	case domain.EventIDMetadata:
		e.Int32(ev.Detail)
		var uri *string
		if ev.URI != "" {
			uri = &ev.URI
		}
		e.OptString(uri)
		return 379, e.Bytes() // DOMAIN_EVENT_CALLBACK_METADATA_CHANGE
	}
	return 0, nil
}
