package main_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/virtlxcd/virtlxcd/internal/daemontest"
)

// domID returns the running domain's id (the controller's PID).
func domID(t *testing.T, d *daemontest.Daemon, name string) int {
	t.Helper()
	out := strings.TrimSpace(d.MustVirsh(t, "domid", name))
	id, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("domid %s: %q", name, out)
	}
	return id
}

// consoleRun types cmd on the guest console through go-libvirt's stream
// and returns the output up to marker.
func consoleRun(t *testing.T, l *libvirt.Libvirt, name, cmd, marker string) string {
	t.Helper()
	dom, err := l.DomainLookupByName(name)
	if err != nil {
		t.Fatal(err)
	}
	in, inW := io.Pipe()
	out := &watchWriter{marker: marker, found: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- l.DomainOpenConsoleBidirectional(dom, nil, in, out, 0) }()
	// The shell may not have printed its prompt yet; type until it answers.
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	inW.Write([]byte(cmd + "\n"))
loop:
	for {
		select {
		case <-out.found:
			break loop
		case err := <-done:
			t.Fatalf("console stream ended early: %v; output %q", err, out.String())
		case <-tick.C:
			if !strings.Contains(out.String(), marker) {
				inW.Write([]byte(cmd + "\n"))
			}
		case <-deadline:
			t.Fatalf("console: no %q in %q", marker, out.String())
		}
	}
	inW.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Errorf("console stream did not finish after the client closed it")
	}
	return out.String()
}

type watchWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	found  chan struct{}
	once   sync.Once
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.marker) {
		w.once.Do(func() { close(w.found) })
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestContainerLifecycleWithVirsh(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	xml := daemontest.WriteFile(t, "ct.xml", daemontest.DomainXML("e2e-ct", root, 48, "/bin/sh"))

	if r := daemontest.Run("virsh", "-c", d.URI(), "define", xml); r.Code != 0 || !strings.Contains(r.Stdout, "Domain 'e2e-ct' defined") {
		t.Fatalf("define: %v", r)
	}
	if out := d.MustVirsh(t, "list", "--all"); !regexp.MustCompile(`-\s+e2e-ct\s+shut off`).MatchString(out) {
		t.Errorf("list --all: %q", out)
	}
	// Defining the same name with another UUID is refused as libvirt does.
	dup := strings.Replace(daemontest.DomainXML("e2e-ct", root, 48, "/bin/sh"), "<name>", "<uuid>0b8fd9b2-1b0b-4d43-8f3c-1d2a9f1f9c11</uuid><name>", 1)
	r := d.Virsh("define", daemontest.WriteFile(t, "dup.xml", dup))
	if r.Code == 0 || !strings.Contains(r.Stderr, "operation failed: domain 'e2e-ct' already exists with uuid") {
		t.Errorf("duplicate define: %v", r)
	}
	// Bad XML reports where.
	r = d.Virsh("define", daemontest.WriteFile(t, "bad.xml", "<domain type='lxc'>\n<name>x</nam"))
	if r.Code == 0 || !strings.Contains(r.Stderr, "error:") || !strings.Contains(r.Stderr, ":2") {
		t.Errorf("bad XML: %v", r)
	}
	r = d.Virsh("destroy", "e2e-ct")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Requested operation is not valid: domain is not running") {
		t.Errorf("destroy of a stopped domain: %v", r)
	}
	r = d.Virsh("dominfo", "nosuchdomain")
	if r.Code == 0 || !strings.Contains(r.Stderr, "failed to get domain 'nosuchdomain'") {
		t.Errorf("unknown domain: %v", r)
	}

	d.MustVirsh(t, "start", "e2e-ct")
	id := domID(t, d, "e2e-ct")
	if out := d.MustVirsh(t, "list"); !regexp.MustCompile(fmt.Sprintf(`%d\s+e2e-ct\s+running`, id)).MatchString(out) {
		t.Errorf("list: %q", out)
	}
	info := d.MustVirsh(t, "dominfo", "e2e-ct")
	for _, re := range []string{`State:\s+running`, `Max memory:\s+49152 KiB`, `Used memory:\s+\d+ KiB`, `CPU time:\s+[\d.]+s`, `Persistent:\s+yes`} {
		if !regexp.MustCompile(re).MatchString(info) {
			t.Errorf("dominfo lacks %s:\n%s", re, info)
		}
	}
	if s := strings.TrimSpace(d.MustVirsh(t, "domstate", "--reason", "e2e-ct")); s != "running (booted)" {
		t.Errorf("domstate --reason = %q", s)
	}
	uuid := strings.TrimSpace(d.MustVirsh(t, "domuuid", "e2e-ct"))
	if n := strings.TrimSpace(d.MustVirsh(t, "domname", uuid)); n != "e2e-ct" {
		t.Errorf("domname %s = %q", uuid, n)
	}
	if n := strings.TrimSpace(d.MustVirsh(t, "domname", strconv.Itoa(id))); n != "e2e-ct" {
		t.Errorf("domname %d = %q", id, n)
	}
	live := d.MustVirsh(t, "dumpxml", "e2e-ct")
	if !strings.Contains(live, fmt.Sprintf("id='%d'", id)) || !strings.Contains(live, "<console type='pty' tty='/dev/pts/") {
		t.Errorf("live XML:\n%s", live)
	}
	inactive := d.MustVirsh(t, "dumpxml", "--inactive", "e2e-ct")
	if strings.Contains(inactive, "id=") || strings.Contains(inactive, "tty=") {
		t.Errorf("inactive XML has live parts:\n%s", inactive)
	}

	// The cgroup carries the memory limit of the XML.
	limit := readCgroupMemLimit(t, id, "e2e-ct")
	if limit != 48<<20 {
		t.Errorf("cgroup memory limit = %d, want %d", limit, 48<<20)
	}

	// Inside: PID 1 is the init, the hostname is the domain name.
	l := dialGoLibvirt(t, d.RW)
	out := consoleRun(t, l, "e2e-ct", `echo "pid=$$ host=$(hostname) end"`, "end\r\n")
	if !strings.Contains(out, "pid=1 host=e2e-ct end") {
		t.Errorf("inside the container: %q", out)
	}
	// A second attach works too.
	out = consoleRun(t, l, "e2e-ct", "echo again-$((40+2))", "again-42")
	if !strings.Contains(out, "again-42") {
		t.Errorf("second console attach: %q", out)
	}

	start := time.Now()
	d.MustVirsh(t, "destroy", "e2e-ct")
	t.Logf("virsh destroy took %v", time.Since(start))
	if s := strings.TrimSpace(d.MustVirsh(t, "domstate", "e2e-ct")); s != "shut off" {
		t.Errorf("after destroy: %q", s)
	}
	if _, err := os.Stat(cgroupMemDir(id, "e2e-ct")); !os.IsNotExist(err) {
		t.Errorf("cgroup left after destroy: %v", err)
	}
	d.MustVirsh(t, "undefine", "e2e-ct")
	if out := d.MustVirsh(t, "list", "--all", "--name"); strings.Contains(out, "e2e-ct") {
		t.Errorf("still listed after undefine: %q", out)
	}
}

func cgroupMemDir(id int, name string) string {
	return fmt.Sprintf("/sys/fs/cgroup/memory/machine/lxc-%d-%s.libvirt-lxc", id, name)
}

func readCgroupMemLimit(t *testing.T, id int, name string) int64 {
	t.Helper()
	candidates := []string{
		filepath.Join(cgroupMemDir(id, name), "memory.limit_in_bytes"),
		fmt.Sprintf("/sys/fs/cgroup/machine/lxc-%d-%s.libvirt-lxc/memory.max", id, name),
	}
	for _, p := range candidates {
		b, err := os.ReadFile(p)
		if err == nil {
			v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			return v
		}
	}
	t.Fatalf("no memory cgroup found for domain %d", id)
	return 0
}

