package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// lastNumber reads the last line of a file that a counter appends to
// (appending, unlike rewriting, never leaves it empty when the writer is
// frozen midway).
func lastNumber(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	lines := strings.Fields(string(b))
	if len(lines) == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(lines[len(lines)-1])
	return n, err == nil
}

// busyGroup puts a shell that counts into a fresh group and returns the
// group and a reader of the count.
func busyGroup(t *testing.T, leaf string) (*Group, func() int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	counter := dir + "/n"
	cmd := exec.Command("sh", "-c", `read x; i=0; while :; do i=$((i+1)); echo $i >> `+counter+`; sleep 0.01; done`)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	parent := fmt.Sprintf("/virtlxcd-cgtune-%d", os.Getpid())
	g, err := Create(parent+"/"+leaf, Limits{}, cmd.Process.Pid)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.Thaw()
		g.Kill()
		cmd.Wait()
		g.WaitEmpty(5 * time.Second)
		g.Destroy()
		RemoveIfEmpty(parent)
	})
	stdin.Write([]byte("go\n"))
	read := func() int {
		for i := 0; i < 100; i++ {
			if n, ok := lastNumber(counter); ok {
				return n
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("no count")
		return 0
	}
	return g, read
}

func TestFreezeThaw(t *testing.T) {
	g, count := busyGroup(t, "freeze")
	moves := func() bool {
		a := count()
		time.Sleep(200 * time.Millisecond)
		return count() != a
	}
	if !moves() {
		t.Fatal("the counter does not run")
	}
	if f, err := g.Frozen(); err != nil || f {
		t.Fatalf("frozen before Freeze: %v %v", f, err)
	}
	if err := g.Freeze(); err != nil {
		t.Fatal(err)
	}
	if f, err := g.Frozen(); err != nil || !f {
		t.Errorf("Frozen after Freeze: %v %v", f, err)
	}
	if moves() {
		t.Error("the counter runs in a frozen group")
	}
	// A second handle (a restarted daemon) sees the same.
	g2, err := Open(g.Path())
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := g2.Frozen(); !f {
		t.Error("a fresh handle does not see the freeze")
	}
	if err := g2.Thaw(); err != nil {
		t.Fatal(err)
	}
	if f, _ := g.Frozen(); f {
		t.Error("still frozen after Thaw")
	}
	if !moves() {
		t.Error("the counter does not run after Thaw")
	}
	// A frozen group can still be killed.
	if err := g.Freeze(); err != nil {
		t.Fatal(err)
	}
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := g.WaitEmpty(5 * time.Second); err != nil {
		t.Errorf("frozen group not emptied by Kill: %v", err)
	}
}

func TestKnobs(t *testing.T) {
	g, _ := busyGroup(t, "knobs")
	for _, c := range []struct {
		k    Knob
		v    int64
		want int64
	}{
		{MemoryHard, 40 << 20, 40 << 20},
		{MemorySwap, 60 << 20, 60 << 20},
		{MemorySoft, 20 << 20, 20 << 20},
		{MemorySwap, -1, -1},
		{MemoryHard, -1, -1},
		{CPUShares, 300, 300},
		{CPUPeriod, 50000, 50000},
		{CPUQuota, 25000, 25000},
		{CPUQuota, -1, -1},
	} {
		if err := g.Set(c.k, c.v); err != nil {
			if c.k == MemorySwap && strings.Contains(err.Error(), "memsw") {
				continue // no swap accounting in this kernel
			}
			t.Errorf("set knob %d to %d: %v", c.k, c.v, err)
			continue
		}
		if got, err := g.Get(c.k); err != nil || got != c.want {
			t.Errorf("knob %d = %d (%v), want %d", c.k, got, err, c.want)
		}
	}
	if !g.HasController("memory") || !g.HasController("cpu") {
		t.Error("memory and cpu controllers missing")
	}
}
