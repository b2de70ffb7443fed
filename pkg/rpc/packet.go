// Package rpc implements libvirt's RPC transport (virnetprotocol.x) on the
// server side: packet framing, per-client connections, dispatch of calls
// to program tables, keepalive, streams and asynchronous messages.
package rpc

import (
	"encoding/binary"
	"fmt"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
	"github.com/virtlxcd/virtlxcd/pkg/xdr"
)

// Sizes from virnetprotocol.x as libvirt 9.0 applies them.
const (
	LenWordSize      = 4
	HeaderSize       = 24
	MaxMessage       = 33554432 // VIR_NET_MESSAGE_MAX, excluding the length word
	MaxPacket        = MaxMessage + LenWordSize
	MinPacket        = LenWordSize + HeaderSize
	StreamChunk      = 262120 // VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX: largest stream payload we send
	KeepaliveProgram = 0x6b656570
	KeepaliveVersion = 1
	KeepalivePing    = 1
	KeepalivePong    = 2
)

// Type is virNetMessageType.
type Type int32

const (
	TypeCall         Type = 0
	TypeReply        Type = 1
	TypeMessage      Type = 2
	TypeStream       Type = 3
	TypeCallWithFDs  Type = 4
	TypeReplyWithFDs Type = 5
	TypeStreamHole   Type = 6
)

// Status is virNetMessageStatus.
type Status int32

const (
	StatusOK       Status = 0
	StatusError    Status = 1
	StatusContinue Status = 2
)

// Header is virNetMessageHeader.
type Header struct {
	Prog   uint32
	Vers   uint32
	Proc   int32
	Type   Type
	Serial uint32
	Status Status
}

// DecodeHeader reads the 24-byte header at the start of b (after the
// length word).
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("rpc: short header (%d bytes)", len(b))
	}
	be := binary.BigEndian
	return Header{
		Prog:   be.Uint32(b[0:]),
		Vers:   be.Uint32(b[4:]),
		Proc:   int32(be.Uint32(b[8:])),
		Type:   Type(be.Uint32(b[12:])),
		Serial: be.Uint32(b[16:]),
		Status: Status(be.Uint32(b[20:])),
	}, nil
}

// Packet builds a complete packet: length word, header and payload.
func Packet(h Header, payload []byte) []byte {
	b := make([]byte, MinPacket, MinPacket+len(payload))
	be := binary.BigEndian
	be.PutUint32(b[0:], uint32(MinPacket+len(payload)))
	be.PutUint32(b[4:], h.Prog)
	be.PutUint32(b[8:], h.Vers)
	be.PutUint32(b[12:], uint32(h.Proc))
	be.PutUint32(b[16:], uint32(h.Type))
	be.PutUint32(b[20:], h.Serial)
	be.PutUint32(b[24:], uint32(h.Status))
	return append(b, payload...)
}

// EncodeError writes remote_error for err the way libvirtd fills it:
// message always present (go-libvirt requires it), level ERROR, str1 the
// template, str2 the detail, int1/int2 -1, no domain or network.
func EncodeError(e *xdr.Encoder, err *virterror.Error) {
	e.Int32(int32(err.Code))
	e.Int32(int32(err.Domain))
	msg := err.Message
	e.OptString(&msg)
	e.Int32(virterror.LevelError)
	e.Uint32(0) // dom
	tmpl := "%s"
	e.OptString(&tmpl)
	detail := err.Detail
	e.OptString(&detail)
	e.Uint32(0) // str3
	e.Int32(-1)
	e.Int32(-1)
	e.Uint32(0) // net
}

// DecodeError reads remote_error; tests and clients use it.
func DecodeError(d *xdr.Decoder) *virterror.Error {
	code := d.Int32()
	dom := d.Int32()
	msg := d.OptString()
	d.Int32() // level
	if d.Present() {
		_ = d.String()
		var u [16]byte
		d.FixedOpaque(u[:])
		d.Int32()
	}
	d.OptString()
	detail := d.OptString()
	d.OptString()
	d.Int32()
	d.Int32()
	if d.Present() {
		_ = d.String()
		var u [16]byte
		d.FixedOpaque(u[:])
	}
	ve := &virterror.Error{Code: virterror.Code(code), Domain: virterror.Domain(dom)}
	if msg != nil {
		ve.Message = *msg
	}
	if detail != nil {
		ve.Detail = *detail
	}
	return ve
}

// ErrorPacket builds a REPLY/ERROR packet answering h.
func ErrorPacket(h Header, err *virterror.Error) []byte {
	e := xdr.NewEncoder(make([]byte, 0, 256))
	EncodeError(e, err)
	h.Type = TypeReply
	h.Status = StatusError
	return Packet(h, e.Bytes())
}