func TestShutdownRebootTransientAndAutostart(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	// An init that powers off on SIGTERM and reboots on SIGHUP, as real
	// inits do. (An init without handlers never sees either: the kernel
	// drops them for a namespace's PID 1, and libvirt behaves the same.)
	xml := daemontest.WriteFile(t, "ct.xml", daemontest.DomainXML("e2e-sd", root, 32, "/bin/sh", "-c", "trap 'exit 0' TERM; trap 'reboot -f' HUP; while :; do sleep 0.1; done"))
	d.MustVirsh(t, "define", xml)
	d.MustVirsh(t, "start", "e2e-sd")
	waitTraps(t, d, "e2e-sd")
	d.MustVirsh(t, "shutdown", "e2e-sd")
	waitState(t, d, "e2e-sd", "shut off")

	// reboot: the init reboots, the domain comes back with a new
	// controller (a new id), as libvirt restarts it for on_reboot=restart.
	d.MustVirsh(t, "start", "e2e-sd")
	before := domID(t, d, "e2e-sd")
	waitTraps(t, d, "e2e-sd")
	d.MustVirsh(t, "reboot", "e2e-sd")
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := d.Virsh("domid", "e2e-sd")
		if id, err := strconv.Atoi(strings.TrimSpace(r.Stdout)); err == nil && id != before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("domain did not come back with a new id after reboot (was %d): %v", before, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitState(t, d, "e2e-sd", "running")
	d.MustVirsh(t, "destroy", "e2e-sd")

	// create: a transient domain that vanishes when stopped.
	txml := daemontest.WriteFile(t, "t.xml", daemontest.DomainXML("e2e-transient", root, 32, "/bin/sh"))
	if r := daemontest.Run("virsh", "-c", d.URI(), "create", txml); r.Code != 0 || !strings.Contains(r.Stdout, "Domain 'e2e-transient' created") {
		t.Fatalf("create: %v", r)
	}
	if out := d.MustVirsh(t, "dominfo", "e2e-transient"); !strings.Contains(out, "Persistent:     no") {
		t.Errorf("transient dominfo:\n%s", out)
	}
	d.MustVirsh(t, "destroy", "e2e-transient")
	if r := d.Virsh("dominfo", "e2e-transient"); r.Code == 0 {
		t.Errorf("transient domain still known after destroy")
	}

	// autostart: the link exists and the next daemon start on a fresh
	// boot (no autostart marker) starts the domain.
	d.MustVirsh(t, "autostart", "e2e-sd")
	link := filepath.Join(d.Prefix, "etc/libvirt/lxc/autostart/e2e-sd.xml")
	if _, err := os.Lstat(link); err != nil {
		t.Fatalf("autostart link: %v", err)
	}
	if out := d.MustVirsh(t, "dominfo", "e2e-sd"); !strings.Contains(out, "Autostart:      enable") {
		t.Errorf("dominfo autostart:\n%s", out)
	}
	d.Stop(t)
	os.Remove(filepath.Join(d.Prefix, "run/libvirt/lxc/autostarted"))
	d2 := daemontest.Start(t, daemontest.Options{Prefix: d.Prefix})
	waitState(t, d2, "e2e-sd", "running")
	d2.MustVirsh(t, "autostart", "--disable", "e2e-sd")
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Errorf("autostart link left after --disable: %v", err)
	}
	d2.MustVirsh(t, "destroy", "e2e-sd")
	d2.MustVirsh(t, "undefine", "e2e-sd")
}

