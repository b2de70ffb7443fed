package lxc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/virtlxcd/virtlxcd/pkg/controller"
	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/domxml"
	"github.com/virtlxcd/virtlxcd/pkg/paths"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// TestMain lets the test binary serve as the controller: the driver
// re-executes Config.Exe with controller.Subcommand, as the daemon does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == controller.Subcommand {
		os.Exit(controller.Main(os.Args[2:]))
	}
	code := m.Run()
	if left := leftoverCgroups(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "cgroups of this test run left behind: %v\n", left)
		code = 1
	}
	os.Exit(code)
}

// leftoverCgroups finds cgroups of containers this test binary started
// (their names carry its pid, see uniq) in any hierarchy.
func leftoverCgroups() []string {
	mark := fmt.Sprintf("-%d-", os.Getpid())
	var left []string
	hier, _ := filepath.Glob("/sys/fs/cgroup/*/machine")
	hier = append(hier, "/sys/fs/cgroup/machine")
	for _, dir := range hier {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.IsDir() && strings.Contains(e.Name(), mark) {
				left = append(left, filepath.Join(dir, e.Name()))
			}
		}
	}
	return left
}

const busybox = "/bin/busybox"

// canRunContainers reports whether this machine can run real containers.
func canRunContainers() bool {
	_, err := os.Stat(busybox)
	return os.Geteuid() == 0 && err == nil
}

// needContainers skips when the machine cannot run real containers.
func needContainers(t *testing.T) {
	t.Helper()
	if !canRunContainers() {
		t.Skip("containers need root and busybox-static")
	}
}

// makeRootfs builds a throwaway busybox root.
func makeRootfs(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	for _, dir := range []string{"bin", "sbin", "proc", "sys", "dev", "tmp", "etc", "run", "root"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"sh", "hostname", "cat", "sleep", "ps", "echo", "ls", "reboot", "poweroff", "true"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", app)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// initScript is an init that powers off on SIGTERM and reboots on SIGHUP,
// like a real init, and otherwise idles.
const initScript = `trap 'exit 0' TERM; trap 'reboot -f' HUP; while :; do sleep 0.1; done`

// rootXML is a container with its own busybox root. With script set the
// init runs it, otherwise the init is an interactive shell on the console.
func rootXML(name, root, script string) string {
	args := ""
	if script != "" {
		args = "<initarg>-c</initarg><initarg>" + script + "</initarg>"
	}
	return fmt.Sprintf(`<domain type='lxc'>
  <name>%s</name>
  <memory unit='MiB'>96</memory>
  <os><type>exe</type><init>/bin/sh</init>%s</os>
  <devices>
    <filesystem type='mount'><source dir='%s'/><target dir='/'/></filesystem>
    <console type='pty'/>
  </devices>
</domain>`, name, args, root)
}

// containerDriver is a driver whose directories live below a temp dir and
// which destroys whatever still runs when the test ends.
func containerDriver(t *testing.T, p paths.Paths) *Driver {
	t.Helper()
	d := newTestDriver(t, p)
	t.Cleanup(func() { destroyAll(t, d) })
	return d
}

func destroyAll(t *testing.T, d *Driver) {
	d.mu.RLock()
	closed := d.closed
	d.mu.RUnlock()
	if closed {
		return // a later driver on the same directories owns the guests
	}
	refs, _ := d.ListAllDomains(domain.ListActive)
	for _, ref := range refs {
		if err := d.Destroy(ref, 0); err != nil {
			t.Errorf("cleanup destroy %s: %v", ref.Name, err)
		}
	}
}

// uniq makes names that do not collide with other packages' tests.
func uniq(t *testing.T, base string) string {
	return fmt.Sprintf("%s-%d-%d", base, os.Getpid(), time.Now().UnixNano()%1e6)
}

func initPID(t *testing.T, d *Driver, ref domain.Ref) int {
	t.Helper()
	var pid int
	if err := d.view(ref, func(m *dom) error {
		if m.cont == nil {
			return notRunning()
		}
		pid = m.cont.InitPID()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return pid
}

// memoryCgroup is the v1 memory cgroup directory of pid.
func memoryCgroup(t *testing.T, pid int) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && parts[1] == "memory" {
			return filepath.Join("/sys/fs/cgroup/memory", parts[2])
		}
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "0::") {
			return filepath.Join("/sys/fs/cgroup/unified", strings.TrimPrefix(line, "0::"))
		}
	}
	t.Fatalf("no memory cgroup in %s", data)
	return ""
}

// nsPID1 reports whether pid is PID 1 in its own pid namespace.
func nsPID1(t *testing.T, pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 1 && f[0] == "NSpid:" {
			return f[len(f)-1] == "1" && len(f) > 2
		}
	}
	return false
}

