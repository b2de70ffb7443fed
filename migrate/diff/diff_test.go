package diff

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnifiedAppliesWithPatch proves the diffs are real: GNU patch turns a
// into b with them.
func TestUnifiedAppliesWithPatch(t *testing.T) {
	if _, err := exec.LookPath("patch"); err != nil {
		t.Skip("patch not installed")
	}
	var a, b []string
	for i := 0; i < 40; i++ {
		a = append(a, "line "+string(rune('a'+i%26)))
	}
	b = append(b, a...)
	b[2] = "changed"
	b = append(b[:20], append([]string{"inserted"}, b[20:]...)...)
	b = append(b[:35], b[36:]...)
	cases := [][2]string{
		{strings.Join(a, "\n") + "\n", strings.Join(b, "\n") + "\n"},
		{"[Unit]\nAfter=virtlxcd.socket\n", "[Unit]\nAfter=virtlxcd.service\n"},
		{"", "new\n"},
		{"old\n", ""},
	}
	for i, c := range cases {
		d := Unified("a", "b", []byte(c[0]), []byte(c[1]))
		dir := t.TempDir()
		f := filepath.Join(dir, "f")
		os.WriteFile(f, []byte(c[0]), 0o644)
		cmd := exec.Command("patch", "-s", f)
		cmd.Stdin = strings.NewReader(d)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("case %d: patch: %v\n%s\n%s", i, err, out, d)
		}
		got, _ := os.ReadFile(f)
		if string(got) != c[1] {
			t.Fatalf("case %d: patched %q, want %q\n%s", i, got, c[1], d)
		}
	}
	if Unified("a", "b", []byte("x\n"), []byte("x\n")) != "" {
		t.Fatal("equal inputs gave a diff")
	}
}
