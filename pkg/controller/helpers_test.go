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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/virtlxcd/virtlxcd/pkg/cgroup"
	"github.com/virtlxcd/virtlxcd/pkg/netdev"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The test binary doubles as the daemon binary: Start re-executes it with
// Subcommand, and TestMain hands those runs to Main.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == Subcommand {
		os.Exit(Main(os.Args[2:]))
	}
	if os.Getenv(shortDaemonEnv) != "" {
		os.Exit(shortDaemon())
	}
	if os.Geteuid() != 0 {
		fmt.Println("skipping: the container runtime tests need root")
		os.Exit(0)
	}
	code := m.Run()
	cgroup.RemoveIfEmpty(testPartition)
	os.Exit(code)
}

// shortDaemonEnv makes the test binary act as a daemon that starts one
// container (spec as JSON on stdin, state and log directories in the
// variable) and exits at once, leaving the controller behind.
const shortDaemonEnv = "VIRTLXCD_TEST_SHORT_DAEMON"

func shortDaemon() int {
	var spec Spec
	if err := json.NewDecoder(os.Stdin).Decode(&spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	state, logs, _ := strings.Cut(os.Getenv(shortDaemonEnv), ":")
	exe, _ := os.Executable()
	c, err := Start(exe, Dirs{StateDir: state, LogDir: logs}, &spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(c.ControllerPID())
	return 0
}

// testPartition keeps this run's cgroups apart from the host's /machine and
// from other test processes.
var testPartition = fmt.Sprintf("/virtlxcd-test-%d", os.Getpid())

var nameSeq atomic.Int32

// uniqueName is unique across concurrently running test binaries.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), nameSeq.Add(1))
}

func busybox(t testing.TB) string {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("busybox-static is not installed")
	return ""
}

var applets = []string{"sh", "hostname", "cat", "sleep", "ps", "echo", "ls", "id", "ip", "true",
	"kill", "reboot", "poweroff", "mount", "touch", "readlink", "stat", "grep", "env", "pwd", "tty", "setsid", "ping", "head", "wc", "mkfifo", "dd", "od"}

// worldDir makes a temporary directory that processes mapped to other
// uids (user namespace tests) can traverse.
func worldDir(t testing.TB) string {
	d, err := os.MkdirTemp("", "virtlxcd-ctl-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// newRootfs builds a throwaway busybox root file system.
func newRootfs(t testing.TB, base string) string {
	bb := busybox(t)
	root := filepath.Join(base, "rootfs")
	for _, d := range []string{"bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "home/user"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range applets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
		"etc/group":  "root:x:0:\ntty:x:5:\nuser:x:1000:\n",
	}
	for p, c := range files {
		if err := os.WriteFile(filepath.Join(root, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

type env struct {
	t    testing.TB
	base string
	dirs Dirs
	root string
	exe  string
}

func newEnv(t testing.TB) *env {
	base := worldDir(t)
	e := &env{t: t, base: base, root: newRootfs(t, base),
		dirs: Dirs{StateDir: filepath.Join(base, "run"), LogDir: filepath.Join(base, "log")}}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e.exe = exe
	return e
}

// spec returns a busybox container spec running init with args.
func (e *env) spec(init string, args ...string) *Spec {
	return &Spec{
		Name:        uniqueName("ct"),
		UUID:        "c7a5fdbd-cdaf-9455-926a-d65c16db1809",
		Init:        init,
		InitArgs:    args,
		Filesystems: []Filesystem{{Type: "mount", Source: e.root, Target: "/"}},
		Partition:   testPartition,
		MemoryKiB:   64 * 1024,
		Consoles:    1,
	}
}

// start starts spec and makes sure the test removes the container and
// checks that nothing is left behind.
func (e *env) start(spec *Spec) *Container {
	e.t.Helper()
	c, err := Start(e.exe, e.dirs, spec)
	if err != nil {
		e.t.Fatalf("start %s: %v\nlog:\n%s", spec.Name, err, e.log(spec.Name))
	}
	e.t.Cleanup(func() {
		d := c
		if c.closed.Load() {
			// The test dropped the handle (a "daemon restart"); find the
			// controller again if it still runs.
			var err error
			if d, err = Attach(e.dirs, spec.Name); err != nil {
				d = nil
			}
		}
		if d != nil {
			if err := d.Destroy(false); err != nil {
				e.t.Errorf("destroy in cleanup: %v", err)
			}
			d.Close()
		}
		e.assertGone(spec.Name, c.CgroupPath(), c.st.Links)
	})
	return c
}

func (e *env) log(name string) string {
	b, _ := os.ReadFile(e.dirs.logFile(name))
	return string(b)
}

// assertGone checks that no cgroup directory, state file or host veth of
// the container is left.
func (e *env) assertGone(name, cgPath string, links []netdev.Link) {
	e.t.Helper()
	defer func() {
		if e.t.Failed() {
			e.t.Logf("controller log:\n%s", e.log(name))
		}
	}()
	g, err := cgroup.Open(cgPath)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, d := range g.Dirs() {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			e.t.Errorf("cgroup directory %s left behind (%v)", d, err)
		}
	}
	for _, p := range []string{e.dirs.statusFile(name), e.dirs.pidFile(name), e.dirs.sockFile(name), e.dirs.rootDir(name)} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			e.t.Errorf("state file %s left behind (%v)", p, err)
		}
	}
	// The container's mounts lived in its own mount namespace; none may
	// have leaked into the host's.
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(mi), e.base) {
		e.t.Errorf("mounts below %s leaked into the host namespace", e.base)
	}
	// By index and name: a concurrent test may already reuse the name.
	for _, want := range links {
		if l, err := netlink.LinkByIndex(want.Index); err == nil && l.Attrs().Name == want.Name {
			e.t.Errorf("host interface %s left behind", want.Name)
		}
	}
}

func waitDone(t testing.TB, c *Container, d time.Duration) Exit {
	t.Helper()
	select {
	case <-c.Done():
		return c.Exit()
	case <-time.After(d):
		t.Fatalf("container did not stop within %v", d)
		return Exit{}
	}
}

// console is a client attached to a container console.
type console struct {
	t testing.TB
	f *os.File
	b bytes.Buffer
}

func openConsole(t testing.TB, path string) *console {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open console %s: %v", path, err)
	}
	return &console{t: t, f: os.NewFile(uintptr(fd), path)}
}

func (c *console) send(s string) {
	c.t.Helper()
	if _, err := c.f.Write([]byte(s)); err != nil {
		c.t.Fatalf("write console: %v", err)
	}
}

// expect reads until want appears and returns everything read.
func (c *console) expect(want string, d time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(d)
	buf := make([]byte, 4096)
	for !strings.Contains(c.b.String(), want) {
		_ = c.f.SetReadDeadline(deadline)
		n, err := c.f.Read(buf)
		c.b.Write(buf[:n])
		if err != nil {
			c.t.Fatalf("waiting for %q on console: %v; got %q", want, err, c.b.String())
		}
	}
	out := c.b.String()
	c.b.Reset()
	return out
}

// run sends a shell command and returns the text between two markers the
// command prints, so the echoed command line never matches.
func (c *console) run(cmd string) string {
	c.t.Helper()
	n := nameSeq.Add(1)
	c.send(fmt.Sprintf("echo B$((%d+1)); %s; echo E$((%d+1))\n", n, cmd, n))
	begin, end := fmt.Sprintf("B%d\r\n", n+1), fmt.Sprintf("E%d\r\n", n+1)
	out := c.expect(end, 10*time.Second)
	i := strings.Index(out, begin)
	if i < 0 {
		c.t.Fatalf("console output %q lacks %q", out, begin)
	}
	out = out[i+len(begin):]
	return strings.TrimSpace(out[:strings.Index(out, end)])
}

func (c *console) close() { c.f.Close() }

func nsLink(pid int, ns string) string {
	l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
	return l
}

func procStatusField(pid int, field string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

func chownTree(t testing.TB, root string, uid, gid int) {
	out, err := exec.Command("chown", "-R", "-h", fmt.Sprintf("%d:%d", uid, gid), root).CombinedOutput()
	if err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
}

// waitSignalHandled waits until pid has a handler for sig. The init of a
// pid namespace ignores signals it has no handler for, so a test must not
// signal a shell init before its trap ran.
func waitSignalHandled(t testing.TB, pid int, sig syscall.Signal) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mask, err := strconv.ParseUint(procStatusField(pid, "SigCgt"), 16, 64)
		if err == nil && mask&(1<<(uint(sig)-1)) != 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d never handled %v", pid, sig)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
