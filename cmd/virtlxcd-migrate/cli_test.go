package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/virtlxcd/virtlxcd/migrate/plan"
)

// TestExitCodes runs the built command for the documented failures that
// need no systemd.
func TestExitCodes(t *testing.T) {
	// A directory others may enter: one case runs the command as nobody.
	dir, err := os.MkdirTemp("", "virtlxcd-migrate-cli-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := build(t, dir, "github.com/virtlxcd/virtlxcd/cmd/virtlxcd-migrate")
	empty := t.TempDir()
	cases := []struct {
		args   []string
		nobody bool
		code   int
		msg    string
	}{
		{nil, false, plan.ExitUsage, "exactly one of"},
		{[]string{"--status", "--traditional"}, false, plan.ExitUsage, "exactly one of"},
		{[]string{"--bogus"}, false, plan.ExitUsage, "bogus"},
		{[]string{"--traditional", "extra"}, false, plan.ExitUsage, "unexpected argument"},
		{[]string{"--traditional", "--root", empty}, false, plan.ExitNotInstalled, "not installed"},
		{[]string{"--traditional", "--root", empty}, true, plan.ExitNotRoot, "root"},
		{[]string{"--status", "--root", empty}, false, plan.ExitInconsistent, "virtlxcd.service is not installed"},
	}
	for _, c := range cases {
		cmd := exec.Command(bin, c.args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if c.nobody {
			if os.Geteuid() != 0 {
				continue
			}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || !strings.Contains(out.String(), c.msg) {
			t.Errorf("%v (nobody=%v): exit %d, want %d with %q:\n%s", c.args, c.nobody, code, c.code, c.msg, out.String())
		}
	}
}