// waitTraps waits until the init of a running domain (the controller's
// child) has handlers for the given signals (default SIGTERM and SIGHUP):
// the kernel drops those signals for a namespace's PID 1 until then.
func waitTraps(t *testing.T, d *daemontest.Daemon, name string, sigs ...syscall.Signal) {
	t.Helper()
	ctrl := domID(t, d, name)
	if len(sigs) == 0 {
		sigs = []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP}
	}
	var want uint64
	for _, s := range sigs {
		want |= 1 << (s - 1)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		// Any of the controller's threads may have forked the init.
		var kids []string
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", ctrl))
		for _, f := range tasks {
			b, _ := os.ReadFile(f)
			kids = append(kids, strings.Fields(string(b))...)
		}
		for _, k := range kids {
			st, _ := os.ReadFile("/proc/" + k + "/status")
			for _, line := range strings.Split(string(st), "\n") {
				if v, ok := strings.CutPrefix(line, "SigCgt:"); ok {
					if mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil && mask&want == want {
						return
					}
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("init of %s never set its signal handlers", name)
}

func waitState(t *testing.T, d *daemontest.Daemon, name, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		r := d.Virsh("domstate", name)
		got = strings.TrimSpace(r.Stdout)
		if got == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("domain %s: state %q, want %q", name, got, want)
}

func TestLifecycleEvents(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)

	// virsh event --all --loop as a user would run it.
	ctx, cancel := context.WithCancel(context.Background())
	ev := exec.CommandContext(ctx, "virsh", "-c", d.URI(), "event", "--all", "--loop")
	stdout, _ := ev.StdoutPipe()
	if err := ev.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); ev.Wait() }()
	lines := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()

	// go-libvirt as a second listener.
	l := dialGoLibvirt(t, d.RW)
	events, err := l.LifecycleEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Give virsh time to register its callbacks.
	time.Sleep(700 * time.Millisecond)

	xml := daemontest.WriteFile(t, "ct.xml", daemontest.DomainXML("e2e-ev", root, 32, "/bin/sh"))
	d.MustVirsh(t, "define", xml)
	d.MustVirsh(t, "start", "e2e-ev")
	d.MustVirsh(t, "destroy", "e2e-ev")
	d.MustVirsh(t, "undefine", "e2e-ev")

	want := []string{"Defined Added", "Started Booted", "Stopped Destroyed", "Undefined Removed"}
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < len(want) {
		select {
		case line := <-lines:
			if strings.Contains(line, "e2e-ev") && strings.Contains(line, "lifecycle") {
				got = append(got, line)
			}
		case <-timeout:
			t.Fatalf("virsh event: got %q, want %d events", got, len(want))
		}
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("virsh event %d: %q, want %q", i, got[i], w)
		}
	}
	wantGo := [][2]int32{{0, 0}, {2, 0}, {5, 1}, {1, 0}}
	for i, w := range wantGo {
		select {
		case e := <-events:
			if e.Dom.Name != "e2e-ev" || e.Event != w[0] || e.Detail != w[1] {
				t.Errorf("go-libvirt event %d: %+v, want event %d detail %d", i, e, w[0], w[1])
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("go-libvirt: event %d missing", i)
		}
	}
}