func TestContainerLifecycle(t *testing.T) {
	needContainers(t)
	p := testPaths(t)
	d := containerDriver(t, p)
	rec, cancel := record(d)
	defer cancel()
	name := uniq(t, "life")
	ref, err := d.DefineXML(rootXML(name, makeRootfs(t), ""), 0)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	ref, err = d.Create(ref, 0)
	startTime := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("start took %v", startTime)
	rec.wait(t, name, domain.EventIDLifecycle, domain.EventStarted, domain.DetailStartedBooted)
	if ref.ID <= 0 {
		t.Fatalf("running domain has id %d", ref.ID)
	}
	if got, err := d.LookupByID(ref.ID); err != nil || got != ref {
		t.Errorf("lookup by id: %+v %v", got, err)
	}
	if st, reason, _ := d.GetState(ref, 0); st != domain.Running || reason != domain.RunningBooted {
		t.Errorf("state %d reason %d", st, reason)
	}
	if n := d.ActiveCount(); n != 1 {
		t.Errorf("active count %d", n)
	}
	if refs, _ := d.ListAllDomains(domain.ListActive); len(refs) != 1 || refs[0] != ref {
		t.Errorf("active list %+v", refs)
	}
	if ids, _ := d.ListDomainIDs(10); len(ids) != 1 || ids[0] != ref.ID {
		t.Errorf("ids %v", ids)
	}
	_, err = d.Create(ref, 0)
	wantErr(t, err, 55, 20, "Requested operation is not valid: Domain is already running")

	pid := initPID(t, d, ref)
	if !nsPID1(t, pid) {
		t.Errorf("init %d is not PID 1 of its namespace", pid)
	}
	if host, err := d.GetHostname(ref, 0); err != nil || host != name {
		t.Errorf("hostname %q %v", host, err)
	}
	cg := memoryCgroup(t, pid)
	if strings.HasPrefix(cg, "/sys/fs/cgroup/memory") {
		limit, err := os.ReadFile(filepath.Join(cg, "memory.limit_in_bytes"))
		if err != nil || strings.TrimSpace(string(limit)) != strconv.Itoa(96<<20) {
			t.Errorf("memory limit %q %v, want %d", limit, err, 96<<20)
		}
	}
	info, err := d.GetInfo(ref)
	if err != nil || info.State != domain.Running || info.MaxMemKiB != 96*1024 || info.MemoryKiB == 0 {
		t.Errorf("info %+v %v", info, err)
	}
	x, _ := d.GetXMLDesc(ref, 0)
	if !strings.Contains(x, fmt.Sprintf("id='%d'", ref.ID)) || !strings.Contains(x, "tty='/dev/pts/") || !strings.Contains(x, "<alias name='console0'/>") {
		t.Errorf("live xml:\n%s", x)
	}
	if st, err := os.ReadFile(filepath.Join(p.LXCStateDir, name+".xml")); err != nil || !bytes.Contains(st, []byte("<domstatus")) {
		t.Errorf("status file: %v\n%s", err, st)
	}

	consoleRoundTrip(t, d, ref)
	consoleRoundTrip(t, d, ref) // a second attach works as well

	if hard, _, _, err := d.MemoryParameters(ref, 0); err != nil || hard != 96*1024 {
		t.Errorf("live hard limit %d %v, want %d", hard, err, 96*1024)
	}
	if err := d.SetMemoryFlags(ref, 80*1024, domain.AffectLive); err != nil {
		t.Errorf("setmem: %v", err)
	} else if strings.HasPrefix(cg, "/sys/fs/cgroup/memory") {
		limit, _ := os.ReadFile(filepath.Join(cg, "memory.limit_in_bytes"))
		if strings.TrimSpace(string(limit)) != strconv.Itoa(80<<20) {
			t.Errorf("memory limit after setmem %q", limit)
		}
	}
	if hard, _, _, err := d.MemoryParameters(ref, 0); err != nil || hard != 80*1024 {
		t.Errorf("live hard limit after setmem %d %v", hard, err)
	}
	if info, _ := d.GetInfo(ref); info.MaxMemKiB != 96*1024 {
		t.Errorf("max memory after setmem %d", info.MaxMemKiB)
	}
	if x, _ := d.GetXMLDesc(ref, 0); !strings.Contains(x, "<currentMemory unit='KiB'>81920</currentMemory>") {
		t.Errorf("live currentMemory not updated:\n%s", x)
	}

	t0 = time.Now()
	if err := d.Destroy(ref, 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("destroy took %v", time.Since(t0))
	rec.wait(t, name, domain.EventIDLifecycle, domain.EventStopped, domain.DetailStoppedDestroyed)
	if st, reason, _ := d.GetState(ref, 0); st != domain.Shutoff || reason != domain.ShutoffDestroyed {
		t.Errorf("after destroy: state %d reason %d", st, reason)
	}
	if got, _ := d.LookupByName(name); got.ID != -1 {
		t.Errorf("id after destroy %d", got.ID)
	}
	if _, err := os.Stat(filepath.Join(p.LXCStateDir, name+".xml")); !os.IsNotExist(err) {
		t.Errorf("status file left: %v", err)
	}
	if _, err := os.Stat(cg); !os.IsNotExist(err) {
		t.Errorf("cgroup %s left: %v", cg, err)
	}
	if n := d.ActiveCount(); n != 0 {
		t.Errorf("active count %d", n)
	}
}

// consoleRoundTrip types a command on the console and waits for its
// output; the arithmetic proves a shell ran it rather than echoing it.
func consoleRoundTrip(t *testing.T, d *Driver, ref domain.Ref) {
	t.Helper()
	con, err := d.OpenConsole(ref, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer con.Close()
	f := con.(*os.File)
	a, b := time.Now().Nanosecond()%1000, 7
	want := fmt.Sprintf("tok-%d", a*b)
	if _, err := fmt.Fprintf(f, "echo tok-$((%d*%d))\n", a, b); err != nil {
		t.Fatal(err)
	}
	f.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte(want)) {
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("console: %v; read %q", err, got)
		}
	}
}

