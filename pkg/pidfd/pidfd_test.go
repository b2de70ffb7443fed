package pidfd

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestLivenessAndZombies(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	st, err := StartTime(pid)
	if err != nil || st == 0 {
		t.Fatalf("start time %d, %v", st, err)
	}
	if _, err := Open(pid, st+1); !errors.Is(err, ErrGone) {
		t.Errorf("open with a wrong start time: %v, want ErrGone", err)
	}
	p, err := Open(pid, st)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Exited() || p.WaitTimeout(10*time.Millisecond) {
		t.Fatal("a sleeping process reported as exited")
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !p.WaitTimeout(5 * time.Second) {
		t.Fatal("no exit seen after SIGKILL")
	}
	// Not reaped yet: /proc/PID still exists, but the process is dead.
	if _, err := StartTime(pid); err != nil {
		t.Fatalf("zombie has no /proc entry: %v", err)
	}
	if _, err := Open(pid, st); !errors.Is(err, ErrGone) {
		t.Errorf("open of a zombie: %v, want ErrGone", err)
	}
	_ = cmd.Wait()
	if _, err := Open(pid, st); !errors.Is(err, ErrGone) {
		t.Errorf("open of a reaped process: %v, want ErrGone", err)
	}
}

func TestWaitEndsOnExitOrClose(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	p, err := Open(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() { res <- p.Wait() }()
	p.Close()
	select {
	case err := <-res:
		if err == nil {
			t.Error("Wait after Close reported an exit")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the wait")
	}

	p, err = Open(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	go func() { res <- p.Wait() }()
	cmd.Process.Kill()
	select {
	case err := <-res:
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("exit not seen")
	}
}