func TestGuestSurvivesDaemonCrash(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "a.xml", daemontest.DomainXML("e2e-keep", root, 32, "/bin/sh")))
	// This one's init exits on its own after a second.
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "b.xml", daemontest.DomainXML("e2e-exit", root, 32, "/bin/sh", "-c", "sleep 1")))
	d.MustVirsh(t, "start", "e2e-keep")
	d.MustVirsh(t, "start", "e2e-exit")
	id := domID(t, d, "e2e-keep")

	d.Kill9()
	time.Sleep(1500 * time.Millisecond) // e2e-exit's init ends meanwhile
	d2 := daemontest.Start(t, daemontest.Options{Prefix: d.Prefix})

	if got := domID(t, d2, "e2e-keep"); got != id {
		t.Errorf("id after restart = %d, want %d", got, id)
	}
	if s := strings.TrimSpace(d2.MustVirsh(t, "domstate", "--reason", "e2e-keep")); s != "running (unknown)" {
		t.Errorf("reattached state = %q", s)
	}
	waitState(t, d2, "e2e-exit", "shut off")
	// Still manageable: console and destroy.
	l := dialGoLibvirt(t, d2.RW)
	if out := consoleRun(t, l, "e2e-keep", "echo alive-$((6*7))", "alive-42"); !strings.Contains(out, "alive-42") {
		t.Errorf("console after restart: %q", out)
	}
	d2.MustVirsh(t, "destroy", "e2e-keep")
	waitState(t, d2, "e2e-keep", "shut off")

	// A graceful stop also leaves a guest running.
	d2.MustVirsh(t, "start", "e2e-keep")
	id = domID(t, d2, "e2e-keep")
	d2.Stop(t)
	if err := syscallKill0(id); err != nil {
		t.Errorf("controller %d gone after daemon stop: %v", id, err)
	}
	d3 := daemontest.Start(t, daemontest.Options{Prefix: d.Prefix})
	waitState(t, d3, "e2e-keep", "running")
	d3.MustVirsh(t, "destroy", "e2e-keep")
}

func syscallKill0(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(syscallSignal0)
}

func TestVirshConsole(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "c.xml", daemontest.DomainXML("e2e-con", root, 32, "/bin/sh")))
	d.MustVirsh(t, "start", "e2e-con")
	defer d.Virsh("destroy", "e2e-con")

	// virsh console needs a terminal: give it a pty.
	cmd := exec.Command("virsh", "-c", d.URI(), "console", "e2e-con")
	f, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var mu sync.Mutex
	var buf bytes.Buffer
	go io.Copy(&lockedBuf{mu: &mu, b: &buf}, f)
	read := func() string { mu.Lock(); defer mu.Unlock(); return buf.String() }
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(read(), "console-ok-99") && time.Now().Before(deadline) {
		f.Write([]byte("echo console-ok-$((98+1))\r"))
		time.Sleep(300 * time.Millisecond)
	}
	if !strings.Contains(read(), "Connected to domain 'e2e-con'") || !strings.Contains(read(), "console-ok-99") {
		t.Fatalf("virsh console output: %q", read())
	}
	// Ctrl-] detaches and virsh exits 0.
	f.Write([]byte{0x1d})
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("virsh console exit: %v", err)
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Errorf("virsh console did not exit on Ctrl-]")
	}
	// The guest is unaffected.
	if s := strings.TrimSpace(d.MustVirsh(t, "domstate", "e2e-con")); s != "running" {
		t.Errorf("state after detach: %q", s)
	}
}

type lockedBuf struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func TestReadOnlyCannotChangeDomains(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "r.xml", daemontest.DomainXML("e2e-ro", root, 32, "/bin/sh")))
	l := dialGoLibvirt(t, d.RO)
	dom, err := l.DomainLookupByName("e2e-ro")
	if err != nil {
		t.Fatalf("lookup on ro: %v", err)
	}
	checks := map[string]error{
		"virDomainCreate":         l.DomainCreate(dom),
		"virDomainUndefineFlags":  l.DomainUndefineFlags(dom, 0),
		"virDomainSetAutostart":   l.DomainSetAutostart(dom, 1),
		"virDomainSetMemoryFlags": l.DomainSetMemoryFlags(dom, 1024, 0),
	}
	for api, err := range checks {
		le, ok := err.(libvirt.Error)
		if !ok || le.Code != 29 || !strings.Contains(le.Message, "read only access prevents "+api) {
			t.Errorf("%s on ro: %v", api, err)
		}
	}
	_, err = l.DomainGetXMLDesc(dom, libvirt.DomainXMLSecure)
	if err == nil || !strings.Contains(err.Error(), "virDomainGetXMLDesc with secure flag") {
		t.Errorf("secure XML on ro: %v", err)
	}
	// Nothing changed.
	if s := strings.TrimSpace(d.MustVirsh(t, "domstate", "e2e-ro")); s != "shut off" {
		t.Errorf("state changed through ro: %q", s)
	}
	d.MustVirsh(t, "undefine", "e2e-ro")
}

