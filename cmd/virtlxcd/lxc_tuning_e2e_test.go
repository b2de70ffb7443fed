package main_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/virtlxcd/virtlxcd/internal/daemontest"
	"github.com/virtlxcd/virtlxcd/pkg/lxc"
	"github.com/virtlxcd/virtlxcd/pkg/remote"
)

// The LXC driver offers every call of the remote program's Tuner.
var _ remote.Tuner = (*lxc.Driver)(nil)

// counterInit is an init that bumps a number in /counter twenty times a
// second, so that the host sees whether the guest runs.
// It appends, so that a freeze between truncation and write cannot leave
// the file empty.
var counterInit = []string{"-c", "i=0; while :; do i=$((i+1)); echo $i >> /counter; sleep 0.05; done"}

// readCounter reads the guest's counter from the host side of its root.
func readCounter(t *testing.T, root string) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		b, err := os.ReadFile(filepath.Join(root, "counter"))
		lines := strings.Fields(string(b))
		if err == nil && len(lines) > 0 {
			if n, err := strconv.Atoi(lines[len(lines)-1]); err == nil {
				return n
			}
		}
		time.Sleep(20 * time.Millisecond) // mid-write, or not started yet
	}
	t.Fatalf("no counter in %s", root)
	return 0
}

// advancing reports whether the counter moves within 400 ms.
func advancing(t *testing.T, root string) bool {
	t.Helper()
	a := readCounter(t, root)
	time.Sleep(400 * time.Millisecond)
	return readCounter(t, root) != a
}

// virshEvents runs "virsh event --all --loop" and returns its lines.
func virshEvents(t *testing.T, d *daemontest.Daemon) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ev := exec.CommandContext(ctx, "virsh", "-c", d.URI(), "event", "--all", "--loop")
	stdout, _ := ev.StdoutPipe()
	if err := ev.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); ev.Wait() })
	lines := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	time.Sleep(700 * time.Millisecond) // let virsh register
	return lines
}

// waitLine waits for an event line containing every one of want.
func waitLine(t *testing.T, lines <-chan string, want ...string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l := <-lines:
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(l, w)
			}
			if ok {
				return
			}
		case <-timeout:
			t.Fatalf("no event line with %q", want)
		}
	}
}

func wantFail(t *testing.T, r daemontest.Result, msg string) {
	t.Helper()
	if r.Code == 0 || !strings.Contains(r.Stderr, msg) {
		t.Errorf("want failure %q, got %v", msg, r)
	}
}

func TestSuspendResume(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	name := "e2e-pause"
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "p.xml", daemontest.DomainXML(name, root, 32, "/bin/sh", counterInit...)))
	wantFail(t, d.Virsh("suspend", name), "Requested operation is not valid: domain is not running")
	lines := virshEvents(t, d)
	d.MustVirsh(t, "start", name)
	if !advancing(t, root) {
		t.Fatal("counter does not advance in a running guest")
	}
	id := domID(t, d, name)

	wantFail(t, d.VirshRO("suspend", name), "read only access prevents virDomainSuspend")
	start := time.Now()
	d.MustVirsh(t, "suspend", name)
	t.Logf("virsh suspend took %v", time.Since(start))
	waitLine(t, lines, name, "Suspended Paused")
	if s := strings.TrimSpace(d.MustVirsh(t, "domstate", "--reason", name)); s != "paused (user)" {
		t.Errorf("domstate after suspend = %q", s)
	}
	if advancing(t, root) {
		t.Error("counter advances in a paused guest")
	}
	if out := d.MustVirsh(t, "list", "--state-paused", "--name"); !strings.Contains(out, name) {
		t.Errorf("list --state-paused: %q", out)
	}
	if out := d.MustVirsh(t, "list", "--state-running", "--name"); strings.Contains(out, name) {
		t.Errorf("list --state-running lists the paused domain: %q", out)
	}
	if out := d.MustVirsh(t, "list"); !regexp.MustCompile(fmt.Sprintf(`%d\s+%s\s+paused`, id, name)).MatchString(out) {
		t.Errorf("list: %q", out)
	}
	// Suspending twice is not an error.
	d.MustVirsh(t, "suspend", name)

	wantFail(t, d.VirshRO("resume", name), "read only access prevents virDomainResume")
	d.MustVirsh(t, "resume", name)
	waitLine(t, lines, name, "Resumed Unpaused")
	if s := strings.TrimSpace(d.MustVirsh(t, "domstate", "--reason", name)); s != "running (unpaused)" {
		t.Errorf("domstate after resume = %q", s)
	}
	if !advancing(t, root) {
		t.Error("counter does not advance after resume")
	}
	wantFail(t, d.Virsh("resume", name), "Requested operation is not valid: domain is already running")

	// A paused guest stays paused across a daemon restart.
	d.MustVirsh(t, "suspend", name)
	d.Stop(t)
	d2 := daemontest.Start(t, daemontest.Options{Prefix: d.Prefix})
	if s := strings.TrimSpace(d2.MustVirsh(t, "domstate", "--reason", name)); s != "paused (user)" {
		t.Errorf("domstate after daemon restart = %q", s)
	}
	if advancing(t, root) {
		t.Error("counter advances after daemon restart of a paused guest")
	}
	d2.MustVirsh(t, "resume", name)
	if !advancing(t, root) {
		t.Error("counter does not advance after resume by the new daemon")
	}

	// Destroying a paused guest works and leaves nothing behind.
	d2.MustVirsh(t, "suspend", name)
	start = time.Now()
	d2.MustVirsh(t, "destroy", name)
	t.Logf("virsh destroy of a paused guest took %v", time.Since(start))
	if s := strings.TrimSpace(d2.MustVirsh(t, "domstate", "--reason", name)); s != "shut off (destroyed)" {
		t.Errorf("after destroy: %q", s)
	}
	if _, err := os.Stat(fmt.Sprintf("/sys/fs/cgroup/freezer/machine/lxc-%d-%s.libvirt-lxc", id, name)); !os.IsNotExist(err) {
		t.Errorf("freezer cgroup left after destroy: %v", err)
	}
	d2.MustVirsh(t, "undefine", name)
}

