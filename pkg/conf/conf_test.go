package conf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

func str(s string) Value        { return Value{Kind: KindString, Str: s} }
func unsigned(n uint64) Value   { return Value{Kind: KindUnsigned, Uint: n} }
func signed(n int64) Value      { return Value{Kind: KindSigned, Int: n} }
func list(items ...Value) Value { return Value{Kind: KindList, List: append([]Value{}, items...)} }

type kv struct {
	name string
	val  Value
	line int
}

// acceptCases are inputs libvirt accepts, with what they parse to.
var acceptCases = []struct {
	name string
	in   string
	want []kv
}{
	{"empty", "", nil},
	{"blank lines only", "\n\n  \t\n", nil},
	{"comment only", "# nothing here", nil},
	{"double quoted", `a = "x y"`, []kv{{"a", str("x y"), 1}}},
	{"single quoted", `a = 'x "y"'`, []kv{{"a", str(`x "y"`), 1}}},
	{"double quotes keep single", `a = "it's"`, []kv{{"a", str("it's"), 1}}},
	{"empty string", `a = ""`, []kv{{"a", str(""), 1}}},
	{"no escapes", `a = "back\slash"`, []kv{{"a", str(`back\slash`), 1}}},
	{"hash inside string", `a = "#not a comment" # a comment`, []kv{{"a", str("#not a comment"), 1}}},
	{"triple quoted multi-line", "a = \"\"\"one\n\"two\"\nthree\"\"\"\nb = 1",
		[]kv{{"a", str("one\n\"two\"\nthree"), 1}, {"b", unsigned(1), 4}}},
	{"triple quoted empty", `a = """""" ; b = 2`, []kv{{"a", str(""), 1}, {"b", unsigned(2), 1}}},
	{"unsigned", "a = 42", []kv{{"a", unsigned(42), 1}}},
	{"plus sign", "a = +7", []kv{{"a", unsigned(7), 1}}},
	{"leading zeros", "a = 0777", []kv{{"a", unsigned(777), 1}}},
	{"max unsigned", "a = 18446744073709551615", []kv{{"a", unsigned(1<<64 - 1), 1}}},
	{"negative", "a = -5", []kv{{"a", signed(-5), 1}}},
	{"minus zero is signed", "a = -0", []kv{{"a", signed(0), 1}}},
	{"min signed", "a = -9223372036854775808", []kv{{"a", signed(-1 << 63), 1}}},
	{"empty list", "a = []", []kv{{"a", list(), 1}}},
	{"list", `a = [ "x", 'y' ]`, []kv{{"a", list(str("x"), str("y")), 1}}},
	{"list trailing comma", `a = ["x",]`, []kv{{"a", list(str("x")), 1}}},
	{"list mixed and nested", `a = [1, -2, "s", [3]]`,
		[]kv{{"a", list(unsigned(1), signed(-2), str("s"), list(unsigned(3))), 1}}},
	{"list over lines with comments", "a = [ # first\n  \"x\", # the x\n\n  \"y\"\n  # done\n]\nb = 1",
		[]kv{{"a", list(str("x"), str("y")), 1}, {"b", unsigned(1), 7}}},
	{"semicolons", "a = 1; b = 2 ;c=3", []kv{{"a", unsigned(1), 1}, {"b", unsigned(2), 1}, {"c", unsigned(3), 1}}},
	{"semicolon then newline", "a = 1;\nb = 2", []kv{{"a", unsigned(1), 1}, {"b", unsigned(2), 2}}},
	{"trailing comment", "a = 1 # one\nb = 2", []kv{{"a", unsigned(1), 1}, {"b", unsigned(2), 2}}},
	{"CRLF", "a = 1\r\nb = 'x'\r\n", []kv{{"a", unsigned(1), 1}, {"b", str("x"), 2}}},
	{"tabs and spaces", "\t a\t=\t1 \t\n", []kv{{"a", unsigned(1), 2 - 1}}},
	{"names with digits and underscores", "log_level2_x = 1", []kv{{"log_level2_x", unsigned(1), 1}}},
	{"no newline at end", "a = 'x'", []kv{{"a", str("x"), 1}}},
	{"leading blank lines count", "\n\n# c\n\na = 1", []kv{{"a", unsigned(1), 5}}},
	{"duplicates kept in order", "a = 1\na = 2", []kv{{"a", unsigned(1), 1}, {"a", unsigned(2), 2}}},
}