func TestBridgeAndEthernetInterfaces(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	br := fmt.Sprintf("e2ebr%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "link", "add", br, "type", "bridge").CombinedOutput(); err != nil {
		t.Fatalf("create bridge: %v %s", err, out)
	}
	defer exec.Command("ip", "link", "del", br).Run()

	xml := strings.Replace(daemontest.DomainXML("e2e-net", root, 32, "/bin/sh"), "<console type='pty'/>", fmt.Sprintf(`
    <interface type='bridge'>
      <mac address='52:54:00:aa:bb:01'/>
      <source bridge='%s'/>
      <ip address='192.0.2.10' prefix='24'/>
    </interface>
    <interface type='ethernet'>
      <mac address='52:54:00:aa:bb:02'/>
      <guest dev='data0'/>
      <link state='down'/>
    </interface>
    <console type='pty'/>`, br), 1)
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "n.xml", xml))
	d.MustVirsh(t, "start", "e2e-net")
	defer d.Virsh("destroy", "e2e-net")

	list := d.MustVirsh(t, "domiflist", "e2e-net")
	m := regexp.MustCompile(`(vnet\d+)\s+bridge\s+` + br + `\s+-\s+52:54:00:aa:bb:01`).FindStringSubmatch(list)
	if m == nil || !regexp.MustCompile(`vnet\d+\s+ethernet\s+-\s+-\s+52:54:00:aa:bb:02`).MatchString(list) {
		t.Fatalf("domiflist:\n%s", list)
	}
	host := m[1]
	out0, _ := exec.Command("ip", "-o", "link", "show", host).Output()
	if !strings.Contains(string(out0), "master "+br) {
		t.Errorf("%s not on %s: %s", host, br, out0)
	}
	// "N: vnetX@..." — the index identifies this veth even if a parallel
	// test reuses the name after destroy.
	hostIndex, _, _ := strings.Cut(string(out0), ":")
	if s := strings.TrimSpace(d.MustVirsh(t, "domif-getlink", "e2e-net", "52:54:00:aa:bb:02")); !strings.Contains(s, "down") {
		t.Errorf("domif-getlink of the down interface: %q", s)
	}
	l := dialGoLibvirt(t, d.RW)
	out := consoleRun(t, l, "e2e-net", "ip -o link; ip -o addr; echo net-$((1+1))-done", "net-2-done")
	for _, want := range []string{"eth0", "52:54:00:aa:bb:01", "192.0.2.10/24", "data0", "52:54:00:aa:bb:02"} {
		if !strings.Contains(out, want) {
			t.Errorf("inside the guest: no %q in\n%s", want, out)
		}
	}
	d.MustVirsh(t, "destroy", "e2e-net")
	if out, err := exec.Command("ip", "-o", "link", "show", host).Output(); err == nil && strings.HasPrefix(string(out), hostIndex+":") {
		t.Errorf("veth %s left after destroy", host)
	}
}

func TestLxcEnterNamespace(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "e.xml", daemontest.DomainXML("e2e-enter", root, 32, "/bin/sh")))
	d.MustVirsh(t, "start", "e2e-enter")
	defer d.Virsh("destroy", "e2e-enter")
	// virsh receives the init's namespace descriptors (REPLY_WITH_FDS) and
	// runs the command inside them.
	out := d.MustVirsh(t, "lxc-enter-namespace", "e2e-enter", "--noseclabel", "/bin/sh", "-c", "hostname; cat /proc/1/cmdline; echo")
	if !strings.Contains(out, "e2e-enter") || !strings.Contains(out, "/bin/sh") {
		t.Errorf("lxc-enter-namespace output: %q", out)
	}
	// Read-only connections may not.
	r := daemontest.Run("virsh", "-c", d.ROURI(), "lxc-enter-namespace", "e2e-enter", "--noseclabel", "/bin/true")
	if r.Code == 0 {
		t.Errorf("lxc-enter-namespace through the ro socket succeeded")
	}
}

