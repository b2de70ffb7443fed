package admin

import (
	"bytes"
	"math"
	"testing"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
	"github.com/virtlxcd/virtlxcd/pkg/xdr"
)

func TestParamsRoundTrip(t *testing.T) {
	in := []Param{
		IntParam("i", -7),
		UintParam("u", 30),
		{Field: "ll", Type: ParamLLong, LLong: math.MinInt64},
		{Field: "ull", Type: ParamULLong, ULLong: math.MaxUint64},
		{Field: "d", Type: ParamDouble, Double: 2.5},
		BoolParam("b", true),
		StringParam("s", "root"),
	}
	e := xdr.NewEncoder(nil)
	EncodeParams(e, in)
	d := xdr.NewDecoder(e.Bytes())
	out, err := DecodeParams(d, 32)
	if err != nil || d.Done() != nil {
		t.Fatalf("decode: %v / %v", err, d.Done())
	}
	if len(out) != len(in) {
		t.Fatalf("got %d params, want %d", len(out), len(in))
	}
	for i := range in {
		if out[i] != in[i] {
			t.Errorf("param %d: got %+v, want %+v", i, out[i], in[i])
		}
	}
}

// The wire form of one UINT parameter, spelled out by hand from
// admin_protocol.x: field string, type discriminant, value.
func TestParamWireLayout(t *testing.T) {
	e := xdr.NewEncoder(nil)
	EncodeParams(e, []Param{UintParam("maxWorkers", 30), BoolParam("readonly", true)})
	want := []byte{
		0, 0, 0, 2, // array length
		0, 0, 0, 10, 'm', 'a', 'x', 'W', 'o', 'r', 'k', 'e', 'r', 's', 0, 0,
		0, 0, 0, 2, // VIR_TYPED_PARAM_UINT
		0, 0, 0, 30,
		0, 0, 0, 8, 'r', 'e', 'a', 'd', 'o', 'n', 'l', 'y',
		0, 0, 0, 6, // VIR_TYPED_PARAM_BOOLEAN
		0, 0, 0, 1,
	}
	if !bytes.Equal(e.Bytes(), want) {
		t.Fatalf("got  % x\nwant % x", e.Bytes(), want)
	}
}

func TestDecodeParamsErrors(t *testing.T) {
	t.Run("over the array limit fails decoding", func(t *testing.T) {
		e := xdr.NewEncoder(nil)
		EncodeParams(e, []Param{UintParam("a", 1), UintParam("b", 2), UintParam("c", 3)})
		d := xdr.NewDecoder(e.Bytes())
		if _, err := DecodeParams(d, 2); err != nil || d.Err() == nil {
			t.Fatalf("want an XDR failure, got err=%v decoder=%v", err, d.Err())
		}
	})
	t.Run("unknown type fails decoding", func(t *testing.T) {
		e := xdr.NewEncoder(nil)
		e.Uint32(1)
		e.String("x")
		e.Int32(99)
		e.Uint32(0)
		d := xdr.NewDecoder(e.Bytes())
		if _, err := DecodeParams(d, 8); err != nil || d.Err() == nil {
			t.Fatalf("want an XDR failure, got err=%v decoder=%v", err, d.Err())
		}
	})
	t.Run("truncated", func(t *testing.T) {
		e := xdr.NewEncoder(nil)
		EncodeParams(e, []Param{StringParam("name", "value")})
		b := e.Bytes()
		d := xdr.NewDecoder(b[:len(b)-3])
		if _, err := DecodeParams(d, 8); err != nil || d.Err() == nil {
			t.Fatalf("want an XDR failure, got err=%v decoder=%v", err, d.Err())
		}
	})
	t.Run("field name too long", func(t *testing.T) {
		e := xdr.NewEncoder(nil)
		EncodeParams(e, []Param{UintParam(string(bytes.Repeat([]byte{'f'}, 80)), 1)})
		d := xdr.NewDecoder(e.Bytes())
		_, err := DecodeParams(d, 8)
		if !virterror.Is(err, virterror.InternalError) {
			t.Fatalf("got %v, want an internal error", err)
		}
	})
}

func TestValidateParams(t *testing.T) {
	allowed := map[string]ParamType{"maxWorkers": ParamUint, "minWorkers": ParamUint}
	cases := []struct {
		name   string
		params []Param
		code   virterror.Code
		msg    string
	}{
		{"ok", []Param{UintParam("maxWorkers", 3), UintParam("minWorkers", 1)}, 0, ""},
		{"empty", nil, 0, ""},
		{"unknown", []Param{UintParam("bogus", 1)}, virterror.ArgumentUnsupported,
			"argument unsupported: parameter 'bogus' not supported"},
		{"twice", []Param{UintParam("maxWorkers", 1), UintParam("maxWorkers", 2)}, virterror.InvalidArg,
			"invalid argument: parameter 'maxWorkers' occurs multiple times"},
		{"type", []Param{IntParam("maxWorkers", 1)}, virterror.InvalidArg,
			"invalid argument: invalid type 'int' for parameter 'maxWorkers', expected 'uint'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := validateParams(tc.params, allowed)
			if tc.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			ve, ok := err.(*virterror.Error)
			if !ok || ve.Code != tc.code || ve.Message != tc.msg {
				t.Fatalf("got %#v, want code %d %q", err, tc.code, tc.msg)
			}
		})
	}
}

func TestClientRefRoundTrip(t *testing.T) {
	in := ClientRef{Server: "virtlxcd", ID: 1 << 40, Timestamp: 1764372000, Transport: 0}
	e := xdr.NewEncoder(nil)
	encodeClient(e, in)
	if got := e.Len(); got != 4+8+8+8+4 {
		t.Fatalf("encoded %d bytes, want 32", got)
	}
	d := xdr.NewDecoder(e.Bytes())
	if out := decodeClient(d); out != in || d.Done() != nil {
		t.Fatalf("got %+v (%v), want %+v", out, d.Done(), in)
	}
}
