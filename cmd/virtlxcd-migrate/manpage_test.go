package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtlxcd/virtlxcd/migrate/plan"
)

// TestManPageCoversCommand keeps virtlxcd-migrate(8) in step with the
// command: every option, every exit status and every file it writes is
// documented, and the page renders with rst2man --strict when available.
func TestManPageCoversCommand(t *testing.T) {
	path := filepath.Join("..", "..", "manpages", "virtlxcd-migrate.rst")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, f := range flags() {
		for _, n := range f.Names() {
			dash := "--"
			if len(n) == 1 {
				dash = "-"
			}
			if !strings.Contains(page, "**"+dash+n+"**") {
				t.Errorf("option %s%s is not documented", dash, n)
			}
		}
	}
	for _, code := range []int{plan.ExitOK, plan.ExitFailed, plan.ExitUsage, plan.ExitNotRoot,
		plan.ExitNotInstalled, plan.ExitConflict, plan.ExitInconsistent} {
		if !strings.Contains(page, fmt.Sprintf("\n**%d**\n", code)) {
			t.Errorf("exit status %d is not documented", code)
		}
	}
	for _, f := range []string{plan.TimeoutDropIn, plan.GuestsOverride, plan.ServiceOverride, plan.BackupDir, plan.LogFile} {
		if !strings.Contains(page, f) {
			t.Errorf("file %s is not documented", f)
		}
	}
	if _, err := exec.LookPath("rst2man"); err != nil {
		t.Log("rst2man not installed: rendering not checked")
		return
	}
	out, err := exec.Command("rst2man", "--strict", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `.TH "VIRTLXCD-MIGRATE" 8`) {
		t.Fatalf("rst2man --strict: %v\n%s", err, out)
	}
}
