package xdr

import (
	"bytes"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	e := NewEncoder(nil)
	e.Uint32(7)
	e.Int32(-1)
	e.Uint64(1 << 40)
	e.Int64(-5)
	e.Bool(true)
	e.String("abcde")
	e.Opaque([]byte{1, 2})
	e.FixedOpaque([]byte{9, 9, 9})
	s := "opt"
	e.OptString(&s)
	e.OptString(nil)
	e.Double(1.5)
	if e.Len()%4 != 0 {
		t.Fatalf("unaligned encoding: %d bytes", e.Len())
	}
	d := NewDecoder(e.Bytes())
	if d.Uint32() != 7 || d.Int32() != -1 || d.Uint64() != 1<<40 || d.Int64() != -5 || !d.Bool() ||
		d.String() != "abcde" || !bytes.Equal(d.Opaque(), []byte{1, 2}) {
		t.Fatal("scalar round trip failed")
	}
	var fixed [3]byte
	d.FixedOpaque(fixed[:])
	if fixed != [3]byte{9, 9, 9} {
		t.Errorf("fixed opaque %v", fixed)
	}
	if p := d.OptString(); p == nil || *p != "opt" {
		t.Errorf("optional string %v", p)
	}
	if p := d.OptString(); p != nil {
		t.Errorf("absent optional string decoded as %q", *p)
	}
	if d.Double() != 1.5 {
		t.Error("double")
	}
	if err := d.Done(); err != nil {
		t.Error(err)
	}
}

// go-libvirt hand-encodes the presence marker of CONNECT_OPEN's name as
// 0x01000000; C XDR treats any non-zero word as true, and so must we.
func TestLenientPresenceMarker(t *testing.T) {
	d := NewDecoder([]byte{1, 0, 0, 0, 0, 0, 0, 3, 'l', 'x', 'c', 0})
	p := d.OptString()
	if p == nil || *p != "lxc" || d.Err() != nil {
		t.Fatalf("got %v, %v", p, d.Err())
	}
}

func TestCharArrays(t *testing.T) {
	e := NewEncoder(nil)
	e.CharArray("none", true)
	want := []byte{0, 0, 0, 5, 0, 0, 0, 'n', 0, 0, 0, 'o', 0, 0, 0, 'n', 0, 0, 0, 'e', 0, 0, 0, 0}
	if !bytes.Equal(e.Bytes(), want) {
		t.Errorf("char array: % x", e.Bytes())
	}
	e = NewEncoder(nil)
	e.FixedCharArray("x86_64", 32)
	if e.Len() != 128 {
		t.Errorf("char[32] is %d bytes, want 128", e.Len())
	}
}

func TestHostileLengths(t *testing.T) {
	for name, in := range map[string][]byte{
		"string longer than data": {0, 0, 0, 9, 'a'},
		"huge string":             {0xff, 0xff, 0xff, 0xff},
		"short word":              {0, 0},
	} {
		d := NewDecoder(in)
		_ = d.String()
		if d.Err() == nil {
			t.Errorf("%s: no error", name)
		}
		// Errors stick: later reads return zero values.
		if d.Uint32() != 0 || d.Err() == nil {
			t.Errorf("%s: error did not stick", name)
		}
	}
	d := NewDecoder([]byte{0x7f, 0xff, 0xff, 0xff})
	if n := d.ArrayLen(1 << 30); n != 0 || d.Err() == nil {
		t.Errorf("array length beyond the data accepted: %d", n)
	}
}
