package controller

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/virtlxcd/virtlxcd/pkg/cgroup"
	"github.com/virtlxcd/virtlxcd/pkg/pidfd"
	"golang.org/x/sys/unix"
)

func TestStartNamespacesCgroupConsole(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("/bin/sh")
	spec.PidsLimit = 16
	spec.CPUShares = 512
	spec.CPUPeriod, spec.CPUQuota = 100000, 50000
	spec.HardLimitKiB = 96 * 1024 // wins over MemoryKiB
	spec.SoftLimitKiB = 32 * 1024
	spec.SwapHardLimitKiB = 128 * 1024
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
	if lim, err := g.MemoryLimit(); err != nil || lim != 96<<20 {
		t.Errorf("memory limit %d (%v), want %d", lim, err, 96<<20)
	}
	if lim, err := g.PidsLimit(); err != nil || lim != 16 {
		t.Errorf("pids limit %d (%v), want 16", lim, err)
	}
	if !cgroups.IsCgroup2UnifiedMode() {
		for _, f := range []struct{ subsys, file, want string }{
			{"memory", "memory.soft_limit_in_bytes", "33554432"},
			{"memory", "memory.memsw.limit_in_bytes", "134217728"},
			{"cpu", "cpu.shares", "512"},
			{"cpu", "cpu.cfs_period_us", "100000"},
			{"cpu", "cpu.cfs_quota_us", "50000"},
		} {
			b, err := os.ReadFile(filepath.Join(g.Dir(f.subsys), f.file))
			if _, statErr := os.Stat(filepath.Join(g.Dir(f.subsys), f.file)); errors.Is(statErr, os.ErrNotExist) && f.file == "memory.memsw.limit_in_bytes" {
				continue // no swap accounting on this kernel
			}
			if err != nil || strings.TrimSpace(string(b)) != f.want {
				t.Errorf("%s = %q (%v), want %s", f.file, b, err, f.want)
			}
		}
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
	if got := con.run("touch /sys/x 2>&1; echo x 2>&1 >/proc/sys/kernel/domainname"); strings.Count(got, "Read-only file system") != 2 {
		t.Errorf("/sys or /proc/sys is writable: %q", got)
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

	// The pids limit holds: the 17th process cannot be forked.
	con = openConsole(t, c.ConsolePaths()[0])
	// (The loop runs in the console shell itself: counting the failures
	// through a pipe raced with the pipe's own forks.)
	con.send("i=0; while [ $i -lt 20 ]; do sleep 100 >/dev/null 2>&1 & i=$((i+1)); done\n")
	con.expect("can't fork", 10*time.Second)
	con.close()

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
}

func TestShutdownBySignal(t *testing.T) {
	e := newEnv(t)
	// The init of a pid namespace only gets signals it handles; this one
	// handles TERM like an init that powers off.
	c := e.start(e.spec("/bin/sh", "-c", "trap 'exit 7' TERM; sleep 1000 & wait"))
	waitSignalHandled(t, c.InitPID(), syscall.SIGTERM)
	// There is no /dev/initctl, so the request falls back to SIGTERM.
	if err := c.Shutdown(true, true); err != nil {
		t.Fatal(err)
	}
	ex := waitDone(t, c, 10*time.Second)
	if ex.Reason != Shutdown || ex.Status != "exit status 7" {
		t.Errorf("exit %+v, want shutdown with exit status 7", ex)
	}
}

func TestShutdownAndRebootByInitctl(t *testing.T) {
	e := newEnv(t)
	// A stand-in for sysvinit: it reads one request from /dev/initctl and
	// exits with 40 + the requested runlevel.
	init := []string{"-c", "mkfifo /dev/initctl; dd if=/dev/initctl bs=384 count=1 2>/dev/null | " +
		"od -An -tu1 -j8 -N1 > /tmp/rl; read rl < /tmp/rl; exit $((rl - 48 + 40))"}
	for _, tc := range []struct {
		name   string
		call   func(*Container) error
		status string
	}{
		{"shutdown", func(c *Container) error { return c.Shutdown(true, false) }, "exit status 40"},
		{"reboot", func(c *Container) error { return c.Reboot(true, false) }, "exit status 46"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.start(e.spec("/bin/sh", init...))
			// Until the FIFO has a reader the request is refused.
			deadline := time.Now().Add(10 * time.Second)
			for err := tc.call(c); err != nil; err = tc.call(c) {
				if time.Now().After(deadline) {
					t.Fatalf("initctl request: %v", err)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if ex := waitDone(t, c, 10*time.Second); ex.Reason != Shutdown || ex.Status != tc.status {
				t.Errorf("exit %+v, want shutdown with %s", ex, tc.status)
			}
		})
	}
}

func TestShutdownWithoutMethod(t *testing.T) {
	e := newEnv(t)
	c := e.start(e.spec("/bin/sleep", "1000"))
	// initctl only, and the container has none: an error, and it runs on.
	if err := c.Shutdown(true, false); err == nil {
		t.Error("shutdown by initctl succeeded without /dev/initctl")
	}
	select {
	case <-c.Done():
		t.Fatal("container stopped")
	case <-time.After(50 * time.Millisecond):
	}
}

func TestRebootAndPowerOffFromInside(t *testing.T) {
	e := newEnv(t)
	t.Run("reboot", func(t *testing.T) {
		// reboot(2) in a pid namespace kills its init with SIGHUP.
		c := e.start(e.spec("/bin/sh", "-c", "trap 'reboot -f' HUP; sleep 1000 & wait"))
		waitSignalHandled(t, c.InitPID(), syscall.SIGHUP)
		if err := c.Reboot(true, true); err != nil {
			t.Fatal(err)
		}
		if ex := waitDone(t, c, 10*time.Second); ex.Reason != Reboot {
			t.Errorf("exit %+v, want reboot", ex)
		}
	})
	t.Run("poweroff", func(t *testing.T) {
		// power-off kills it with SIGINT, which is a shutdown.
		c := e.start(e.spec("/bin/sh", "-c", "poweroff -f; sleep 1000"))
		if ex := waitDone(t, c, 10*time.Second); ex.Reason != Shutdown || !strings.Contains(ex.Status, "interrupt") {
			t.Errorf("exit %+v, want shutdown by interrupt", ex)
		}
	})
}

func TestGracefulDestroy(t *testing.T) {
	e := newEnv(t)
	c := e.start(e.spec("/bin/sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"))
	waitSignalHandled(t, c.InitPID(), syscall.SIGTERM)
	if err := c.Destroy(true); err != nil {
		t.Fatal(err)
	}
	if ex := waitDone(t, c, 10*time.Second); ex.Reason != Destroyed {
		t.Errorf("exit %+v, want destroyed", ex)
	}
}

func TestConcurrentDestroy(t *testing.T) {
	e := newEnv(t)
	c := e.start(e.spec("/bin/sleep", "1000"))
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { errs <- c.Destroy(false) }()
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if ex := c.Exit(); ex.Reason != Destroyed {
		t.Errorf("exit %+v, want destroyed", ex)
	}
}

func TestAttachAfterDaemonRestart(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("/bin/sh")
	c := e.start(spec)
	con := openConsole(t, c.ConsolePaths()[0])
	con.run("export MARK=kept")
	con.close()
	// The daemon goes away: it drops every handle.
	c.Close()

	c2, err := Attach(e.dirs, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.ControllerPID() != c.ControllerPID() || c2.InitPID() != c.InitPID() ||
		c2.CgroupPath() != c.CgroupPath() || c2.ConsolePaths()[0] != c.ConsolePaths()[0] {
		t.Errorf("attached to a different container: %+v vs %+v", c2.st, c.st)
	}
	con = openConsole(t, c2.ConsolePaths()[0])
	if got := con.run("echo $MARK"); got != "kept" {
		t.Errorf("shell state after reattach: %q", got)
	}
	con.close()
	if _, err := c2.Stats(); err != nil {
		t.Error(err)
	}
	// One controller per name.
	if _, err := Start(e.exe, e.dirs, spec); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second start of a running container: %v", err)
	}
	// A request the controller does not know (a newer daemon talking to an
	// older controller) is refused and the connection stays usable.
	if err := c2.request("no-such-op", false, false); err == nil || !strings.Contains(err.Error(), "unsupported request") {
		t.Errorf("unknown request: %v", err)
	}
	if err := c2.request(opPing, false, false); err != nil {
		t.Errorf("ping after an unknown request: %v", err)
	}
	if err := c2.Destroy(false); err != nil {
		t.Fatal(err)
	}
	if ex := c2.Exit(); ex.Reason != Destroyed {
		t.Errorf("exit %+v", ex)
	}
	e.assertGone(spec.Name, c2.CgroupPath(), nil)
	if _, err := Attach(e.dirs, spec.Name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("attach after destroy: %v, want not exist", err)
	}
}

func TestDaemonExits(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("/bin/sh")
	specJSON, _ := json.Marshal(spec)
	daemon := exec.Command(e.exe)
	daemon.Env = append(os.Environ(), shortDaemonEnv+"="+e.dirs.StateDir+":"+e.dirs.LogDir)
	daemon.Stdin = bytes.NewReader(specJSON)
	out, err := daemon.Output()
	if err != nil {
		t.Fatalf("short-lived daemon: %v", err)
	}
	ctrl, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	// Its parent is gone; the controller was handed to an ancestor reaper.
	if ppid := procStatusField(ctrl, "PPid"); ppid == strconv.Itoa(daemon.Process.Pid) || ppid == "" {
		t.Errorf("controller %d has parent %q after the daemon %d exited", ctrl, ppid, daemon.Process.Pid)
	}
	if sid := procStatusField(ctrl, "NSsid"); sid != strconv.Itoa(ctrl) {
		t.Errorf("controller session %q, want its own (%d)", sid, ctrl)
	}
	c, err := Attach(e.dirs, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.ControllerPID() != ctrl {
		t.Errorf("attached to controller %d, want %d", c.ControllerPID(), ctrl)
	}
	con := openConsole(t, c.ConsolePaths()[0])
	if got := con.run("echo alive-$((6*7))"); got != "alive-42" {
		t.Errorf("console after the daemon exited: %q", got)
	}
	con.close()
	start := time.Now()
	if err := c.Destroy(false); err != nil {
		t.Fatal(err)
	}
	// Not our child: only the pidfd tells that it is gone (whoever reaps it
	// may take its time).
	t.Logf("destroy of an adopted controller took %v", time.Since(start))
	if ex := c.Exit(); ex.Reason != Destroyed {
		t.Errorf("exit %+v", ex)
	}
	e.assertGone(spec.Name, c.CgroupPath(), nil)
}

func TestExitWhileNobodyWatches(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("/bin/sh", "-c", "sleep 0.2; exit 3")
	c := e.start(spec)
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(e.dirs.exitFile(spec.Name)); err == nil {
			if _, err := os.Stat(e.dirs.statusFile(spec.Name)); errors.Is(err, os.ErrNotExist) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("controller did not record the exit")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err := Attach(e.dirs, spec.Name)
	var ee *ExitedError
	if !errors.As(err, &ee) {
		t.Fatalf("attach: %v, want *ExitedError", err)
	}
	if ee.Exit.Reason != Shutdown || ee.Exit.Status != "exit status 3" {
		t.Errorf("exit %+v, want shutdown with exit status 3", ee.Exit)
	}
	// The record is consumed: the exit is reported once.
	if _, err := Attach(e.dirs, spec.Name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("second attach: %v, want not exist", err)
	}
	e.assertGone(spec.Name, c.CgroupPath(), nil)
}

func TestControllerKilled(t *testing.T) {
	e := newEnv(t)
	t.Run("watched", func(t *testing.T) {
		c := e.start(e.spec("/bin/sleep", "1000"))
		if err := syscall.Kill(c.ControllerPID(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if ex := waitDone(t, c, 10*time.Second); ex.Reason != Failed {
			t.Errorf("exit %+v, want failed", ex)
		}
		if _, err := pidfd.Open(c.InitPID(), 0); !errors.Is(err, pidfd.ErrGone) {
			t.Errorf("init survived its controller: %v", err)
		}
	})
	t.Run("unwatched", func(t *testing.T) {
		spec := e.spec("/bin/sleep", "1000")
		c := e.start(spec)
		c.Close()
		p, err := pidfd.Open(c.ControllerPID(), 0)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if !p.WaitTimeout(5 * time.Second) {
			t.Fatal("controller survived SIGKILL")
		}
		_, err = Attach(e.dirs, spec.Name)
		var ee *ExitedError
		if !errors.As(err, &ee) || ee.Exit.Reason != Failed {
			t.Fatalf("attach: %v, want a failed exit", err)
		}
		if _, err := pidfd.Open(c.InitPID(), 0); !errors.Is(err, pidfd.ErrGone) {
			t.Errorf("init survived the cleanup: %v", err)
		}
		e.assertGone(spec.Name, c.CgroupPath(), nil)
	})
}

func TestControllerSignals(t *testing.T) {
	e := newEnv(t)
	c := e.start(e.spec("/bin/sh", "-c", "trap 'exit 9' HUP; sleep 1000 & wait"))
	waitSignalHandled(t, c.InitPID(), syscall.SIGHUP)
	// A hangup of the controller reaches neither it nor the container.
	if err := syscall.Kill(c.ControllerPID(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
		t.Fatalf("SIGHUP to the controller stopped the container: %+v", c.Exit())
	case <-time.After(100 * time.Millisecond):
	}
	// SIGTERM destroys the container in an orderly way.
	if err := syscall.Kill(c.ControllerPID(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if ex := waitDone(t, c, 10*time.Second); ex.Reason != Destroyed {
		t.Errorf("exit after SIGTERM to the controller %+v, want destroyed", ex)
	}
}

func TestStartFailure(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("/no/such/init")
	_, err := Start(e.exe, e.dirs, spec)
	if err == nil || !strings.Contains(err.Error(), "/no/such/init") || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("start error %v, want the exec failure", err)
	}
	e.assertFailedStartGone(spec.Name)
	if !strings.Contains(e.log(spec.Name), "starting up") {
		t.Errorf("log lacks the start line:\n%s", e.log(spec.Name))
	}
	// Failures inside the container stage come back the same way.
	for _, tc := range []struct {
		change func(*Spec)
		want   string
	}{
		{func(s *Spec) {
			s.Filesystems = append(s.Filesystems, Filesystem{Type: "mount", Source: "/no/such/dir", Target: "/mnt"})
		}, "filesystem source /no/such/dir"},
		{func(s *Spec) { s.InitUser = "nosuchuser" }, "user nosuchuser"},
		{func(s *Spec) { s.InitDir = "/no/such/dir" }, "chdir /no/such/dir"},
	} {
		spec := e.spec("/bin/sh")
		tc.change(spec)
		if _, err := Start(e.exe, e.dirs, spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("start error %v, want %q", err, tc.want)
		}
		e.assertFailedStartGone(spec.Name)
	}
	// A missing bridge is reported too, and cleaned up the same way.
	spec = e.spec("/bin/sh")
	spec.Interfaces = []Interface{{Type: "bridge", Bridge: "nosuchbr0", MAC: "52:54:00:00:00:01"}}
	if _, err := Start(e.exe, e.dirs, spec); err == nil || !strings.Contains(err.Error(), "nosuchbr0") {
		t.Fatalf("start error %v, want the missing bridge", err)
	}
	e.assertFailedStartGone(spec.Name)
}

// assertFailedStartGone checks that a start that failed left no cgroup
// (whatever its controller's PID was) and no state.
func (e *env) assertFailedStartGone(name string) {
	e.t.Helper()
	if m, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", testPartition, "lxc-*-"+name+".libvirt-lxc")); len(m) > 0 {
		e.t.Errorf("cgroups left behind: %v", m)
	}
	e.assertGone(name, testPartition+"/none", nil)
}

func TestFilesystemsAndInitSettings(t *testing.T) {
	e := newEnv(t)
	shared := filepath.Join(e.base, "shared")
	if err := os.MkdirAll(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shared, "hello"), []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := e.spec("/bin/sh")
	spec.Filesystems = append(spec.Filesystems,
		Filesystem{Type: "mount", Source: shared, Target: "/mnt/shared", ReadOnly: true},
		Filesystem{Type: "ram", Target: "/scratch", UsageKiB: 2048},
		Filesystem{Type: "bind", Source: "/mnt/shared", Target: "/again"},
	)
	spec.InitUser, spec.InitGroup, spec.InitDir = "user", "+1000", "/tmp"
	spec.InitEnv = []string{"FOO=bar"}
	spec.Cmdline = "quiet splash"
	c := e.start(spec)
	con := openConsole(t, c.ConsolePaths()[0])
	defer con.close()
	if got := con.run("id -u; id -g; pwd; echo $FOO $LIBVIRT_LXC_CMDLINE"); got != "1000\r\n1000\r\n/tmp\r\nbar quiet splash" {
		t.Errorf("init settings: %q", got)
	}
	if got := con.run("cat /mnt/shared/hello /again/hello"); got != "from-host\r\nfrom-host" {
		t.Errorf("bind mounts: %q", got)
	}
	if got := con.run("touch /mnt/shared/x 2>&1 || echo denied"); !strings.Contains(got, "Read-only") {
		t.Errorf("read-only mount is writable: %q", got)
	}
	if got := con.run("grep /scratch /proc/mounts"); !strings.Contains(got, "tmpfs") || !strings.Contains(got, "size=2048k") {
		t.Errorf("ram filesystem: %q", got)
	}
}

func TestReadOnlyRoot(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("/bin/sh")
	spec.Filesystems[0].ReadOnly = true
	spec.Filesystems = append(spec.Filesystems, Filesystem{Type: "ram", Target: "/tmp"})
	c := e.start(spec)
	con := openConsole(t, c.ConsolePaths()[0])
	defer con.close()
	if got := con.run("touch /x 2>&1; touch /tmp/y && echo tmp-ok"); !strings.Contains(got, "Read-only") || !strings.HasSuffix(got, "tmp-ok") {
		t.Errorf("read-only root: %q", got)
	}
}

func TestHostRoot(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("/bin/sh")
	spec.Filesystems = nil
	c := e.start(spec)
	con := openConsole(t, c.ConsolePaths()[0])
	defer con.close()
	// The host's own /bin/sh is the init, with private /proc and /dev.
	if got := con.run("echo $$; hostname; ls /proc | grep -c '^[0-9]'"); !strings.HasPrefix(got, "1\r\n"+spec.Name+"\r\n") {
		t.Errorf("host-root container: %q", got)
	}
	if _, err := os.Stat("/etc/debian_version"); err == nil {
		if got := con.run("cat /etc/debian_version >/dev/null && echo host-etc"); got != "host-etc" {
			t.Errorf("host root not visible: %q", got)
		}
	}
}

func TestTwoConsoles(t *testing.T) {
	e := newEnv(t)
	// The second shell needs a session of its own, or its job control
	// would take the foreground of the first console away from the init.
	spec := e.spec("/bin/sh", "-c", "setsid sh -c 'exec sh </dev/tty2 >/dev/tty2 2>&1' & exec sh")
	spec.Consoles = 2
	c := e.start(spec)
	if len(c.ConsolePaths()) != 2 {
		t.Fatalf("consoles %v", c.ConsolePaths())
	}
	for i, p := range c.ConsolePaths() {
		con := openConsole(t, p)
		// Both answer, each on its own terminal: the init on pts/0, the
		// second shell on /dev/tty2 (pts/1).
		if got, want := con.run("echo $$ $(readlink /proc/$$/fd/0)"), []string{"1 /dev/pts/0", "/dev/tty2"}[i]; !strings.HasSuffix(got, want) {
			t.Errorf("console %d: %q, want a shell on %s", i, got, want)
		}
		con.close()
	}
}

func TestCapabilities(t *testing.T) {
	e := newEnv(t)
	bit := func(c int) uint64 { return 1 << uint(c) }
	for _, tc := range []struct {
		name              string
		policy            string
		on, off           []string
		mustHave, mustNot []int
	}{
		{"default", "", nil, nil,
			[]int{unix.CAP_SYS_BOOT, unix.CAP_SYS_ADMIN, unix.CAP_NET_ADMIN},
			[]int{unix.CAP_SYS_MODULE, unix.CAP_SYS_TIME, unix.CAP_MKNOD, unix.CAP_AUDIT_CONTROL, unix.CAP_MAC_ADMIN}},
		{"default-with-overrides", "default", []string{"sys_time"}, []string{"net_raw"},
			[]int{unix.CAP_SYS_TIME}, []int{unix.CAP_NET_RAW, unix.CAP_SYS_MODULE}},
		{"allow", "allow", nil, []string{"sys_admin"},
			[]int{unix.CAP_SYS_MODULE, unix.CAP_MKNOD}, []int{unix.CAP_SYS_ADMIN}},
		{"deny", "deny", []string{"chown", "kill"}, nil,
			[]int{unix.CAP_CHOWN, unix.CAP_KILL}, []int{unix.CAP_SYS_ADMIN, unix.CAP_SETUID, unix.CAP_SYS_BOOT}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := e.spec("/bin/sleep", "1000")
			spec.CapPolicy, spec.CapsOn, spec.CapsOff = tc.policy, tc.on, tc.off
			c := e.start(spec)
			bnd, err := strconv.ParseUint(procStatusField(c.InitPID(), "CapBnd"), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			eff, _ := strconv.ParseUint(procStatusField(c.InitPID(), "CapEff"), 16, 64)
			if eff != bnd {
				t.Errorf("root's effective set %x differs from the bounding set %x", eff, bnd)
			}
			for _, cp := range tc.mustHave {
				if bnd&bit(cp) == 0 {
					t.Errorf("capability %d missing from %x", cp, bnd)
				}
			}
			for _, cp := range tc.mustNot {
				if bnd&bit(cp) != 0 {
					t.Errorf("capability %d not dropped from %x", cp, bnd)
				}
			}
		})
	}
	spec := e.spec("/bin/sleep", "1000")
	spec.CapsOff = []string{"no_such_cap"}
	if _, err := Start(e.exe, e.dirs, spec); err == nil || !strings.Contains(err.Error(), "no_such_cap") {
		t.Errorf("unknown capability: %v", err)
	}
}