// waitTrap waits until the init of a running domain handles signal sig.
// The kernel drops a signal sent from outside to the init of a pid
// namespace that has no handler for it, so signalling before the init's
// shell ran its trap would lose the request.
func waitTrap(t *testing.T, d *Driver, ref domain.Ref, sig int) {
	t.Helper()
	m, err := d.get(ref)
	if err != nil {
		t.Fatal(err)
	}
	d.mu.RLock()
	c := m.cont
	d.mu.RUnlock()
	if c == nil {
		t.Fatal("domain is not running")
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.InitPID()))
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "SigCgt:"); ok {
				mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				if err == nil && mask&(1<<(sig-1)) != 0 {
					return
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the init of %s never handled signal %d", ref.Name, sig)
}

func TestShutdownAndReboot(t *testing.T) {
	needContainers(t)
	d := containerDriver(t, testPaths(t))
	rec, cancel := record(d)
	defer cancel()
	name := uniq(t, "pw")
	ref, err := d.DefineXML(rootXML(name, makeRootfs(t), initScript), 0)
	if err != nil {
		t.Fatal(err)
	}
	if ref, err = d.Create(ref, 0); err != nil {
		t.Fatal(err)
	}
	first := ref.ID

	// Reboot: the init reboots on SIGHUP; on_reboot restart brings it back
	// with a new controller and a REBOOT event.
	waitTrap(t, d, ref, 1)
	if err := d.Reboot(ref, 0); err != nil {
		t.Fatal(err)
	}
	ev := rec.wait(t, name, domain.EventIDReboot, 0, 0)
	if ev.Dom.ID == first || ev.Dom.ID <= 0 {
		t.Errorf("after reboot id %d (was %d)", ev.Dom.ID, first)
	}
	now, _ := d.LookupByName(name)
	if st, _, _ := d.GetState(now, 0); st != domain.Running || now.ID != ev.Dom.ID {
		t.Errorf("after reboot state %d id %d", st, now.ID)
	}

	wantErr(t, d.Shutdown(now, domain.ShutdownInitctl), 84, 17, "Operation not supported: Container does not provide an initctl pipe")
	waitTrap(t, d, now, 15)
	if err := d.Shutdown(now, 0); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, name, domain.EventIDLifecycle, domain.EventStopped, domain.DetailStoppedShutdown)
	if st, reason, _ := d.GetState(now, 0); st != domain.Shutoff || reason != domain.ShutoffShutdown {
		t.Errorf("after shutdown state %d reason %d", st, reason)
	}
}