// cgroupValue reads a v1 cgroup file of a running domain.
func cgroupValue(t *testing.T, subsys string, id int, name, file string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/sys/fs/cgroup/%s/machine/lxc-%d-%s.libvirt-lxc/%s", subsys, id, name, file))
	if err != nil {
		t.Skipf("no v1 %s hierarchy: %v", subsys, err)
	}
	return strings.TrimSpace(string(b))
}

func TestMemtuneSchedinfoSetmaxmem(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	name := "e2e-tune"
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "t.xml", daemontest.DomainXML(name, root, 64, "/bin/sh")))

	// setmaxmem: only the persistent definition of an inactive domain.
	d.MustVirsh(t, "setmaxmem", name, "131072")
	if out := d.MustVirsh(t, "dominfo", name); !regexp.MustCompile(`Max memory:\s+131072 KiB`).MatchString(out) {
		t.Errorf("dominfo after setmaxmem:\n%s", out)
	}
	wantFail(t, d.VirshRO("setmaxmem", name, "65536"), "read only access prevents")
	d.MustVirsh(t, "start", name)
	id := domID(t, d, name)
	wantFail(t, d.Virsh("setmaxmem", name, "65536"), "Requested operation is not valid: Cannot resize the max memory on an active domain")
	d.MustVirsh(t, "setmaxmem", name, "98304", "--config")
	if out := d.MustVirsh(t, "dumpxml", "--inactive", name); !strings.Contains(out, "<memory unit='KiB'>98304</memory>") {
		t.Errorf("inactive XML after setmaxmem --config:\n%s", out)
	}

	// memtune, live: the cgroup follows.
	d.MustVirsh(t, "memtune", name, "--hard-limit", "50000")
	if v := cgroupValue(t, "memory", id, name, "memory.limit_in_bytes"); v != strconv.Itoa(50000*1024) {
		t.Errorf("memory.limit_in_bytes = %s", v)
	}
	d.MustVirsh(t, "memtune", name, "--soft-limit", "20000", "--swap-hard-limit", "80000")
	if v := cgroupValue(t, "memory", id, name, "memory.soft_limit_in_bytes"); v != strconv.Itoa(20000*1024) {
		t.Errorf("memory.soft_limit_in_bytes = %s", v)
	}
	if v := cgroupValue(t, "memory", id, name, "memory.memsw.limit_in_bytes"); v != strconv.Itoa(80000*1024) {
		t.Errorf("memory.memsw.limit_in_bytes = %s", v)
	}
	out := d.MustVirsh(t, "memtune", name)
	for _, re := range []string{`hard_limit\s+: 50000`, `soft_limit\s+: 20000`, `swap_hard_limit: 80000`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("memtune lacks %s:\n%s", re, out)
		}
	}
	if live := d.MustVirsh(t, "dumpxml", name); !strings.Contains(live, "<hard_limit unit='KiB'>50000</hard_limit>") {
		t.Errorf("live XML lacks the hard limit:\n%s", live)
	}
	wantFail(t, d.Virsh("memtune", name, "--hard-limit", "90000"),
		"invalid argument: memory hard_limit tunable value must be lower than or equal to swap_hard_limit")
	wantFail(t, d.VirshRO("memtune", name, "--hard-limit", "40000"), "read only access prevents virDomainSetMemoryParameters")
	// A shrinking hard limit goes before the swap limit.
	d.MustVirsh(t, "memtune", name, "--hard-limit", "30000", "--swap-hard-limit", "40000")
	if v := cgroupValue(t, "memory", id, name, "memory.memsw.limit_in_bytes"); v != strconv.Itoa(40000*1024) {
		t.Errorf("memory.memsw.limit_in_bytes = %s", v)
	}
	// Unlimited again.
	d.MustVirsh(t, "memtune", name, "--swap-hard-limit", "-1")
	if out := d.MustVirsh(t, "memtune", name); !regexp.MustCompile(`swap_hard_limit: unlimited`).MatchString(out) {
		t.Errorf("memtune after unlimited swap:\n%s", out)
	}
	// --config changes the definition only.
	d.MustVirsh(t, "memtune", name, "--config", "--hard-limit", "70000")
	if out := d.MustVirsh(t, "dumpxml", "--inactive", name); !strings.Contains(out, "<hard_limit unit='KiB'>70000</hard_limit>") {
		t.Errorf("inactive XML after memtune --config:\n%s", out)
	}
	if v := cgroupValue(t, "memory", id, name, "memory.limit_in_bytes"); v != strconv.Itoa(30000*1024) {
		t.Errorf("memtune --config changed the cgroup: %s", v)
	}

	// schedinfo.
	d.MustVirsh(t, "schedinfo", name, "--set", "cpu_shares=512")
	if v := cgroupValue(t, "cpu", id, name, "cpu.shares"); v != "512" {
		t.Errorf("cpu.shares = %s", v)
	}
	d.MustVirsh(t, "schedinfo", name, "--set", "vcpu_period=200000", "--set", "vcpu_quota=50000")
	if v := cgroupValue(t, "cpu", id, name, "cpu.cfs_period_us"); v != "200000" {
		t.Errorf("cpu.cfs_period_us = %s", v)
	}
	if v := cgroupValue(t, "cpu", id, name, "cpu.cfs_quota_us"); v != "50000" {
		t.Errorf("cpu.cfs_quota_us = %s", v)
	}
	out = d.MustVirsh(t, "schedinfo", name)
	for _, re := range []string{`Scheduler\s+: posix`, `cpu_shares\s+: 512`, `vcpu_period\s+: 200000`, `vcpu_quota\s+: 50000`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("schedinfo lacks %s:\n%s", re, out)
		}
	}
	// A running domain reports what its cgroup holds.
	if err := os.WriteFile(fmt.Sprintf("/sys/fs/cgroup/cpu/machine/lxc-%d-%s.libvirt-lxc/cpu.shares", id, name), []byte("700"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := d.MustVirsh(t, "schedinfo", name); !regexp.MustCompile(`cpu_shares\s+: 700`).MatchString(out) {
		t.Errorf("schedinfo does not read the cgroup:\n%s", out)
	}
	d.MustVirsh(t, "schedinfo", name, "--set", "cpu_shares=512")
	wantFail(t, d.Virsh("schedinfo", name, "--set", "vcpu_period=10"), "invalid argument: cfs_period '10' must be in range (1000, 1000000)")
	wantFail(t, d.Virsh("schedinfo", name, "--set", "vcpu_quota=5"), "invalid argument: cfs_quota '5' must be in range (1000, 17592186044415)")
	wantFail(t, d.VirshRO("schedinfo", name, "--set", "cpu_shares=100"), "read only access prevents")
	d.MustVirsh(t, "schedinfo", name, "--config", "--set", "cpu_shares=300")
	if out := d.MustVirsh(t, "dumpxml", "--inactive", name); !strings.Contains(out, "<shares>300</shares>") {
		t.Errorf("inactive XML after schedinfo --config:\n%s", out)
	}
	if v := cgroupValue(t, "cpu", id, name, "cpu.shares"); v != "512" {
		t.Errorf("schedinfo --config changed the cgroup: %s", v)
	}
	// The next start applies the persistent tunables.
	d.MustVirsh(t, "destroy", name)
	d.MustVirsh(t, "start", name)
	id = domID(t, d, name)
	if v := cgroupValue(t, "cpu", id, name, "cpu.shares"); v != "300" {
		t.Errorf("cpu.shares after restart = %s", v)
	}
	if v := cgroupValue(t, "memory", id, name, "memory.limit_in_bytes"); v != strconv.Itoa(70000*1024) {
		t.Errorf("memory.limit_in_bytes after restart = %s", v)
	}
	d.MustVirsh(t, "destroy", name)
	d.MustVirsh(t, "undefine", name)
}

func TestMetadataAndProcessSignal(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	name := "e2e-meta"
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "m.xml", daemontest.DomainXML(name, root, 32, "/bin/sh",
		"-c", "trap 'echo usr1 > /got-signal' USR1; while :; do sleep 0.05; done")))
	lines := virshEvents(t, d)

	// Inactive: title and description go to the persistent definition.
	d.MustVirsh(t, "desc", name, "--title", "First title")
	if s := strings.TrimSpace(d.MustVirsh(t, "desc", name, "--title")); s != "First title" {
		t.Errorf("title = %q", s)
	}
	waitLine(t, lines, name, "metadata-change", "title")
	d.MustVirsh(t, "desc", name, "A longer\ndescription")
	if s := strings.TrimSpace(d.MustVirsh(t, "desc", name)); s != "A longer\ndescription" {
		t.Errorf("description = %q", s)
	}
	if out := d.MustVirsh(t, "list", "--all", "--title"); !strings.Contains(out, "First title") {
		t.Errorf("list --title:\n%s", out)
	}
	wantFail(t, d.VirshRO("desc", name, "--title", "x"), "read only access prevents virDomainSetMetadata")

	// Running: live by default, --config for the next start.
	d.MustVirsh(t, "start", name)
	d.MustVirsh(t, "desc", name, "--title", "Live title")
	d.MustVirsh(t, "desc", name, "--config", "--title", "Config title")
	if s := strings.TrimSpace(d.MustVirsh(t, "desc", name, "--title")); s != "Live title" {
		t.Errorf("live title = %q", s)
	}
	if s := strings.TrimSpace(d.MustVirsh(t, "desc", name, "--title", "--config")); s != "Config title" {
		t.Errorf("config title = %q", s)
	}
	cfg, _ := os.ReadFile(filepath.Join(d.Prefix, "etc/libvirt/lxc", name+".xml"))
	if !strings.Contains(string(cfg), "<title>Config title</title>") {
		t.Errorf("config file lacks the title:\n%s", cfg)
	}

	// A custom element in its own namespace.
	const ns = "http://example.org/virtlxcd-test/1"
	d.MustVirsh(t, "metadata", name, ns, "--key", "ex", "--set", "<app><tier>web</tier></app>")
	waitLine(t, lines, name, "metadata-change", ns)
	got := d.MustVirsh(t, "metadata", name, ns)
	if compact := strings.Join(strings.Fields(got), ""); compact != "<app><tier>web</tier></app>" {
		t.Errorf("metadata = %q", got)
	}
	if live := d.MustVirsh(t, "dumpxml", name); !regexp.MustCompile(`<ex:app xmlns:ex="` + regexp.QuoteMeta(ns) + `">\s*<ex:tier>web</ex:tier>`).MatchString(live) {
		t.Errorf("live XML lacks the element:\n%s", live)
	}
	// Setting again replaces it.
	d.MustVirsh(t, "metadata", name, ns, "--key", "ex", "--set", "<app><tier>db</tier></app>")
	if got := d.MustVirsh(t, "metadata", name, ns); strings.Count(d.MustVirsh(t, "dumpxml", name), ns) != 1 || !strings.Contains(got, "db") {
		t.Errorf("after replacing: %q", got)
	}
	d.MustVirsh(t, "metadata", name, ns, "--remove")
	wantFail(t, d.Virsh("metadata", name, ns), "metadata not found: Requested metadata element is not present")
	wantFail(t, d.Virsh("metadata", name, ns, "--key", "ex", "--set", "<unclosed>"), "error")

	// send-process-signal reaches the init only. Until the init's shell
	// has set its trap the kernel drops the signal (a namespace's init
	// without a handler), so it is sent until it lands.
	deadline := time.Now().Add(5 * time.Second)
	for {
		d.MustVirsh(t, "send-process-signal", name, "1", "SIGUSR1")
		time.Sleep(100 * time.Millisecond)
		if b, err := os.ReadFile(filepath.Join(root, "got-signal")); err == nil && strings.TrimSpace(string(b)) == "usr1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the init did not get SIGUSR1")
		}
	}
	wantFail(t, d.Virsh("send-process-signal", name, "2", "SIGUSR1"), "argument unsupported: Only the init process may be killed")
	wantFail(t, d.VirshRO("send-process-signal", name, "1", "SIGUSR1"), "read only access prevents virDomainSendProcessSignal")
	d.MustVirsh(t, "send-process-signal", name, "1", "SIGKILL")
	waitState(t, d, name, "shut off")
	wantFail(t, d.Virsh("send-process-signal", name, "1", "SIGUSR1"), "domain is not running")
	d.MustVirsh(t, "undefine", name)
}

