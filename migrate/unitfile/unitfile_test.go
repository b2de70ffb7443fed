package unitfile

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var (
	toService = Rename{Section: "Unit", Keys: []string{"After", "Before"},
		From: []string{"virtlxcd.socket", "virtlxcd-ro.socket", "virtlxcd-admin.socket"}, To: "virtlxcd.service"}
	toSocket = Rename{Section: "Unit", Keys: []string{"After", "Before"},
		From: []string{"virtlxcd.service"}, To: "virtlxcd.socket"}
)

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRewriteRealWorld runs the traditional-mode rewrite over unit files
// shaped like libvirt's libvirt-guests.service across releases and like
// administrators' copies; each case lists the exact text replacements the
// result must differ from the input by, and nothing else.
func TestRewriteRealWorld(t *testing.T) {
	cases := []struct {
		file    string
		changes [][2]string // old → new, applied to the input to get the expected output
		inverse bool        // rewriting back to sockets restores the input exactly
	}{
		{"guests-debian-9.service", [][2]string{{"After=virtlxcd.socket\n", "After=virtlxcd.service\n"}}, true},
		{"guests-upstream-11.service", [][2]string{{"After=virtlxcd.socket\n", "After=virtlxcd.service\n"}}, true},
		{"guests-monolithic-6.service", nil, true},
		{"guests-oldest.service", nil, true},
		{"guests-crlf.service", [][2]string{{"After=virtlxcd.socket\r\n", "After=virtlxcd.service\r\n"}}, true},
		{"dropin-sockets.conf", [][2]string{{"After=virtlxcd.socket virtlxcd-admin.socket\n", "After=virtlxcd.service\n"}}, false},
		{"guests-admin-edited.service", [][2]string{
			{"time-sync.target\tvirtlxcd.socket remote-fs.target", "time-sync.target\tvirtlxcd.service remote-fs.target"},
			{"\tvirtlxcd.socket \\\n\tvirtlxcd-ro.socket virtlxcd-admin.socket\n", "\tvirtlxcd.service \\\n\t\n"},
		}, false},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			in := fixture(t, c.file)
			want := in
			for _, ch := range c.changes {
				if !strings.Contains(want, ch[0]) {
					t.Fatalf("fixture lacks %q", ch[0])
				}
				want = strings.Replace(want, ch[0], ch[1], 1)
			}
			out, changed, err := Rewrite([]byte(in), toService)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != want {
				t.Fatalf("rewrite:\n%s\nwant:\n%s", out, want)
			}
			if changed != (len(c.changes) > 0) {
				t.Fatalf("changed = %v", changed)
			}
			again, changed, err := Rewrite(out, toService)
			if err != nil || changed || !bytes.Equal(again, out) {
				t.Fatalf("second rewrite not idempotent: changed=%v err=%v\n%s", changed, err, again)
			}
			back, _, err := Rewrite(out, toSocket)
			if err != nil {
				t.Fatal(err)
			}
			if c.inverse && string(back) != in {
				t.Fatalf("back to sockets:\n%s\nwant the original:\n%s", back, in)
			}
			// Whatever the shape, the ordering now names the service and
			// no socket of ours.
			f, err := Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			after := f.Values("Unit", "After")
			for _, s := range toService.From {
				if slices.Contains(after, s) {
					t.Errorf("After= still names %s: %v", s, after)
				}
			}
			if len(c.changes) > 0 && !slices.Contains(after, "virtlxcd.service") {
				t.Errorf("After= lacks virtlxcd.service: %v", after)
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	f, err := Parse([]byte(fixture(t, "guests-admin-edited.service")))
	if err != nil {
		t.Fatal(err)
	}
	got := f.Values("Unit", "After")
	want := []string{"network.target", "time-sync.target", "virtlxcd.socket", "remote-fs.target",
		"virtqemud.socket", "virtlxcd.socket", "virtlxcd-ro.socket", "virtlxcd-admin.socket", "virtlxcd.sockets"}
	if !slices.Equal(got, want) {
		t.Fatalf("After = %q, want %q", got, want)
	}
	if got := f.Values("Service", "Environment"); !slices.Equal(got, []string{"NOTE=After=virtlxcd.socket"}) {
		t.Fatalf("Environment = %q", got)
	}
	if got := f.Values("Unit", "Requires"); !slices.Equal(got, []string{"virt-guest-shutdown.target", "virtlxcd.socket"}) {
		t.Fatalf("Requires = %q", got)
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{"[Unit\nAfter=x\n", "[Unit]\nAfter=a\x00b\n"} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
}

// FuzzRewrite checks on arbitrary input that a rewrite is idempotent, leaves
// no renamed unit in the chosen entries, keeps every other entry's words and
// changes nothing at all when there is nothing to rename.
func FuzzRewrite(f *testing.F) {
	entries, _ := os.ReadDir("testdata")
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join("testdata", e.Name())); err == nil && !e.IsDir() {
			f.Add(b)
		}
	}
	f.Add([]byte("[Unit]\nAfter=virtlxcd.socket\\\n\\\nvirtlxcd.service\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := Parse(data)
		if err != nil {
			return
		}
		out, changed, err := Rewrite(data, toService)
		if err != nil {
			t.Fatalf("rewrite of parsable input failed: %v", err)
		}
		if !changed && !bytes.Equal(out, data) {
			t.Fatal("unchanged rewrite altered bytes")
		}
		again, changed2, err := Rewrite(out, toService)
		if err != nil || changed2 || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %v %v\nin:  %q\nout: %q\nagain: %q", changed2, err, data, out, again)
		}
		res, err := Parse(out)
		if err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
		if len(res.Entries) != len(in.Entries) {
			t.Fatalf("entries %d → %d\nin:  %q\nout: %q", len(in.Entries), len(res.Entries), data, out)
		}
		others := func(f *File, check bool) []string {
			var s []string
			for _, e := range f.Entries {
				if e.Section == "Unit" && slices.Contains(toService.Keys, e.Key) {
					for _, v := range e.Values() {
						if check && slices.Contains(toService.From, v) {
							t.Fatalf("%s= still names %s\nin:  %q\nout: %q", e.Key, v, data, out)
						}
					}
					continue
				}
				s = append(s, e.Section+"|"+e.Key+"|"+strings.Join(e.Values(), " "))
			}
			return s
		}
		if a, b := others(in, false), others(res, true); !slices.Equal(a, b) && !bytes.Equal(data, out) {
			t.Fatalf("other entries changed:\n%q\n%q\nin:  %q\nout: %q", a, b, data, out)
		}
	})
}

// TestRemoveWords covers the rewrite that takes libvirt's BindsTo= on the
// socket out of a copy of its virtlxcd.service.
func TestRemoveWords(t *testing.T) {
	in := "[Unit]\nDescription=libvirt LXC daemon\nBindsTo=virtlxcd.socket\nWants=virtlxcd-ro.socket\n" +
		"Requires=a.service virtlxcd.socket\n[Service]\nBindsTo=virtlxcd.socket\n"
	want := "[Unit]\nDescription=libvirt LXC daemon\nWants=virtlxcd-ro.socket\n" +
		"Requires=a.service\n[Service]\nBindsTo=virtlxcd.socket\n"
	r := Rename{Section: "Unit", Keys: []string{"BindsTo", "Requires"}, From: []string{"virtlxcd.socket"}}
	out, changed, err := Rewrite([]byte(in), r)
	if err != nil || !changed || string(out) != want {
		t.Fatalf("got %q %v %v\nwant %q", out, changed, err, want)
	}
	if again, changed, err := Rewrite(out, r); err != nil || changed || string(again) != want {
		t.Fatalf("not idempotent: %q %v %v", again, changed, err)
	}
}