func TestTransient(t *testing.T) {
	needContainers(t)
	d := containerDriver(t, testPaths(t))
	rec, cancel := record(d)
	defer cancel()
	name := uniq(t, "tr")
	ref, err := d.CreateXML(rootXML(name, makeRootfs(t), initScript), 0)
	if err != nil {
		t.Fatal(err)
	}
	rec.wait(t, name, domain.EventIDLifecycle, domain.EventStarted, domain.DetailStartedBooted)
	if on, _ := d.IsPersistent(ref); on {
		t.Error("transient domain reported persistent")
	}
	if refs, _ := d.ListAllDomains(domain.ListTransient); len(refs) != 1 {
		t.Errorf("transient list %+v", refs)
	}
	wantErr(t, d.SetAutostart(ref, true), 55, 20, "Requested operation is not valid: Cannot set autostart for transient domain")
	wantErr(t, d.Undefine(ref, 0), 55, 20, "Requested operation is not valid: Cannot undefine transient domain")
	_, err = d.CreateXML(rootXML(name, "/nonexistent", ""), 0)
	if err == nil {
		t.Fatal("second create of a running name succeeded")
	}
	if err := d.Destroy(ref, 0); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, name, domain.EventIDLifecycle, domain.EventStopped, domain.DetailStoppedDestroyed)
	if _, err := d.LookupByName(name); err == nil {
		t.Error("transient domain still known after it stopped")
	}

	// A running transient domain that gets defined becomes persistent and
	// survives its stop.
	root := makeRootfs(t)
	if ref, err = d.CreateXML(rootXML(name, root, initScript), 0); err != nil {
		t.Fatal(err)
	}
	withUUID := strings.Replace(rootXML(name, root, initScript), "</name>", "</name><uuid>"+domxml.FormatUUID(ref.UUID)+"</uuid>", 1)
	if _, err := d.DefineXML(withUUID, 0); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, name, domain.EventIDLifecycle, domain.EventDefined, domain.DetailDefinedAdded)
	if on, _ := d.IsPersistent(ref); !on {
		t.Error("defined domain not persistent")
	}
	if err := d.Destroy(ref, 0); err != nil {
		t.Fatal(err)
	}
	if st, _, err := d.GetState(ref, 0); err != nil || st != domain.Shutoff {
		t.Errorf("after destroy: state %d %v", st, err)
	}
	if err := d.Undefine(ref, 0); err != nil {
		t.Fatal(err)
	}
}

