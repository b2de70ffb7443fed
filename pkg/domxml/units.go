package domxml

import (
	"math/bits"
	"strings"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// unitScale is libvirt's table of memory unit suffixes: the SI spellings
// are powers of 1000, the bare letters and the "iB" spellings powers of
// 1024. An empty unit means KiB for every memory element of a domain.
var unitScale = map[string]uint64{
	"":      1024,
	"b":     1,
	"bytes": 1,
	"kb":    1000,
	"k":     1 << 10,
	"kib":   1 << 10,
	"mb":    1000 * 1000,
	"m":     1 << 20,
	"mib":   1 << 20,
	"gb":    1000 * 1000 * 1000,
	"g":     1 << 30,
	"gib":   1 << 30,
	"tb":    1000 * 1000 * 1000 * 1000,
	"t":     1 << 40,
	"tib":   1 << 40,
	"pb":    1000 * 1000 * 1000 * 1000 * 1000,
	"p":     1 << 50,
	"pib":   1 << 50,
	"eb":    1000 * 1000 * 1000 * 1000 * 1000 * 1000,
	"e":     1 << 60,
	"eib":   1 << 60,
}

// ToKiB converts value in unit to KiB, rounding up as libvirt does.
func ToKiB(element string, value uint64, unit string) (uint64, error) {
	scale, ok := unitScale[strings.ToLower(unit)]
	if !ok {
		return 0, virterror.New(virterror.InvalidArg, virterror.FromNone, "unknown suffix '%s'", unit)
	}
	hi, lo := bits.Mul64(value, scale)
	if hi != 0 {
		return 0, virterror.New(virterror.XMLError, virterror.FromDomain,
			"value of '%s' is too large", element)
	}
	return (lo + 1023) / 1024, nil
}