// blockDevice returns a block device of the host for throttling tests.
func blockDevice(t *testing.T) (path string, majMin string) {
	t.Helper()
	for _, name := range []string{"vda", "sda", "nvme0n1", "xvda", "loop0"} {
		b, err := os.ReadFile("/sys/block/" + name + "/dev")
		if err != nil {
			continue
		}
		if st, err := os.Stat("/dev/" + name); err == nil && st.Mode()&os.ModeDevice != 0 {
			return "/dev/" + name, strings.TrimSpace(string(b))
		}
	}
	t.Skip("no block device to throttle")
	return "", ""
}

func TestBlkiotune(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	name := "e2e-blkio"
	dev, majMin := blockDevice(t)
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "b.xml", daemontest.DomainXML(name, root, 32, "/bin/sh")))

	// Inactive: the definition.
	d.MustVirsh(t, "blkiotune", name, "--weight", "300", "--device-read-iops-sec", dev+",100")
	out := d.MustVirsh(t, "blkiotune", name)
	for _, re := range []string{`weight\s+: 300`, `device_read_iops_sec: ` + regexp.QuoteMeta(dev) + `,100`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("blkiotune lacks %s:\n%s", re, out)
		}
	}
	cfg := d.MustVirsh(t, "dumpxml", "--inactive", name)
	if !strings.Contains(cfg, "<weight>300</weight>") || !strings.Contains(cfg, "<read_iops_sec>100</read_iops_sec>") {
		t.Errorf("inactive XML after blkiotune:\n%s", cfg)
	}
	wantFail(t, d.Virsh("blkiotune", name, "--device-write-bytes-sec", dev), "unable to parse blkio device 'device_write_bytes_sec'")
	wantFail(t, d.VirshRO("blkiotune", name, "--weight", "200"), "read only access prevents virDomainSetBlkioParameters")

	// The definition applies at start; without bfq the weight cannot be
	// honoured and the start fails, as under libvirtd.
	hasBFQ := false
	if b, err := os.ReadFile("/sys/block/" + filepath.Base(dev) + "/queue/scheduler"); err == nil {
		hasBFQ = strings.Contains(string(b), "bfq")
	}
	if !hasBFQ {
		wantFail(t, d.Virsh("start", name), "blkio device weight is valid only for bfq or cfq scheduler")
		d.MustVirsh(t, "blkiotune", name, "--weight", "0")
		if x := d.MustVirsh(t, "dumpxml", "--inactive", name); strings.Contains(x, "<weight>") {
			t.Errorf("weight 0 left in the definition:\n%s", x)
		}
	}
	d.MustVirsh(t, "start", name)
	id := domID(t, d, name)
	if v := cgroupValue(t, "blkio", id, name, "blkio.throttle.read_iops_device"); v != majMin+" 100" {
		t.Errorf("blkio.throttle.read_iops_device from the definition = %q", v)
	}
	// Live: throttles reach the cgroup.
	d.MustVirsh(t, "blkiotune", name, "--live", "--device-write-bytes-sec", dev+",1048576")
	if v := cgroupValue(t, "blkio", id, name, "blkio.throttle.write_bps_device"); v != majMin+" 1048576" {
		t.Errorf("blkio.throttle.write_bps_device = %q", v)
	}
	if live := d.MustVirsh(t, "dumpxml", name); !strings.Contains(live, "<write_bytes_sec>1048576</write_bytes_sec>") {
		t.Errorf("live XML lacks the throttle:\n%s", live)
	}
	// Zero removes the throttle.
	d.MustVirsh(t, "blkiotune", name, "--live", "--device-write-bytes-sec", dev+",0")
	if v := cgroupValue(t, "blkio", id, name, "blkio.throttle.write_bps_device"); v != "" {
		t.Errorf("blkio.throttle.write_bps_device after 0 = %q", v)
	}
	wantFail(t, d.Virsh("blkiotune", name, "--live", "--device-read-iops-sec", "/dev/null,10"), "Path '/dev/null' must be a block device")
	// The proportional weight needs the bfq scheduler; without it the
	// error is libvirt's.
	r := d.Virsh("blkiotune", name, "--live", "--weight", "500")
	if _, err := os.Stat(fmt.Sprintf("/sys/fs/cgroup/blkio/machine/lxc-%d-%s.libvirt-lxc/blkio.bfq.weight", id, name)); err != nil {
		wantFail(t, r, "blkio device weight is valid only for bfq or cfq scheduler")
	} else if r.Code != 0 {
		t.Errorf("blkiotune --weight with bfq: %v", r)
	}
	d.MustVirsh(t, "destroy", name)
	d.MustVirsh(t, "undefine", name)
}

