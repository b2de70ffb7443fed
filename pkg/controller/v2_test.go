package controller

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
)

// pureV2Env tells TestPureV2Child that it runs in the private view set up
// by TestPureV2.
const pureV2Env = "VIRTLXCD_TEST_PURE_V2"

// TestPureV2 runs the runtime on a pure cgroup v2 host as far as this
// hybrid host allows: a child test process gets its own mount and cgroup
// namespaces, rooted at a scratch group of the unified tree, and sees that
// tree on /sys/fs/cgroup. The unified tree has no controllers here, so
// limits are not part of it; placement, namespaces, kill and removal are.
func TestPureV2(t *testing.T) {
	if cgroups.IsCgroup2UnifiedMode() {
		t.Skip("the host is pure v2: every other test covers it")
	}
	if !cgroups.IsCgroup2HybridMode() {
		t.Skip("no cgroup2 hierarchy on this host")
	}
	scratch := filepath.Join(hybridUnified, fmt.Sprintf("virtlxcd-v2-%d", os.Getpid()))
	if err := os.Mkdir(scratch, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The child test removed its groups; what is left is ours.
		if err := os.Remove(scratch); err != nil {
			t.Errorf("remove %s: %v", scratch, err)
		}
	})
	// A new cgroup namespace is rooted where its creator is: pass through
	// the scratch group just for the clone.
	orig, err := ownUnifiedGroup()
	if err != nil {
		t.Fatal(err)
	}
	self := []byte(fmt.Sprint(os.Getpid()))
	if err := os.WriteFile(filepath.Join(scratch, "cgroup.procs"), self, 0); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPureV2Child$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), pureV2Env+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Start()
	if werr := os.WriteFile(filepath.Join(hybridUnified, orig, "cgroup.procs"), self, 0); werr != nil {
		t.Errorf("return to %s: %v", orig, werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if now, _ := ownUnifiedGroup(); now != orig {
		t.Errorf("test process left in %s, was in %s", now, orig)
	}
	err = cmd.Wait()
	if err != nil || !strings.Contains(out.String(), "--- PASS: TestPureV2Child") {
		t.Fatalf("pure v2 child: %v\n%s", err, out.String())
	}
	t.Logf("child:\n%s", out.String())
}

const hybridUnified = "/sys/fs/cgroup/unified"

func ownUnifiedGroup() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("no cgroup2 line in /proc/self/cgroup")
}

func TestPureV2Child(t *testing.T) {
	if os.Getenv(pureV2Env) == "" {
		t.Skip("run by TestPureV2")
	}
	// Private mounts, then the unified tree where a pure v2 host has it.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		t.Fatal(err)
	}
	if !cgroups.IsCgroup2UnifiedMode() {
		t.Fatal("the view is not pure v2")
	}
	e := newEnv(t)
	spec := e.spec("/bin/sh")
	spec.MemoryKiB = 0 // no memory controller in this tree
	spec.Partition = "/machine"
	c := e.start(spec)
	dir := filepath.Join("/sys/fs/cgroup", c.CgroupPath())
	procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(procs)); len(got) != 1 || got[0] != fmt.Sprint(c.InitPID()) {
		t.Errorf("%s holds %v, want only the init %d", dir, got, c.InitPID())
	}
	con := openConsole(t, c.ConsolePaths()[0])
	if got := con.run("grep ^0:: /proc/self/cgroup; ls /sys/fs/cgroup | grep -c cgroup.procs"); got != "0::/\r\n1" {
		t.Errorf("inside: %q", got)
	}
	con.close()
	// Without the memory controller only the CPU time can be read.
	if _, err := c.cg.CPUTime(); err != nil {
		t.Errorf("cpu time from cpu.stat: %v", err)
	}
	if err := c.Destroy(false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s left behind", dir)
	}
	if err := os.Remove("/sys/fs/cgroup/machine"); err != nil {
		t.Errorf("remove the partition: %v", err)
	}
}
