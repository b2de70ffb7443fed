// Package typedparam is libvirt's virTypedParameter on the wire
// (remote_typed_param and admin_typed_param share one layout): the value
// types, encoding, decoding and the setters' validation rules.
package typedparam

import (
	"fmt"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
	"github.com/virtlxcd/virtlxcd/pkg/xdr"
)

// FieldLen is VIR_TYPED_PARAM_FIELD_LENGTH including the NUL that the C
// struct needs, so names may be at most 79 bytes.
const FieldLen = 80

// ParamType is virTypedParameterType.
type ParamType int32

const (
	ParamInt     ParamType = 1
	ParamUint    ParamType = 2
	ParamLLong   ParamType = 3
	ParamULLong  ParamType = 4
	ParamDouble  ParamType = 5
	ParamBoolean ParamType = 6
	ParamString  ParamType = 7
)

// paramTypeNames are libvirt's names for the types, as its "invalid type"
// errors spell them.
var paramTypeNames = map[ParamType]string{
	ParamInt: "int", ParamUint: "uint", ParamLLong: "llong", ParamULLong: "ullong",
	ParamDouble: "double", ParamBoolean: "boolean", ParamString: "string",
}

func (t ParamType) String() string {
	if n, ok := paramTypeNames[t]; ok {
		return n
	}
	return "unknown"
}

// Param is one typed parameter. Only the member its Type selects is
// meaningful: Int for INT and BOOLEAN, Uint for UINT, LLong, ULLong,
// Double, Str.
type Param struct {
	Field  string
	Type   ParamType
	Int    int32
	Uint   uint32
	LLong  int64
	ULLong uint64
	Double float64
	Str    string
}

// UintParam, IntParam, BoolParam and StringParam build the parameter kinds
// the daemon reports.
func UintParam(field string, v uint) Param {
	return Param{Field: field, Type: ParamUint, Uint: uint32(v)}
}
func IntParam(field string, v int64) Param { return Param{Field: field, Type: ParamInt, Int: int32(v)} }
func StringParam(field, v string) Param    { return Param{Field: field, Type: ParamString, Str: v} }
func BoolParam(field string, v bool) Param {
	p := Param{Field: field, Type: ParamBoolean}
	if v {
		p.Int = 1
	}
	return p
}

// EncodeParams writes a typed parameter array.
func EncodeParams(e *xdr.Encoder, params []Param) {
	e.Uint32(uint32(len(params)))
	for _, p := range params {
		e.String(p.Field)
		e.Int32(int32(p.Type))
		switch p.Type {
		case ParamInt, ParamBoolean:
			e.Int32(p.Int)
		case ParamUint:
			e.Uint32(p.Uint)
		case ParamLLong:
			e.Int64(p.LLong)
		case ParamULLong:
			e.Uint64(p.ULLong)
		case ParamDouble:
			e.Double(p.Double)
		case ParamString:
			e.String(p.Str)
		}
	}
}

// DecodeParams reads a typed parameter array of at most limit entries.
// Errors are the ones libvirt's deserialiser reports; XDR-level damage is
// left in d for the caller's Decoded check.
func DecodeParams(d *xdr.Decoder, limit int) ([]Param, error) {
	// Like rpcgen's bounded arrays, an over-long array is a decoding
	// failure of the whole message.
	n := d.ArrayLen(limit)
	if d.Err() != nil {
		return nil, nil
	}
	params := make([]Param, 0, n)
	for i := 0; i < n; i++ {
		var p Param
		p.Field = d.String()
		p.Type = ParamType(d.Int32())
		switch p.Type {
		case ParamInt, ParamBoolean:
			p.Int = d.Int32()
		case ParamUint:
			p.Uint = d.Uint32()
		case ParamLLong:
			p.LLong = d.Int64()
		case ParamULLong:
			p.ULLong = d.Uint64()
		case ParamDouble:
			p.Double = d.Double()
		case ParamString:
			p.Str = d.String()
		default:
			if d.Err() != nil {
				return nil, nil
			}
			// The union has no arm for other types, so the rest of the
			// payload cannot be interpreted.
			d.Fail(fmt.Errorf("xdr: typed parameter type %d", p.Type))
			return nil, nil
		}
		if d.Err() != nil {
			return nil, nil
		}
		if len(p.Field) >= FieldLen {
			return nil, virterror.New(virterror.InternalError, virterror.FromNone,
				"parameter %s too big for destination", p.Field)
		}
		params = append(params, p)
	}
	return params, nil
}

// Validate enforces libvirt's rule for setters: every parameter is
// one of the allowed names with the allowed type, each at most once.
func Validate(params []Param, allowed map[string]ParamType) error {
	seen := make(map[string]bool, len(params))
	for _, p := range params {
		want, ok := allowed[p.Field]
		if !ok {
			return virterror.New(virterror.ArgumentUnsupported, virterror.FromNone, "parameter '%s' not supported", p.Field)
		}
		if seen[p.Field] {
			return virterror.New(virterror.InvalidArg, virterror.FromNone, "parameter '%s' occurs multiple times", p.Field)
		}
		seen[p.Field] = true
		if p.Type != want {
			return virterror.New(virterror.InvalidArg, virterror.FromNone,
				"invalid type '%s' for parameter '%s', expected '%s'", p.Type, p.Field, want)
		}
	}
	return nil
}

// UintValue returns the named UINT parameter's value as libvirt's setters
// pass it on: -1 when absent.
func UintValue(params []Param, field string) int64 {
	for _, p := range params {
		if p.Field == field {
			return int64(p.Uint)
		}
	}
	return -1
}

// ULLongParam and LLongParam build 64-bit parameters (tunables).
func ULLongParam(field string, v uint64) Param {
	return Param{Field: field, Type: ParamULLong, ULLong: v}
}
func LLongParam(field string, v int64) Param { return Param{Field: field, Type: ParamLLong, LLong: v} }
