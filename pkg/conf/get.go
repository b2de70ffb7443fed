package conf

import (
	"math"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// The typed getters mirror libvirt's virConfGetValue* family: a missing key
// is not an error (ok is false), a key of the wrong type or out of range is,
// with libvirt's wording so daemons report the same lines.

func (f *File) typeError(format, key string, args ...any) error {
	return virterror.New(virterror.InternalError, virterror.FromConf,
		"%s: "+format, append([]any{f.Name, key}, args...)...)
}

// String returns a string value.
func (f *File) String(key string) (string, bool, error) {
	v, ok := f.Lookup(key)
	if !ok {
		return "", false, nil
	}
	if v.Kind != KindString {
		return "", false, f.typeError("expected a string for '%s' parameter", key)
	}
	return v.Str, true, nil
}

// Uint returns an unsigned integer of any size. Negative numbers are
// refused even when zero ("-0"), as libvirt does.
func (f *File) Uint(key string) (uint64, bool, error) {
	v, ok := f.Lookup(key)
	if !ok {
		return 0, false, nil
	}
	if v.Kind != KindUnsigned {
		return 0, false, f.typeError("expected an unsigned integer for '%s' parameter", key)
	}
	return v.Uint, true, nil
}

// Uint32 is Uint limited to a C unsigned int, libvirt's virConfGetValueUInt
// that most daemon options use.
func (f *File) Uint32(key string) (uint32, bool, error) {
	n, ok, err := f.Uint(key)
	if err != nil || !ok {
		return 0, ok, err
	}
	if n > math.MaxUint32 {
		return 0, false, f.typeError("value for '%s' parameter must be in range 0:%d", key, uint64(math.MaxUint32))
	}
	return uint32(n), true, nil
}

// Int returns a signed integer; unsigned values are accepted when they fit.
func (f *File) Int(key string) (int64, bool, error) {
	v, ok := f.Lookup(key)
	if !ok {
		return 0, false, nil
	}
	switch v.Kind {
	case KindSigned:
		return v.Int, true, nil
	case KindUnsigned:
		if v.Uint > math.MaxInt64 {
			return 0, false, f.typeError("value for '%s' parameter must be in range %d:%d",
				key, int64(math.MinInt64), int64(math.MaxInt64))
		}
		return int64(v.Uint), true, nil
	}
	return 0, false, f.typeError("expected a signed integer for '%s' parameter", key)
}

// Int32 is Int limited to a C int (libvirt's virConfGetValueInt).
func (f *File) Int32(key string) (int32, bool, error) {
	v, ok := f.Lookup(key)
	if !ok {
		return 0, false, nil
	}
	if v.Kind != KindSigned && v.Kind != KindUnsigned {
		return 0, false, f.typeError("expected a signed integer for '%s' parameter", key)
	}
	n, _, err := f.Int(key)
	if err != nil || n < math.MinInt32 || n > math.MaxInt32 {
		return 0, false, f.typeError("value for '%s' parameter must be in range %d:%d",
			key, math.MinInt32, math.MaxInt32)
	}
	return int32(n), true, nil
}

// Bool returns a boolean, written as the unsigned integer 0 or 1.
func (f *File) Bool(key string) (bool, bool, error) {
	v, ok := f.Lookup(key)
	if !ok {
		return false, false, nil
	}
	if v.Kind != KindUnsigned {
		return false, false, f.typeError("expected a bool for '%s' parameter", key)
	}
	if v.Uint > 1 {
		return false, false, f.typeError("value for '%s' parameter must be 0 or 1", key)
	}
	return v.Uint == 1, true, nil
}

// StringList returns a list of strings. A single string is accepted as a
// one-element list (libvirt's compatString mode).
func (f *File) StringList(key string) ([]string, bool, error) {
	return f.stringList(key, true)
}

// StrictStringList is StringList without the single-string convenience:
// what libvirt's daemons use for access_drivers and
// sasl_allowed_username_list, which reject a bare string.
func (f *File) StrictStringList(key string) ([]string, bool, error) {
	return f.stringList(key, false)
}

func (f *File) stringList(key string, compat bool) ([]string, bool, error) {
	v, ok := f.Lookup(key)
	if !ok {
		return nil, false, nil
	}
	switch {
	case v.Kind == KindList:
		out := make([]string, 0, len(v.List))
		for _, item := range v.List {
			if item.Kind != KindString {
				// libvirt reports this one case as a syntax error.
				return nil, false, virterror.New(virterror.ConfSyntax, virterror.FromConf,
					"%s: expected a string list for '%s' parameter", f.Name, key)
			}
			out = append(out, item.Str)
		}
		return out, true, nil
	case v.Kind == KindString && compat:
		return []string{v.Str}, true, nil
	case compat:
		return nil, false, f.typeError("expected a string or string list for '%s' parameter", key)
	}
	return nil, false, f.typeError("expected a string list for '%s' parameter", key)
}