func TestAutodestroy(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "a.xml", daemontest.DomainXML("e2e-auto", root, 32, "/bin/sh")))
	// virsh start --autodestroy: the guest lives as long as virsh's connection.
	r := daemontest.Run("virsh", "-c", d.URI(), "start", "--autodestroy", "e2e-auto")
	if r.Code != 0 {
		t.Fatalf("start --autodestroy: %v", r)
	}
	waitState(t, d, "e2e-auto", "shut off")
	// Without the flag it keeps running after the client leaves.
	d.MustVirsh(t, "start", "e2e-auto")
	time.Sleep(300 * time.Millisecond)
	if s := strings.TrimSpace(d.MustVirsh(t, "domstate", "e2e-auto")); s != "running" {
		t.Errorf("plain start: %q", s)
	}
	d.MustVirsh(t, "destroy", "e2e-auto")
}

// destroy keeps libvirt's semantics (SIGTERM first, SIGKILL later) and is
// still fast: an init that handles SIGTERM runs its handler, one that
// cannot receive it is killed without waiting out a grace period.
func TestDestroySemantics(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	marker := filepath.Join(root, "tmp", "got-term")
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "trap.xml", daemontest.DomainXML("e2e-trap", root, 32, "/bin/sh", "-c", "trap 'echo bye > /tmp/got-term; exit 0' TERM; while :; do sleep 0.1; done")))
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "deaf.xml", daemontest.DomainXML("e2e-deaf", root, 32, "/bin/sh", "-c", "while :; do sleep 0.1; done")))

	d.MustVirsh(t, "start", "e2e-trap")
	waitTraps(t, d, "e2e-trap", syscall.SIGTERM)
	start := time.Now()
	d.MustVirsh(t, "destroy", "e2e-trap")
	trapTook := time.Since(start)
	if b, err := os.ReadFile(marker); err != nil || strings.TrimSpace(string(b)) != "bye" {
		t.Errorf("the init's SIGTERM handler did not run before the kill: %q %v", b, err)
	}

	d.MustVirsh(t, "start", "e2e-deaf")
	start = time.Now()
	d.MustVirsh(t, "destroy", "e2e-deaf")
	deafTook := time.Since(start)
	t.Logf("virsh destroy: %v with a SIGTERM handler, %v without", trapTook, deafTook)
	if deafTook > time.Second {
		t.Errorf("destroy of an init without a SIGTERM handler took %v (waited out the grace period)", deafTook)
	}
	waitState(t, d, "e2e-deaf", "shut off")
}

// SIGHUP re-reads the persistent definitions, as libvirt's reload does: a
// file an admin (or a config management tool) dropped into the config
// directory becomes a domain, with a DEFINED event.
func TestSighupLoadsNewDefinitions(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	xml := daemontest.DomainXML("e2e-hup", root, 32, "/bin/sh")
	path := filepath.Join(d.Prefix, "etc/libvirt/lxc/e2e-hup.xml")
	if err := os.WriteFile(path, []byte(xml), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := d.Virsh("dominfo", "e2e-hup"); r.Code == 0 {
		t.Fatalf("domain known before SIGHUP")
	}
	d.Cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for d.Virsh("dominfo", "e2e-hup").Code != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("definition not loaded after SIGHUP\n%s", d.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The sockets and the other clients survived the reload.
	d.MustVirsh(t, "start", "e2e-hup")
	d.MustVirsh(t, "destroy", "e2e-hup")
	d.MustVirsh(t, "undefine", "e2e-hup")
}
