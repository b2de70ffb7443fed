package admin

import (
	"github.com/virtlxcd/virtlxcd/pkg/typedparam"
	"github.com/virtlxcd/virtlxcd/pkg/xdr"
)

// Limits from admin_protocol.x.
const (
	serverListMax        = 16384
	clientListMax        = 16384
	threadpoolParamsMax  = 32
	clientInfoParamsMax  = 64
	clientLimitsParamMax = 32
)

// Typed parameters are shared with the remote program.
type (
	Param     = typedparam.Param
	ParamType = typedparam.ParamType
)

const (
	ParamInt     = typedparam.ParamInt
	ParamUint    = typedparam.ParamUint
	ParamLLong   = typedparam.ParamLLong
	ParamULLong  = typedparam.ParamULLong
	ParamDouble  = typedparam.ParamDouble
	ParamBoolean = typedparam.ParamBoolean
	ParamString  = typedparam.ParamString
)

var (
	UintParam      = typedparam.UintParam
	IntParam       = typedparam.IntParam
	StringParam    = typedparam.StringParam
	BoolParam      = typedparam.BoolParam
	EncodeParams   = typedparam.EncodeParams
	DecodeParams   = typedparam.DecodeParams
	validateParams = typedparam.Validate
	uintParam      = typedparam.UintValue
)

// ClientRef is admin_nonnull_client.
type ClientRef struct {
	Server    string
	ID        uint64
	Timestamp int64 // connection time, seconds since the epoch
	Transport uint32
}

func encodeServer(e *xdr.Encoder, name string) { e.String(name) }

func decodeServer(d *xdr.Decoder) string { return d.String() }

func encodeClient(e *xdr.Encoder, c ClientRef) {
	encodeServer(e, c.Server)
	e.Uint64(c.ID)
	e.Int64(c.Timestamp)
	e.Uint32(c.Transport)
}

func decodeClient(d *xdr.Decoder) ClientRef {
	var c ClientRef
	c.Server = decodeServer(d)
	c.ID = d.Uint64()
	c.Timestamp = d.Int64()
	c.Transport = d.Uint32()
	return c
}