func TestParseAccepts(t *testing.T) {
	for _, c := range acceptCases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse("t.conf", []byte(c.in))
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.in, err)
			}
			var got []kv
			for _, e := range f.Entries {
				got = append(got, kv{e.Name, e.Value, e.Line})
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Parse(%q)\n got %#v\nwant %#v", c.in, got, c.want)
			}
		})
	}
}

// rejectCases are inputs libvirt rejects, with its message.
var rejectCases = []struct {
	in   string
	want string // message after "configuration file syntax error: "
}{
	{"a =", "t.conf:1: expecting a value"},
	{"a = \n1", "t.conf:1: expecting a value"},
	{"a = x", "t.conf:1: expecting a value"},
	{"a = true", "t.conf:1: expecting a value"},
	{"\n\na 1", "t.conf:3: expecting an assignment"},
	{"a", "t.conf:1: expecting an assignment"},
	{"a.b = 1", "t.conf:1: expecting an assignment"},
	{"1a = 1", "t.conf:1: expecting a name"},
	{"_a = 1", "t.conf:1: expecting a name"},
	{"a = 1;;", "t.conf:1: expecting a name"},
	{"= 1", "t.conf:1: expecting a name"},
	{`a = "abc`, "t.conf:1: unterminated string"},
	{"a = \"abc\n\"", "t.conf:1: unterminated string"},
	{"a = 'abc\r'", "t.conf:1: unterminated string"},
	{"a = 1\nb = \"\"\"abc\n\n", "t.conf:2: unterminated string"},
	{"a = 1\nb = \"\"\"abc\n\nx\n\ny", "t.conf:5: unterminated string"},
	{"a = \"\"\"\"\"\"", "t.conf:1: expecting a separator"},
	{"a = \"\"\"\n", "t.conf:1: expecting a separator"},
	{"a = -", "t.conf:1: unterminated number"},
	{"a = +x", "t.conf:1: unterminated number"},
	{"a = 1 2", "t.conf:1: expecting a separator"},
	{"a = 1x", "t.conf:1: expecting a separator"},
	{`a = "x" "y"`, "t.conf:1: expecting a separator"},
	{"a = 1 b = 2", "t.conf:1: expecting a separator"},
	{`a = ["x" "y"]`, "t.conf:1: expecting a separator in list"},
	{"a = [\n1\n2]", "t.conf:3: expecting a separator in list"},
	{`a = ["x", `, "t.conf:1: expecting a value"},
	{`a = [,]`, "t.conf:1: expecting a value"},
	{`a = ["x"`, "t.conf:1: list is not closed with ]"},
	{"a = [\n\n", "t.conf:3: list is not closed with ]"},
	{"a = 18446744073709551616", "t.conf:1: number out of range"},
	{"a = -9223372036854775809", "t.conf:1: number out of range"},
	{"a = " + strings.Repeat("[", maxDepth+1), "t.conf:1: lists nested too deeply"},
}

func TestParseRejects(t *testing.T) {
	for _, c := range rejectCases {
		_, err := Parse("t.conf", []byte(c.in))
		var ve *virterror.Error
		if !errors.As(err, &ve) {
			t.Errorf("Parse(%q): got %v, want a libvirt error", c.in, err)
			continue
		}
		want := "configuration file syntax error: " + c.want
		if ve.Code != virterror.ConfSyntax || ve.Domain != virterror.FromConf || ve.Message != want {
			t.Errorf("Parse(%q):\n got %d/%d %q\nwant %d/%d %q", c.in, ve.Code, ve.Domain, ve.Message,
				virterror.ConfSyntax, virterror.FromConf, want)
		}
	}
}