func TestStartFailure(t *testing.T) {
	needContainers(t)
	d := containerDriver(t, testPaths(t))
	name := uniq(t, "bad")
	ref, err := d.DefineXML(rootXML(name, filepath.Join(t.TempDir(), "missing"), ""), 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Create(ref, 0)
	if err == nil {
		t.Fatal("start with a missing root succeeded")
	}
	if !strings.HasPrefix(err.Error(), "internal error: guest failed to start: ") {
		t.Errorf("error %q", err)
	}
	if st, reason, _ := d.GetState(ref, 0); st != domain.Shutoff || reason != domain.ShutoffFailed {
		t.Errorf("state %d reason %d after failed start", st, reason)
	}
	if n := d.ActiveCount(); n != 0 {
		t.Errorf("active %d", n)
	}
}

// TestDaemonRestart drops the driver while a container runs, as a daemon
// restart or crash does, and checks that a new driver adopts the guest and
// can manage it; then that a guest that ends while no driver runs shows as
// shut off afterwards.
func TestDaemonRestart(t *testing.T) {
	needContainers(t)
	p := testPaths(t)
	d := containerDriver(t, p)
	name := uniq(t, "rs")
	ref, err := d.DefineXML(rootXML(name, makeRootfs(t), initScript), 0)
	if err != nil {
		t.Fatal(err)
	}
	if ref, err = d.Create(ref, 0); err != nil {
		t.Fatal(err)
	}
	pid := initPID(t, d, ref)
	d.Close()
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("init gone after the driver closed: %v", err)
	}

	d2 := containerDriver(t, p)
	got, err := d2.LookupByName(name)
	if err != nil || got.ID != ref.ID {
		t.Fatalf("after restart %+v %v (id was %d)", got, err, ref.ID)
	}
	if st, reason, _ := d2.GetState(got, 0); st != domain.Running || reason != domain.RunningUnknown {
		t.Errorf("after restart state %d reason %d", st, reason)
	}
	if host, err := d2.GetHostname(got, 0); err != nil || host != name {
		t.Errorf("hostname after restart %q %v", host, err)
	}
	rec, cancel := record(d2)
	waitTrap(t, d2, got, 15)
	if err := d2.Shutdown(got, 0); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, name, domain.EventIDLifecycle, domain.EventStopped, domain.DetailStoppedShutdown)
	cancel()

	// Now a guest that powers off while no daemon runs.
	if got, err = d2.Create(got, 0); err != nil {
		t.Fatal(err)
	}
	pid = initPID(t, d2, got)
	waitTrap(t, d2, got, 15)
	d2.Close()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitGone(t, got.ID)
	d3 := containerDriver(t, p)
	if st, reason, err := d3.GetState(got, 0); err != nil || st != domain.Shutoff || reason != domain.ShutoffShutdown {
		t.Errorf("guest that stopped while down: state %d reason %d %v", st, reason, err)
	}
	if _, err := os.Stat(filepath.Join(p.LXCStateDir, name+".xml")); !os.IsNotExist(err) {
		t.Errorf("status file left: %v", err)
	}
}

// waitGone waits until a process is gone, zombie or not: PID 1 here reaps
// orphans late, so a pidfd is the reliable signal.
func waitGone(t *testing.T, pid int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if f := strings.Fields(string(data)); len(f) > 2 && (f[2] == "Z" || f[2] == "X") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d still alive", pid)
}

