package controller

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/virtlxcd/virtlxcd/pkg/cgroup"
	"github.com/virtlxcd/virtlxcd/pkg/pidfd"
)

func TestStartNamespacesCgroupConsole(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("/bin/sh")
	spec.PidsLimit = 64
	spec.CPUShares = 512
	c := e.start(spec)

	if c.ControllerPID() <= 0 || c.InitPID() <= 0 || c.ControllerPID() == c.InitPID() {
		t.Fatalf("pids: controller %d init %d", c.ControllerPID(), c.InitPID())
	}
	// The init is PID 1 of its own pid namespace.
	if got := procStatusField(c.InitPID(), "NSpid"); got != fmt.Sprintf("%d 1", c.InitPID()) {
		t.Errorf("NSpid of init = %q, want %q", got, fmt.Sprintf("%d 1", c.InitPID()))
	}
	self := os.Getpid()
	for _, ns := range []string{"mnt", "pid", "uts", "ipc", "cgroup"} {
		if a, b := nsLink(c.InitPID(), ns), nsLink(self, ns); a == "" || a == b {
			t.Errorf("%s namespace of init %q, host %q: want a new one", ns, a, b)
		}
	}
	// No interfaces and no privnet: the host network is shared, as libvirt.
	if a, b := nsLink(c.InitPID(), "net"), nsLink(self, "net"); a != b {
		t.Errorf("net namespace %q differs from the host's %q without interfaces", a, b)
	}

	wantCg := fmt.Sprintf("%s/lxc-%d-%s.libvirt-lxc", testPartition, c.ControllerPID(), spec.Name)
	if c.CgroupPath() != wantCg {
		t.Errorf("cgroup %q, want %q", c.CgroupPath(), wantCg)
	}
	g, err := cgroup.Open(c.CgroupPath())
	if err != nil {
		t.Fatal(err)
	}
	if lim, err := g.MemoryLimit(); err != nil || lim != 64<<20 {
		t.Errorf("memory limit %d (%v), want %d", lim, err, 64<<20)
	}
	if lim, err := g.PidsLimit(); err != nil || lim != 64 {
		t.Errorf("pids limit %d (%v), want 64", lim, err)
	}
	// The init is in the container's cgroup; the controller only passed
	// through it to clone the init.
	for pid, want := range map[int]bool{c.InitPID(): true, c.ControllerPID(): false} {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if got := strings.Contains(string(b), ":memory:"+wantCg+"\n"); got != want {
			t.Errorf("process %d in %s: %v, want %v:\n%s", pid, wantCg, got, want, b)
		}
	}

	con := openConsole(t, c.ConsolePaths()[0])
	if got := con.run("hostname"); got != spec.Name {
		t.Errorf("hostname %q, want %q", got, spec.Name)
	}
	if got := con.run("echo $$ $container $LIBVIRT_LXC_NAME $LIBVIRT_LXC_UUID $PATH"); got != "1 lxc-libvirt "+spec.Name+" "+spec.UUID+" /bin:/sbin" {
		t.Errorf("init environment %q", got)
	}
	if got := con.run("cat /proc/self/cgroup | grep memory"); !strings.HasSuffix(got, ":memory:/") {
		t.Errorf("cgroup namespace not rooted at the container: %q", got)
	}
	if got := con.run("touch /sys/x 2>&1 || echo ro"); !strings.Contains(got, "ro") {
		t.Errorf("/sys is writable: %q", got)
	}
	if got := con.run("readlink /proc/1/fd/0; ls /dev"); !strings.Contains(got, "/dev/pts/0") || !strings.Contains(got, "console") || !strings.Contains(got, "urandom") {
		t.Errorf("console or /dev: %q", got)
	}
	con.close()
	// A second attach sees the same shell.
	con = openConsole(t, c.ConsolePaths()[0])
	if got := con.run("echo again-$((40+2))"); got != "again-42" {
		t.Errorf("second attach: %q", got)
	}
	con.close()

	st, err := c.Stats()
	if err != nil || st.CPUTimeNs == 0 || st.MemoryBytes == 0 {
		t.Errorf("stats %+v, %v", st, err)
	}
	if err := c.SetMemoryLimit(32 * 1024); err != nil {
		t.Fatal(err)
	}
	if lim, _ := g.MemoryLimit(); lim != 32<<20 {
		t.Errorf("memory limit after SetMemoryLimit %d", lim)
	}

	start := time.Now()
	if err := c.Destroy(false); err != nil {
		t.Fatal(err)
	}
	t.Logf("destroy took %v", time.Since(start))
	if ex := c.Exit(); ex.Reason != Destroyed {
		t.Errorf("exit %+v, want destroyed", ex)
	}
	if _, err := pidfd.Open(c.InitPID(), 0); !errors.Is(err, pidfd.ErrGone) {
		t.Errorf("init still alive after destroy: %v", err)
	}
	_ = strconv.Itoa
	_ = syscall.SIGHUP
}