func TestAttachDetachUpdateDevice(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	name := "e2e-dev"
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "d.xml", daemontest.DomainXML(name, root, 32, "/bin/sh")))
	inactive := func() string { return d.MustVirsh(t, "dumpxml", "--inactive", name) }
	const mac = "52:54:00:aa:bb:01"
	nic := daemontest.WriteFile(t, "nic.xml", `<interface type='bridge'><source bridge='e2edevbr0'/><mac address='`+mac+`'/></interface>`)
	anon := daemontest.WriteFile(t, "anon.xml", `<interface type='bridge'><source bridge='e2edevbr1'/></interface>`)

	d.MustVirsh(t, "attach-device", name, nic, "--config")
	if x := inactive(); !strings.Contains(x, "<mac address='"+mac+"'/>") || !strings.Contains(x, "<source bridge='e2edevbr0'/>") {
		t.Errorf("inactive XML after attach:\n%s", x)
	}
	// Without a MAC one is made up, as at define.
	d.MustVirsh(t, "attach-device", name, anon, "--config")
	if n := strings.Count(inactive(), "<mac address="); n != 2 {
		t.Errorf("%d interfaces after the second attach", n)
	}
	// Two interfaces: a document without MAC matches both.
	wantFail(t, d.Virsh("detach-device", name, anon, "--config"), "operation failed: multiple matching devices found")

	upd := daemontest.WriteFile(t, "upd.xml", `<interface type='bridge'><source bridge='e2edevbr9'/><mac address='`+strings.ToUpper(mac)+`'/></interface>`)
	d.MustVirsh(t, "update-device", name, upd, "--config")
	if x := inactive(); !strings.Contains(x, "<source bridge='e2edevbr9'/>") || strings.Contains(x, "e2edevbr0") {
		t.Errorf("inactive XML after update:\n%s", x)
	}
	d.MustVirsh(t, "detach-device", name, nic, "--config")
	if x := inactive(); strings.Contains(x, mac) || strings.Count(x, "<interface") != 1 {
		t.Errorf("inactive XML after detach:\n%s", x)
	}
	wantFail(t, d.Virsh("detach-device", name, nic, "--config"),
		"device not found: no device found at address '(<null>)' matching MAC address '"+mac+"' and alias '(<null>)'")
	// One left: the document without MAC finds it.
	d.MustVirsh(t, "detach-device", name, anon, "--config")
	if x := inactive(); strings.Contains(x, "<interface") {
		t.Errorf("interface left:\n%s", x)
	}

	fs := daemontest.WriteFile(t, "fs.xml", `<filesystem type='mount'><source dir='/tmp'/><target dir='/mnt'/></filesystem>`)
	wantFail(t, d.Virsh("attach-device", name, fs, "--config"), "unsupported configuration: persistent attach of device is not supported")
	wantFail(t, d.Virsh("attach-device", name, daemontest.WriteFile(t, "foo.xml", "<foo/>"), "--config"), "unknown device type 'foo'")
	wantFail(t, d.VirshRO("attach-device", name, nic, "--config"), "read only access prevents virDomainAttachDeviceFlags")
	wantFail(t, d.Virsh("update-device", name, fs, "--config"), "unsupported configuration: persistent update of device is not supported")

	// Running: no hotplug, but the persistent definition can change.
	d.MustVirsh(t, "start", name)
	// This guest shares the host network: nothing to plug into.
	wantFail(t, d.Virsh("attach-device", name, nic), "Cannot attach an interface to a container that shares the host network")
	wantFail(t, d.Virsh("attach-device", name, fs), "unsupported configuration: device type 'filesystem' cannot be attached")
	wantFail(t, d.Virsh("update-device", name, upd, "--live"), "Operation not supported: Unable to modify live devices")
	d.MustVirsh(t, "attach-device", name, nic, "--config")
	if live := d.MustVirsh(t, "dumpxml", name); strings.Contains(live, mac) {
		t.Errorf("--config attach reached the live definition:\n%s", live)
	}
	if !strings.Contains(inactive(), mac) {
		t.Errorf("--config attach on a running domain lost")
	}
	d.MustVirsh(t, "destroy", name)
	d.MustVirsh(t, "undefine", name)
}

