package conf

import (
	"errors"
	"reflect"
	"testing"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// FuzzParse checks that Parse never panics, that every rejection is a
// libvirt syntax error, and that whatever it accepts survives Format and a
// second Parse unchanged. The f.Add seeds (and testdata/fuzz/FuzzParse)
// run on every plain "go test".
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		"a = 1",
		"a = -0\nb = +12; c = -9223372036854775808",
		`a = "x" # c`,
		`a = 'y "z"'`,
		"a = \"\"\"multi\nline \"quoted\" 'both'\"\"\"",
		"a = [ \"x\", 'y', 1, -2, [ [] ], ]",
		"a = [ # c\n \"x\", # d\n]\n",
		"a = 1\r\nb = 2\r\n",
		"unix_sock_group = \"libvirt\"\nunix_sock_rw_perms = \"0770\"\nlog_filters=\"1:rpc 3:remote\"\n",
		"a = 18446744073709551615",
		"a = 18446744073709551616",
		"a = [[[[[[1]]]]]]",
		"a = \"\"\"\"\"\"",
		"a = \"\"\"x\"\"\"\"",
		"a =",
		"\x00 = 1",
		"a = [\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		first, err := Parse("fuzz.conf", data)
		if err != nil {
			var ve *virterror.Error
			if !errors.As(err, &ve) || ve.Code != virterror.ConfSyntax {
				t.Fatalf("Parse(%q) failed with a non-syntax error: %v", data, err)
			}
			return
		}
		out, err := Format(first.Entries)
		if err != nil {
			t.Fatalf("Format of accepted input %q: %v", data, err)
		}
		second, err := Parse("fuzz.conf", out)
		if err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", out, data, err)
		}
		if len(first.Entries) != len(second.Entries) {
			t.Fatalf("re-parse of %q has %d entries, want %d", out, len(second.Entries), len(first.Entries))
		}
		for i := range first.Entries {
			a, b := first.Entries[i], second.Entries[i]
			if a.Name != b.Name || !reflect.DeepEqual(a.Value, b.Value) {
				t.Fatalf("entry %d changed: %#v became %#v (input %q, formatted %q)", i, a, b, data, out)
			}
		}
		if !reflect.DeepEqual(first.Keys(), second.Keys()) {
			t.Fatalf("keys changed: %q became %q", first.Keys(), second.Keys())
		}
	})
}
