package pidfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestAcquireRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "d.pid")
	f, err := Acquire(path, 4242)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "4242" {
		t.Errorf("pid file holds %q", b)
	}
	if pid, held := Holder(path); pid != 4242 {
		t.Errorf("Holder = %d, %v", pid, held)
	}
	if err := f.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("pid file left after release")
	}
}

// fcntl locks belong to processes, so a second holder has to be another
// process: the test re-executes itself to take the lock.
func TestSecondProcessRefused(t *testing.T) {
	if p := os.Getenv("PIDFILE_TEST_HOLD"); p != "" {
		if _, err := Acquire(p, os.Getpid()); err != nil {
			os.Stdout.WriteString("ERR " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("HELD\n")
		os.Stdin.Read(make([]byte, 1)) // hold until the parent closes stdin
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "d.pid")
	cmd := exec.Command(os.Args[0], "-test.run", "TestSecondProcessRefused")
	cmd.Env = append(os.Environ(), "PIDFILE_TEST_HOLD="+path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	buf := make([]byte, 64)
	n, _ := stdout.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "HELD") {
		t.Fatalf("child: %q", buf[:n])
	}
	_, err := Acquire(path, os.Getpid())
	if err == nil || !strings.Contains(err.Error(), "Failed to acquire pid file '"+path+"': Resource temporarily unavailable") {
		t.Fatalf("second holder: %v", err)
	}
	if pid, held := Holder(path); !held || pid != cmd.Process.Pid {
		t.Errorf("Holder = %d, %v; want %d, true", pid, held, cmd.Process.Pid)
	}
	// A stale file from a dead process does not block.
	stdin.Close()
	cmd.Wait()
	f, err := Acquire(path, os.Getpid())
	if err != nil {
		t.Fatalf("after the holder exited: %v", err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != strconv.Itoa(os.Getpid()) {
		t.Errorf("pid file %q", b)
	}
	f.Release()
}