func TestAutostartOnBoot(t *testing.T) {
	needContainers(t)
	p := testPaths(t)
	d := containerDriver(t, p)
	name := uniq(t, "ab")
	ref, err := d.DefineXML(rootXML(name, makeRootfs(t), initScript), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetAutostart(ref, true); err != nil {
		t.Fatal(err)
	}
	d.Close()
	// A new host boot: the state dir (a tmpfs in production) is empty.
	if err := os.Remove(filepath.Join(p.LXCStateDir, "autostarted")); err != nil {
		t.Fatal(err)
	}
	d2 := containerDriver(t, p)
	got, _ := d2.LookupByName(name)
	if st, _, _ := d2.GetState(got, 0); st != domain.Running || got.ID <= 0 {
		t.Fatalf("autostart domain not running: state %d id %d", st, got.ID)
	}
	if err := d2.Destroy(got, 0); err != nil {
		t.Fatal(err)
	}
}

// TestRebootWhileDown: a guest that reboots while no daemon runs is
// started again by the next one (on_reboot restart), persistent or not.
func TestRebootWhileDown(t *testing.T) {
	needContainers(t)
	p := testPaths(t)
	d := containerDriver(t, p)
	names := []string{uniq(t, "rbp"), uniq(t, "rbt")}
	var refs []domain.Ref
	for i, name := range names {
		var ref domain.Ref
		var err error
		if i == 0 {
			if ref, err = d.DefineXML(rootXML(name, makeRootfs(t), initScript), 0); err == nil {
				ref, err = d.Create(ref, 0)
			}
		} else {
			ref, err = d.CreateXML(rootXML(name, makeRootfs(t), initScript), 0)
		}
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	pids := []int{initPID(t, d, refs[0]), initPID(t, d, refs[1])}
	for _, ref := range refs {
		waitTrap(t, d, ref, 1)
	}
	d.Close()
	for i, pid := range pids {
		// The init's HUP trap runs reboot -f, as a guest rebooting itself.
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		waitGone(t, refs[i].ID)
		t.Logf("controller of %s gone after %v", names[i], time.Since(t0))
	}
	t0 := time.Now()
	d2 := containerDriver(t, p)
	t.Logf("driver start with two reboots to do: %v", time.Since(t0))
	for i, name := range names {
		got, err := d2.LookupByName(name)
		if err != nil {
			t.Fatalf("%s after restart: %v", name, err)
		}
		if st, _, _ := d2.GetState(got, 0); st != domain.Running || got.ID <= 0 || got.ID == refs[i].ID {
			t.Errorf("%s: state %d id %d (was %d)", name, st, got.ID, refs[i].ID)
		}
		if on, _ := d2.IsPersistent(got); on != (i == 0) {
			t.Errorf("%s: persistent %v", name, on)
		}
	}
}

// TestQueriesDuringTransientStart queries a transient domain from another
// goroutine while it is being created and destroyed, the window in which it
// has neither a persistent nor a live definition.
func TestQueriesDuringTransientStart(t *testing.T) {
	needContainers(t)
	d := containerDriver(t, testPaths(t))
	name := uniq(t, "qs")
	xml := rootXML(name, makeRootfs(t), initScript)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ref, err := d.LookupByName(name)
			if err != nil {
				continue
			}
			d.GetInfo(ref)
			d.GetXMLDesc(ref, 0)
			d.GetXMLDesc(ref, domain.XMLInactive)
			d.GetOSType(ref)
			d.GetMaxMemory(ref)
			d.MemoryParameters(ref, 0)
			d.SchedulerParameters(ref, 0)
			d.Create(ref, 0)
			d.NumOfDefinedDomains()
		}
	}()
	for i := 0; i < 5; i++ {
		ref, err := d.CreateXML(xml, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Destroy(ref, 0); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
}

// TestGracefulDestroy: with DestroyGraceful the guest only gets SIGTERM;
// the call returns at once and the domain stops when its init obeys.
func TestGracefulDestroy(t *testing.T) {
	needContainers(t)
	d := containerDriver(t, testPaths(t))
	rec, cancel := record(d)
	defer cancel()
	name := uniq(t, "gd")
	ref, err := d.DefineXML(rootXML(name, makeRootfs(t), initScript), 0)
	if err != nil {
		t.Fatal(err)
	}
	if ref, err = d.Create(ref, 0); err != nil {
		t.Fatal(err)
	}
	waitTrap(t, d, ref, 15)
	if err := d.Destroy(ref, domain.DestroyGraceful); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, name, domain.EventIDLifecycle, domain.EventStopped, domain.DetailStoppedDestroyed)
	if st, reason, _ := d.GetState(ref, 0); st != domain.Shutoff || reason != domain.ShutoffDestroyed {
		t.Errorf("after graceful destroy: state %d reason %d", st, reason)
	}
	wantErr(t, d.Destroy(ref, 2), virterror.InvalidArg, virterror.FromLXC, "unsupported flags (0x2) in function lxcDomainDestroyFlags")
}