// TestTuningArgumentsGoLibvirt checks the argument rules that virsh
// cannot send: typed parameter names and types, flags, metadata
// arguments and signal numbers.
func TestTuningArgumentsGoLibvirt(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	name := "e2e-args"
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "a.xml", daemontest.DomainXML(name, root, 32, "/bin/sh")))
	l := dialGoLibvirt(t, d.RW)
	dom, err := l.DomainLookupByName(name)
	if err != nil {
		t.Fatal(err)
	}
	ull := func(f string, v uint64) libvirt.TypedParam {
		return libvirt.TypedParam{Field: f, Value: *libvirt.NewTypedParamValueUllong(v)}
	}
	str := func(f, v string) libvirt.TypedParam {
		return libvirt.TypedParam{Field: f, Value: *libvirt.NewTypedParamValueString(v)}
	}
	s := func(v string) libvirt.OptString { return libvirt.OptString{v} }
	checks := []struct {
		what string
		err  error
		code int32
		msg  string
	}{
		{"unknown memory parameter", l.DomainSetMemoryParameters(dom, []libvirt.TypedParam{ull("min_guarantee", 1)}, 0),
			74, "argument unsupported: parameter 'min_guarantee' not supported"},
		{"memory parameter of the wrong type", l.DomainSetMemoryParameters(dom, []libvirt.TypedParam{str("hard_limit", "1")}, 0),
			8, "invalid argument: invalid type 'string' for parameter 'hard_limit', expected 'ullong'"},
		{"memory parameter twice", l.DomainSetMemoryParameters(dom, []libvirt.TypedParam{ull("hard_limit", 1), ull("hard_limit", 2)}, 0),
			8, "invalid argument: parameter 'hard_limit' occurs multiple times"},
		{"memory flags", l.DomainSetMemoryParameters(dom, nil, 1<<5),
			8, "unsupported flags (0x20) in function lxcDomainSetMemoryParameters"},
		{"scheduler quota type", l.DomainSetSchedulerParametersFlags(dom, []libvirt.TypedParam{ull("vcpu_quota", 1)}, 0),
			8, "invalid argument: invalid type 'ullong' for parameter 'vcpu_quota', expected 'llong'"},
		{"scheduler live on a stopped domain", l.DomainSetSchedulerParametersFlags(dom, nil, uint32(libvirt.DomainAffectLive)),
			55, "Requested operation is not valid: domain is not running"},
		{"blkio weight type", l.DomainSetBlkioParameters(dom, []libvirt.TypedParam{ull("weight", 1)}, 0),
			8, "invalid argument: invalid type 'ullong' for parameter 'weight', expected 'uint'"},
		{"metadata title with uri", l.DomainSetMetadata(dom, 1, s("t"), nil, s("http://x/"), 0),
			8, "invalid argument: uri in virDomainSetMetadata must be NULL"},
		{"metadata element without uri", l.DomainSetMetadata(dom, 2, s("<a/>"), s("k"), nil, 0),
			8, "invalid argument: uri in virDomainSetMetadata must not be NULL"},
		{"metadata element without key", l.DomainSetMetadata(dom, 2, s("<a/>"), nil, s("http://x/"), 0),
			8, "invalid argument: key in virDomainSetMetadata must not be NULL"},
		{"metadata title with newline", l.DomainSetMetadata(dom, 1, s("a\nb"), nil, nil, 0),
			8, "invalid argument: metadata title can't contain newlines"},
		{"metadata type", l.DomainSetMetadata(dom, 7, s("x"), nil, nil, 0),
			8, "invalid argument: unknown metadata type '7'"},
		{"signal number", l.DomainSendProcessSignal(dom, 1, 65, 0),
			8, "invalid argument: signum value 65 is out of range"},
		{"signal pid zero", l.DomainSendProcessSignal(dom, 0, 15, 0),
			8, "invalid argument: pid_value in virDomainSendProcessSignal must not be zero"},
		{"signal to a stopped domain", l.DomainSendProcessSignal(dom, 1, 15, 0),
			55, "Requested operation is not valid: domain is not running"},
		{"resume of a stopped domain", l.DomainResume(dom),
			55, "Requested operation is not valid: domain is not running"},
	}
	_, err = l.DomainGetMetadata(dom, 1, nil, libvirt.DomainAffectLive|libvirt.DomainAffectConfig)
	checks = append(checks, struct {
		what string
		err  error
		code int32
		msg  string
	}{"metadata get with live and config", err, 8,
		"invalid argument: Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are mutually exclusive"})
	for _, c := range checks {
		var le libvirt.Error
		if !errors.As(c.err, &le) || int32(le.Code) != c.code || le.Message != c.msg {
			t.Errorf("%s: got %v, want code %d %q", c.what, c.err, c.code, c.msg)
		}
	}
	// Nothing of the above reached the definition.
	if x := d.MustVirsh(t, "dumpxml", "--inactive", name); strings.Contains(x, "<memtune>") || strings.Contains(x, "<title>") || strings.Contains(x, "<cputune>") {
		t.Errorf("refused calls changed the definition:\n%s", x)
	}
	d.MustVirsh(t, "undefine", name)
}

