package conf

import (
	"fmt"
	"strconv"
	"strings"
)

// Format writes entries back in the grammar, one statement per line, so
// that Parse(Format(f)) yields the same entries. It fails only for strings
// no quoting can carry (a line end together with `"""`, for instance),
// which Parse never produces.
func Format(entries []Entry) ([]byte, error) {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.Name)
		b.WriteString(" = ")
		if err := formatValue(&b, e.Value); err != nil {
			return nil, fmt.Errorf("format %q: %w", e.Name, err)
		}
		b.WriteByte('\n')
	}
	return []byte(b.String()), nil
}

func formatValue(b *strings.Builder, v Value) error {
	switch v.Kind {
	case KindString:
		q, err := Quote(v.Str)
		if err != nil {
			return err
		}
		b.WriteString(q)
	case KindUnsigned:
		b.WriteString(strconv.FormatUint(v.Uint, 10))
	case KindSigned:
		// A leading '-' is what makes a number signed, so only zero
		// ("-0") and negative numbers can be written as signed.
		switch {
		case v.Int == 0:
			b.WriteString("-0")
		case v.Int < 0:
			b.WriteString(strconv.FormatInt(v.Int, 10))
		default:
			return fmt.Errorf("signed value %d has no signed spelling", v.Int)
		}
	case KindList:
		b.WriteString("[ ")
		for i, item := range v.List {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := formatValue(b, item); err != nil {
				return err
			}
		}
		b.WriteString(" ]")
	default:
		return fmt.Errorf("unknown value kind %d", v.Kind)
	}
	return nil
}

// Quote returns s as a string literal of the grammar, choosing the quotes
// the way libvirt's writer does: "..." when possible, then '...', then
// """...""" for text with line ends or both quote characters.
func Quote(s string) (string, error) {
	multiline := strings.ContainsAny(s, "\r\n")
	switch {
	case !multiline && !strings.Contains(s, `"`):
		return `"` + s + `"`, nil
	case !multiline && !strings.Contains(s, `'`):
		return `'` + s + `'`, nil
	case !strings.Contains(s, `"""`) && !strings.HasSuffix(s, `"`):
		return `"""` + s + `"""`, nil
	}
	return "", fmt.Errorf("string %q cannot be quoted", s)
}
