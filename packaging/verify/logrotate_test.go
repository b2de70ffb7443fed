package verify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogrotateRule runs the shipped rule on a copy whose path points at a
// temporary directory: a guest log is rotated by copy and truncate, as the
// controller keeps it open.
func TestLogrotateRule(t *testing.T) {
	requireTools(t, "logrotate")
	rule := mustRead(t, filepath.Join(repoRoot(t), "packaging/logrotate.conf"))
	const shipped = "/var/log/libvirt/lxc/"
	if !strings.Contains(rule, shipped+"*.log") {
		t.Fatalf("the rule does not cover %s*.log:\n%s", shipped, rule)
	}
	dir := t.TempDir()
	logs := filepath.Join(dir, "lxc")
	if err := os.Mkdir(logs, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "rule.conf")
	if err := os.WriteFile(conf, []byte(strings.ReplaceAll(rule, shipped, logs+"/")), 0o644); err != nil {
		t.Fatal(err)
	}
	guestLog := filepath.Join(logs, "guest.log")
	f, err := os.Create(guestLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line := strings.Repeat("x", 99) + "\n"
	if _, err := f.WriteString(strings.Repeat(line, 2000)); err != nil {
		t.Fatal(err)
	}
	// -f: rotate now regardless of the weekly schedule; -s: a private state file.
	run(t, "logrotate", "-f", "-s", filepath.Join(dir, "state"), conf)
	if st, err := os.Stat(guestLog + ".1"); err != nil || st.Size() != 200000 {
		t.Errorf("rotated copy %s.1: %v %v", guestLog, err, st)
	}
	st, err := f.Stat()
	if err != nil || st.Size() != 0 {
		t.Errorf("the open log was not truncated in place: %v %v", err, st)
	}
}