func TestLookupFirstWins(t *testing.T) {
	f, err := Parse("t.conf", []byte("b = 'x'\na = 1\nb = 'y'\nc = [] ; a = 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Keys(); !reflect.DeepEqual(got, []string{"b", "a", "c"}) {
		t.Errorf("Keys() = %q", got)
	}
	if s, ok, err := f.String("b"); s != "x" || !ok || err != nil {
		t.Errorf("String(b) = %q %v %v, want the first assignment", s, ok, err)
	}
	if n, _, _ := f.Uint("a"); n != 1 {
		t.Errorf("Uint(a) = %d, want 1", n)
	}
	for key, line := range map[string]int{"b": 1, "a": 2, "c": 4, "zz": 0} {
		if got := f.Line(key); got != line {
			t.Errorf("Line(%s) = %d, want %d", key, got, line)
		}
	}
}

func TestGetters(t *testing.T) {
	f, err := Parse("/x/t.conf", []byte(strings.Join([]string{
		`s = "str"`, `u = 7`, `big = 4294967296`, `huge = 18446744073709551615`,
		`neg = -3`, `mzero = -0`, `zero = 0`, `one = 1`, `two = 2`,
		`l = ["a", "b"]`, `el = []`, `bad = ["a", 1]`, `intmax = 2147483647`, `intover = 2147483648`,
		`intmin = -2147483648`, `intunder = -2147483649`,
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	type call struct {
		name string
		get  func() (any, bool, error)
		want any
		ok   bool
		err  string
	}
	wrap := func(v any, ok bool, err error) (any, bool, error) { return v, ok, err }
	getString := func(k string) func() (any, bool, error) {
		return func() (any, bool, error) { return wrap(f.String(k)) }
	}
	getUint := func(k string) func() (any, bool, error) {
		return func() (any, bool, error) { return wrap(f.Uint(k)) }
	}
	getUint32 := func(k string) func() (any, bool, error) {
		return func() (any, bool, error) { return wrap(f.Uint32(k)) }
	}
	getInt := func(k string) func() (any, bool, error) {
		return func() (any, bool, error) { return wrap(f.Int(k)) }
	}
	getInt32 := func(k string) func() (any, bool, error) {
		return func() (any, bool, error) { return wrap(f.Int32(k)) }
	}
	getBool := func(k string) func() (any, bool, error) {
		return func() (any, bool, error) { return wrap(f.Bool(k)) }
	}
	getList := func(k string) func() (any, bool, error) {
		return func() (any, bool, error) { return wrap(f.StringList(k)) }
	}
	getStrict := func(k string) func() (any, bool, error) {
		return func() (any, bool, error) { return wrap(f.StrictStringList(k)) }
	}
	const ie = "internal error: /x/t.conf: "
	calls := []call{
		{"String(s)", getString("s"), "str", true, ""},
		{"String(missing)", getString("missing"), "", false, ""},
		{"String(u)", getString("u"), "", false, ie + "expected a string for 'u' parameter"},
		{"String(l)", getString("l"), "", false, ie + "expected a string for 'l' parameter"},
		{"Uint(u)", getUint("u"), uint64(7), true, ""},
		{"Uint(huge)", getUint("huge"), uint64(1<<64 - 1), true, ""},
		{"Uint(missing)", getUint("missing"), uint64(0), false, ""},
		{"Uint(neg)", getUint("neg"), uint64(0), false, ie + "expected an unsigned integer for 'neg' parameter"},
		{"Uint(mzero)", getUint("mzero"), uint64(0), false, ie + "expected an unsigned integer for 'mzero' parameter"},
		{"Uint(s)", getUint("s"), uint64(0), false, ie + "expected an unsigned integer for 's' parameter"},
		{"Uint32(u)", getUint32("u"), uint32(7), true, ""},
		{"Uint32(big)", getUint32("big"), uint32(0), false, ie + "value for 'big' parameter must be in range 0:4294967295"},
		{"Uint32(neg)", getUint32("neg"), uint32(0), false, ie + "expected an unsigned integer for 'neg' parameter"},
		{"Int(neg)", getInt("neg"), int64(-3), true, ""},
		{"Int(u)", getInt("u"), int64(7), true, ""},
		{"Int(huge)", getInt("huge"), int64(0), false, ie + "value for 'huge' parameter must be in range -9223372036854775808:9223372036854775807"},
		{"Int(s)", getInt("s"), int64(0), false, ie + "expected a signed integer for 's' parameter"},
		{"Int32(intmax)", getInt32("intmax"), int32(2147483647), true, ""},
		{"Int32(intmin)", getInt32("intmin"), int32(-2147483648), true, ""},
		{"Int32(intover)", getInt32("intover"), int32(0), false, ie + "value for 'intover' parameter must be in range -2147483648:2147483647"},
		{"Int32(intunder)", getInt32("intunder"), int32(0), false, ie + "value for 'intunder' parameter must be in range -2147483648:2147483647"},
		{"Int32(huge)", getInt32("huge"), int32(0), false, ie + "value for 'huge' parameter must be in range -2147483648:2147483647"},
		{"Int32(l)", getInt32("l"), int32(0), false, ie + "expected a signed integer for 'l' parameter"},
		{"Bool(zero)", getBool("zero"), false, true, ""},
		{"Bool(one)", getBool("one"), true, true, ""},
		{"Bool(missing)", getBool("missing"), false, false, ""},
		{"Bool(two)", getBool("two"), false, false, ie + "value for 'two' parameter must be 0 or 1"},
		{"Bool(neg)", getBool("neg"), false, false, ie + "expected a bool for 'neg' parameter"},
		{"Bool(mzero)", getBool("mzero"), false, false, ie + "expected a bool for 'mzero' parameter"},
		{"Bool(s)", getBool("s"), false, false, ie + "expected a bool for 's' parameter"},
		{"StringList(l)", getList("l"), []string{"a", "b"}, true, ""},
		{"StringList(el)", getList("el"), []string{}, true, ""},
		{"StringList(s)", getList("s"), []string{"str"}, true, ""},
		{"StringList(missing)", getList("missing"), []string(nil), false, ""},
		{"StringList(u)", getList("u"), []string(nil), false, ie + "expected a string or string list for 'u' parameter"},
		{"StringList(bad)", getList("bad"), []string(nil), false, "configuration file syntax error: /x/t.conf: expected a string list for 'bad' parameter"},
		{"StrictStringList(l)", getStrict("l"), []string{"a", "b"}, true, ""},
		{"StrictStringList(s)", getStrict("s"), []string(nil), false, ie + "expected a string list for 's' parameter"},
	}
	for _, c := range calls {
		v, ok, err := c.get()
		msg := ""
		if err != nil {
			msg = err.Error()
			var ve *virterror.Error
			if !errors.As(err, &ve) || ve.Domain != virterror.FromConf {
				t.Errorf("%s: error %v is not a libvirt conf error", c.name, err)
			}
		}
		if !reflect.DeepEqual(v, c.want) || ok != c.ok || msg != c.err {
			t.Errorf("%s = %#v, %v, %q\nwant %#v, %v, %q", c.name, v, ok, msg, c.want, c.ok, c.err)
		}
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.conf")
	if err := os.WriteFile(good, []byte("x = 'y'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := ParseFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if s, _, _ := f.String("x"); s != "y" || f.Name != good {
		t.Errorf("ParseFile: x=%q name=%q", s, f.Name)
	}

	missing := filepath.Join(dir, "missing.conf")
	_, err = ParseFile(missing)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v does not wrap ErrNotExist", err)
	}
	if want := "Failed to open file '" + missing + "': No such file or directory"; err == nil || err.Error() != want {
		t.Errorf("missing file: %v, want %q", err, want)
	}

	// One byte over the limit is refused, exactly the limit is read.
	big := filepath.Join(dir, "big.conf")
	data := []byte(strings.Repeat("#", MaxFileSize))
	if err := os.WriteFile(big, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFile(big); err != nil {
		t.Errorf("file of exactly %d bytes: %v", MaxFileSize, err)
	}
	if err := os.WriteFile(big, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFile(big); err == nil || err.Error() != "Failed to read file '"+big+"': File too large" {
		t.Errorf("oversized file: %v", err)
	}

	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("a = 1\nb = \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFile(bad); err == nil || err.Error() != "configuration file syntax error: "+bad+":2: expecting a value" {
		t.Errorf("syntax error in file: %v", err)
	}
}

func TestQuote(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`say "hi"`, `'say "hi"'`},
		{"it's", `"it's"`},
		{`it's "x" ok`, `"""it's "x" ok"""`},
		{"two\nline", "\"\"\"two\nline\"\"\""},
		{`ends with "`, `'ends with "'`},
		{`both ' and "`, ""}, // ends with a quote: nothing can carry it
		{"a\n\"\"\"b", ""},   // line end and a triple quote
	}
	for _, c := range cases {
		got, err := Quote(c.in)
		if c.want == "" {
			if err == nil {
				t.Errorf("Quote(%q) = %q, want an error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Quote(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}