func TestInterfaceHotplug(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	name := "e2e-hotplug"
	br := fmt.Sprintf("e2ehp%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "link", "add", br, "type", "bridge").CombinedOutput(); err != nil {
		t.Fatalf("create bridge: %v %s", err, out)
	}
	defer exec.Command("ip", "link", "del", br).Run()
	// A network namespace of its own, with no interface at start.
	xml := strings.Replace(daemontest.DomainXML(name, root, 32, "/bin/sh"), "<devices>", "<features><privnet/></features>\n  <devices>", 1)
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "h.xml", xml))
	d.MustVirsh(t, "start", name)
	defer d.Virsh("destroy", name)

	const mac = "52:54:00:cc:dd:01"
	nic := daemontest.WriteFile(t, "nic.xml", fmt.Sprintf(`<interface type='bridge'><source bridge='%s'/><mac address='%s'/><ip address='192.0.2.77' prefix='24'/></interface>`, br, mac))
	d.MustVirsh(t, "attach-device", name, nic, "--live")
	list := d.MustVirsh(t, "domiflist", name)
	m := regexp.MustCompile(`(vnet\d+)\s+bridge\s+` + br + `\s+-\s+` + mac).FindStringSubmatch(list)
	if m == nil {
		t.Fatalf("domiflist after attach:\n%s", list)
	}
	host := m[1]
	if out, _ := exec.Command("ip", "-o", "link", "show", host).Output(); !strings.Contains(string(out), "master "+br) {
		t.Errorf("%s not on %s: %s", host, br, out)
	}
	l := dialGoLibvirt(t, d.RW)
	out := consoleRun(t, l, name, "ip -o link; ip -o addr; echo hp-$((2+2))-done", "hp-4-done")
	for _, want := range []string{"eth0", mac, "192.0.2.77/24"} {
		if !strings.Contains(out, want) {
			t.Errorf("inside the guest: no %q in\n%s", want, out)
		}
	}
	// Live only: the persistent definition has no interface.
	if x := d.MustVirsh(t, "dumpxml", "--inactive", name); strings.Contains(x, "<interface") {
		t.Errorf("--live attach reached the persistent definition:\n%s", x)
	}
	// A second one gets the next free names.
	nic2 := daemontest.WriteFile(t, "nic2.xml", fmt.Sprintf(`<interface type='bridge'><source bridge='%s'/></interface>`, br))
	d.MustVirsh(t, "attach-device", name, nic2, "--live")
	if live := d.MustVirsh(t, "dumpxml", name); !strings.Contains(live, "<alias name='net1'/>") || !strings.Contains(live, "<guest dev='eth1'/>") {
		t.Errorf("second interface's names:\n%s", live)
	}

	// Compare by index: a parallel test may take the freed name.
	before, _ := exec.Command("ip", "-o", "link", "show", host).Output()
	hostIndex, _, _ := strings.Cut(string(before), ":")
	d.MustVirsh(t, "detach-device", name, nic, "--live")
	if out, err := exec.Command("ip", "-o", "link", "show", host).Output(); err == nil && strings.HasPrefix(string(out), hostIndex+":") {
		t.Errorf("veth %s left after detach", host)
	}
	if list := d.MustVirsh(t, "domiflist", name); strings.Contains(list, mac) {
		t.Errorf("domiflist after detach:\n%s", list)
	}
	out = consoleRun(t, l, name, "ip -o link; echo hp2-$((2+3))-done", "hp2-5-done")
	if strings.Contains(out, mac) || !strings.Contains(out, "eth1") {
		t.Errorf("inside the guest after detach:\n%s", out)
	}
	wantFail(t, d.Virsh("detach-device", name, nic, "--live"), "device not found")
	m = regexp.MustCompile(`(vnet\d+)\s+bridge\s+` + br).FindStringSubmatch(d.MustVirsh(t, "domiflist", name))
	if m == nil {
		t.Fatalf("second interface missing from domiflist")
	}
	d.MustVirsh(t, "destroy", name)
	// The hotplugged veth dies with the container's namespace.
	deadline := time.Now().Add(5 * time.Second)
	for exec.Command("ip", "link", "show", m[1]).Run() == nil {
		if time.Now().After(deadline) {
			t.Errorf("hotplugged veth %s left after destroy", m[1])
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.MustVirsh(t, "undefine", name)
}
