package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestCreateLimitKillDestroy(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	path := fmt.Sprintf("/virtlxcd-cgtest-%d/leaf", os.Getpid())
	// The shell forks only once it is in the group (a line on stdin).
	cmd := exec.Command("sh", "-c", "read x; sleep 1000 & sleep 1000 & wait")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	defer RemoveIfEmpty(fmt.Sprintf("/virtlxcd-cgtest-%d", os.Getpid()))
	g, err := Create(path, Limits{MemoryBytes: 48 << 20, PidsLimit: 10, CPUShares: 256}, cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if lim, err := g.MemoryLimit(); err != nil || lim != 48<<20 {
		t.Errorf("memory limit %d (%v)", lim, err)
	}
	if lim, err := g.PidsLimit(); err != nil || lim != 10 {
		t.Errorf("pids limit %d (%v)", lim, err)
	}
	if err := g.SetMemoryLimit(32 << 20); err != nil {
		t.Fatal(err)
	}
	if lim, _ := g.MemoryLimit(); lim != 32<<20 {
		t.Errorf("memory limit after change %d", lim)
	}
	stdin.Write([]byte("go\n"))
	deadline := time.Now().Add(5 * time.Second)
	pids, err := g.Pids()
	for err == nil && len(pids) < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		pids, err = g.Pids()
	}
	if err != nil || len(pids) != 3 {
		t.Errorf("pids %v (%v), want the shell and two sleeps", pids, err)
	}
	if _, err := g.CPUTime(); err != nil {
		t.Error(err)
	}
	// Charges of a moved process stay behind; its children's are ours.
	if m, err := g.MemoryUsage(); err != nil || m == 0 {
		t.Errorf("memory usage %d (%v)", m, err)
	}
	if pop, _ := g.Populated(); !pop {
		t.Error("not populated")
	}
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if err := g.WaitEmpty(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := g.Destroy(); err != nil {
		t.Fatal(err)
	}
	if g.Exists() {
		t.Errorf("cgroup still exists: %v", g.Dirs())
	}
}
