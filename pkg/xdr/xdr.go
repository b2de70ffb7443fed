// Package xdr encodes and decodes the subset of RFC 4506 that libvirt's RPC
// protocol uses. Decoding is deliberately lenient where libvirt's C XDR is:
// any non-zero word is "true" or "present" (go-libvirt sends 0x01000000 as
// the presence marker of an optional string).
package xdr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrShort is returned when the input ends before a value does.
var ErrShort = errors.New("xdr: unexpected end of data")

// Encoder appends XDR values to a byte slice.
type Encoder struct {
	buf []byte
}

// NewEncoder returns an encoder appending to buf (which may be nil).
func NewEncoder(buf []byte) *Encoder { return &Encoder{buf: buf} }

// Bytes returns the encoded data.
func (e *Encoder) Bytes() []byte { return e.buf }

// Len is the number of bytes encoded so far.
func (e *Encoder) Len() int { return len(e.buf) }

func (e *Encoder) Uint32(v uint32) { e.buf = binary.BigEndian.AppendUint32(e.buf, v) }
func (e *Encoder) Int32(v int32)   { e.Uint32(uint32(v)) }
func (e *Encoder) Uint64(v uint64) { e.buf = binary.BigEndian.AppendUint64(e.buf, v) }
func (e *Encoder) Int64(v int64)   { e.Uint64(uint64(v)) }
func (e *Encoder) Double(v float64) {
	e.Uint64(math.Float64bits(v))
}

func (e *Encoder) Bool(v bool) {
	if v {
		e.Uint32(1)
	} else {
		e.Uint32(0)
	}
}

func (e *Encoder) pad(n int) {
	for n%4 != 0 {
		e.buf = append(e.buf, 0)
		n++
	}
}

// String encodes a length-prefixed, padded string.
func (e *Encoder) String(s string) {
	e.Uint32(uint32(len(s)))
	e.buf = append(e.buf, s...)
	e.pad(len(s))
}

// Opaque encodes variable-length opaque data.
func (e *Encoder) Opaque(b []byte) {
	e.Uint32(uint32(len(b)))
	e.buf = append(e.buf, b...)
	e.pad(len(b))
}

// FixedOpaque encodes fixed-length opaque data (no length word).
func (e *Encoder) FixedOpaque(b []byte) {
	e.buf = append(e.buf, b...)
	e.pad(len(b))
}

// OptString encodes an optional string (remote_string): a presence word,
// then the string.
func (e *Encoder) OptString(s *string) {
	if s == nil {
		e.Uint32(0)
		return
	}
	e.Uint32(1)
	e.String(*s)
}

// CharArray encodes a C char array the way rpcgen does: one 4-byte word
// per character. withNUL appends the terminating NUL that libvirt includes
// in variable char arrays.
func (e *Encoder) CharArray(s string, withNUL bool) {
	n := len(s)
	if withNUL {
		n++
	}
	e.Uint32(uint32(n))
	e.FixedCharArray(s, n)
}

// FixedCharArray encodes char[n]: s truncated or NUL-padded to n words.
func (e *Encoder) FixedCharArray(s string, n int) {
	for i := 0; i < n; i++ {
		var c byte
		if i < len(s) {
			c = s[i]
		}
		e.Int32(int32(int8(c)))
	}
}

// Raw appends bytes as they are (stream payloads).
func (e *Encoder) Raw(b []byte) { e.buf = append(e.buf, b...) }

// Decoder reads XDR values from a byte slice. The first error sticks: once
// set, every further read returns zero values, so handlers can decode a
// whole struct and check Err once.
type Decoder struct {
	buf []byte
	off int
	err error
	// MaxString bounds strings and opaques (REMOTE_STRING_MAX by default).
	MaxString int
}

// DefaultMaxString is REMOTE_STRING_MAX.
const DefaultMaxString = 4194304

// NewDecoder returns a decoder over buf.
func NewDecoder(buf []byte) *Decoder { return &Decoder{buf: buf, MaxString: DefaultMaxString} }

// Err is the first error met, if any.
func (d *Decoder) Err() error { return d.err }

// Remaining is the number of undecoded bytes.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

// Fail records err unless an error is already recorded.
func (d *Decoder) Fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *Decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || d.off+n > len(d.buf) {
		d.err = ErrShort
		return nil
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b
}

func (d *Decoder) Uint32() uint32 {
	b := d.take(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func (d *Decoder) Int32() int32 { return int32(d.Uint32()) }

func (d *Decoder) Uint64() uint64 {
	b := d.take(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func (d *Decoder) Int64() int64    { return int64(d.Uint64()) }
func (d *Decoder) Double() float64 { return math.Float64frombits(d.Uint64()) }
func (d *Decoder) Bool() bool      { return d.Uint32() != 0 }
func (d *Decoder) Present() bool   { return d.Uint32() != 0 }
func padded(n int) int             { return (n + 3) &^ 3 }
func (d *Decoder) skipPad(n int)   { d.take(padded(n) - n) }
func (d *Decoder) length(max int) int {
	n := d.Uint32()
	if d.err != nil {
		return 0
	}
	if uint64(n) > uint64(max) || int(n) > d.Remaining() {
		d.err = fmt.Errorf("xdr: length %d out of range", n)
		return 0
	}
	return int(n)
}

// String decodes a length-prefixed string.
func (d *Decoder) String() string {
	n := d.length(d.MaxString)
	b := d.take(n)
	d.skipPad(n)
	if d.err != nil {
		return ""
	}
	return string(b)
}

// Opaque decodes variable-length opaque data (copied).
func (d *Decoder) Opaque() []byte {
	n := d.length(d.MaxString)
	b := d.take(n)
	d.skipPad(n)
	if d.err != nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// FixedOpaque decodes n bytes of fixed-length opaque data into dst.
func (d *Decoder) FixedOpaque(dst []byte) {
	b := d.take(len(dst))
	d.skipPad(len(dst))
	copy(dst, b)
}

// OptString decodes a remote_string; nil when absent.
func (d *Decoder) OptString() *string {
	if !d.Present() {
		return nil
	}
	s := d.String()
	if d.err != nil {
		return nil
	}
	return &s
}

// ArrayLen decodes the length of a variable array bounded by max.
func (d *Decoder) ArrayLen(max int) int {
	n := d.Uint32()
	if d.err != nil {
		return 0
	}
	if uint64(n) > uint64(max) {
		d.err = fmt.Errorf("xdr: array length %d exceeds %d", n, max)
		return 0
	}
	// Every element takes at least one word; a length that cannot fit in
	// the remaining data is garbage, and refusing it early stops a hostile
	// length from making the caller allocate.
	if int(n) > d.Remaining()/4+1 {
		d.err = fmt.Errorf("xdr: array length %d exceeds data", n)
		return 0
	}
	return int(n)
}

// Rest returns the undecoded bytes.
func (d *Decoder) Rest() []byte { return d.buf[d.off:] }

// Done reports an error if bytes are left over; libvirt rejects trailing
// garbage in arguments.
func (d *Decoder) Done() error {
	if d.err != nil {
		return d.err
	}
	if d.off != len(d.buf) {
		return fmt.Errorf("xdr: %d trailing bytes", len(d.buf)-d.off)
	}
	return nil
}
