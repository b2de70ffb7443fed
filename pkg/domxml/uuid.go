package domxml

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// ParseUUID accepts libvirt's spellings: 32 hex digits, optionally split
// by dashes (or spaces) anywhere.
func ParseUUID(s string) ([16]byte, error) {
	var u [16]byte
	clean := strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if len(clean) != 32 {
		return u, fmt.Errorf("malformed uuid %q", s)
	}
	if _, err := hex.Decode(u[:], []byte(clean)); err != nil {
		return u, fmt.Errorf("malformed uuid %q", s)
	}
	return u, nil
}

// FormatUUID gives the canonical 8-4-4-4-12 form.
func FormatUUID(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// NewUUID makes a random (version 4) UUID, as libvirt generates for a
// definition without one.
func NewUUID() [16]byte {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic(fmt.Sprintf("no randomness for a uuid: %v", err))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// NewMAC makes a random address in QEMU/KVM's 52:54:00 range, which libvirt
// uses for every driver.
func NewMAC() string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("no randomness for a mac address: %v", err))
	}
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", b[0], b[1], b[2])
}
