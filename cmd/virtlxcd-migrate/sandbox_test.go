package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"

	"github.com/virtlxcd/virtlxcd/migrate/plan"
	"github.com/virtlxcd/virtlxcd/migrate/sandbox"
	"github.com/virtlxcd/virtlxcd/migrate/systemd"
)

// guestsUnit is shaped like Debian's libvirt-guests.service of libvirt 9.0,
// with a stand-in for the guest script.
const guestsUnit = `[Unit]
Description=Suspend/Resume Running libvirt Guests
Requires=virt-guest-shutdown.target
After=network.target
After=time-sync.target
After=libvirtd.socket
After=virtqemud.socket
After=virtlxcd.socket
After=virtvboxd.socket
After=virt-guest-shutdown.target
Documentation=man:libvirt-guests(8)

[Service]
EnvironmentFile=-/etc/default/libvirt-guests
ExecStart=/bin/true
ExecStop=/bin/true
Type=oneshot
RemainAfterExit=yes
TimeoutStopSec=0

[Install]
WantedBy=multi-user.target
`

// adminGuests is an administrator's copy: comments, a word list and a
// continuation line, all to be kept byte for byte.
const adminGuests = `# site copy, edited by hand
[Unit]
Description=Suspend/Resume Running libvirt Guests (site)
Requires=virt-guest-shutdown.target
; our NFS guests need the mounts too
After=network.target virtlxcd.socket remote-fs.target
After=virt-guest-shutdown.target \
	virtlxcd-ro.socket

[Service]
ExecStart=/bin/true
ExecStop=/bin/true
Type=oneshot
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`

// monolithicSocket stands in for libvirt's libvirtd.socket.
const monolithicSocket = `[Unit]
Description=libvirt legacy monolithic daemon socket
[Socket]
ListenStream=/run/libvirt/libvirtd-sock
`

// monolithicService stands in for libvirt's libvirtd.service.
const monolithicService = `[Unit]
Description=libvirt legacy monolithic daemon (stand-in)
[Service]
ExecStart=/bin/sleep infinity
`

const daemonPkg = "github.com/virtlxcd/virtlxcd/cmd/virtlxcd"

type harness struct {
	t        *testing.T
	ctx      context.Context
	sb       *sandbox.Sandbox
	conn     *sd.Conn
	migrate  string
	virshURI string
}

func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	if pkg == daemonPkg {
		if _, err := os.Stat(filepath.Join("..", "virtlxcd", "main.go")); err != nil {
			t.Skip("cmd/virtlxcd is not in this tree: the daemon cannot be built")
		}
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

func readUnits(t *testing.T) map[string]string {
	units := map[string]string{
		"libvirt-guests.service":     guestsUnit,
		"virt-guest-shutdown.target": "[Unit]\nDescription=Libvirt guests shutdown\n",
		"libvirtd.socket":            monolithicSocket,
		"libvirtd.service":           monolithicService,
	}
	for _, n := range append([]string{plan.Service}, plan.Sockets...) {
		b, err := os.ReadFile(filepath.Join("..", "..", "units", n))
		if err != nil {
			t.Fatal(err)
		}
		units[n] = string(b)
	}
	return units
}

// run runs virtlxcd-migrate against the sandbox's systemd from the host.
func (h *harness) run(args ...string) (string, int) {
	h.t.Helper()
	a := append([]string{"--bus", h.sb.BusAddress(), "--root", h.sb.Path("/")}, args...)
	cmd := exec.CommandContext(h.ctx, h.migrate, a...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatal(err)
	}
	h.t.Logf("virtlxcd-migrate %s → %d\n%s", strings.Join(args, " "), code, out.String())
	return out.String(), code
}

func (h *harness) mustRun(want int, args ...string) string {
	h.t.Helper()
	out, code := h.run(args...)
	if code != want {
		h.t.Fatalf("virtlxcd-migrate %v: exit %d, want %d\n%s\n%s", args, code, want, out, h.sb.Log())
	}
	return out
}

func (h *harness) props(unit string) map[string]any {
	h.t.Helper()
	p, err := h.conn.GetUnitPropertiesContext(h.ctx, unit)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func (h *harness) str(unit, key string) string {
	s, _ := h.props(unit)[key].(string)
	return s
}

func (h *harness) strs(unit, key string) []string {
	s, _ := h.props(unit)[key].([]string)
	return s
}

func (h *harness) mainPID(unit string) uint32 {
	h.t.Helper()
	p, err := h.conn.GetServicePropertyContext(h.ctx, unit, "MainPID")
	if err != nil {
		h.t.Fatal(err)
	}
	pid, _ := p.Value.Value().(uint32)
	return pid
}

// expect checks units' states read back over D-Bus.
func (h *harness) expect(unit, key string, want ...string) {
	h.t.Helper()
	got := h.str(unit, key)
	// A unit on its way (a socket-activated daemon answers its first
	// client before systemd has its READY=1) is given time to arrive.
	for deadline := time.Now().Add(10 * time.Second); key == "ActiveState" && !slices.Contains(want, got) &&
		(got == "activating" || got == "deactivating" || got == "reloading") && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		got = h.str(unit, key)
	}
	if !slices.Contains(want, got) {
		h.t.Fatalf("%s %s = %q, want one of %q", unit, key, got, want)
	}
}

// virsh proves the daemon answers on its read-write socket.
func (h *harness) virsh() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "virsh", "-c", h.virshURI, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Running hypervisor") {
		h.t.Fatalf("virsh version: %v\n%s\n%s", err, out, h.sb.Log())
	}
}

func (h *harness) reload() {
	h.t.Helper()
	if err := h.conn.ReloadContext(h.ctx); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) fileExists(p string) bool {
	_, err := os.Lstat(h.sb.Path(p))
	return err == nil
}

// TestAgainstRealSystemd drives virtlxcd-migrate, built from this tree,
// against Debian's systemd booted in a sandbox with virtlxcd's units, a
// libvirt-guests.service and the real daemon: both directions, --dry-run,
// idempotence, an administrator's libvirt-guests copy and the refusal when
// libvirtd's socket runs. Every result is read back over systemd's D-Bus.
func TestAgainstRealSystemd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("virsh"); err != nil {
		t.Skip("virsh (libvirt-clients) not installed")
	}
	snap, err := sandbox.SnapshotHost()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin := t.TempDir()
	migrate := build(t, bin, "github.com/virtlxcd/virtlxcd/cmd/virtlxcd-migrate")
	daemon := build(t, bin, daemonPkg)

	sb, err := sandbox.Start(ctx, sandbox.Options{
		Units: readUnits(t),
		Files: []sandbox.File{
			{Path: "/usr/sbin/virtlxcd", HostPath: daemon, Mode: 0o755},
			// An administrator's environment file keeps a timeout of its
			// own: traditional mode must defeat it, and keep the rest.
			{Path: "/etc/default/virtlxcd", Content: []byte("VIRTLXCD_ARGS=\"--timeout 300 --verbose\"\n")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	pidNS := sb.PIDNamespace()
	defer func() {
		if err := sb.Close(); err != nil {
			t.Error(err)
		}
		if err := sb.CheckGone(pidNS); err != nil {
			t.Error(err)
		}
		if err := snap.Compare(); err != nil {
			t.Error(err)
		}
	}()
	conn, err := systemd.Dial(ctx, sb.BusAddress())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h := &harness{t: t, ctx: ctx, sb: sb, conn: conn, migrate: migrate,
		virshURI: "lxc+unix:///system?socket=" + sb.Path("/run/libvirt/virtlxcd-sock")}

	// Freshly installed, nothing enabled: neither mode.
	out := h.mustRun(plan.ExitInconsistent, "--status")
	if !strings.Contains(out, "mode: mixed") {
		t.Fatalf("status of a fresh install:\n%s", out)
	}

	// Socket activation, the package default.
	h.mustRun(0, "--socket-activation")
	for _, s := range plan.Sockets {
		h.expect(s, "ActiveState", "active")
		h.expect(s, "UnitFileState", "enabled")
	}
	h.expect(plan.Service, "UnitFileState", "enabled")
	h.virsh() // the daemon is started by its socket
	h.expect(plan.Service, "ActiveState", "active")
	if !slices.Contains(h.strs(plan.Guests, "After"), "virtlxcd.socket") {
		t.Fatalf("libvirt-guests After = %v", h.strs(plan.Guests, "After"))
	}
	out = h.mustRun(0, "--status")
	if !strings.Contains(out, "mode: socket-activation") || !strings.Contains(out, "right for this mode") {
		t.Fatalf("status:\n%s", out)
	}

	// --dry-run shows the plan and the diff and changes nothing.
	pid := h.mainPID(plan.Service)
	out = h.mustRun(0, "--traditional", "--dry-run")
	for _, want := range []string{"mask virtlxcd.socket virtlxcd-ro.socket virtlxcd-admin.socket",
		"+After=virtlxcd.service", "--timeout 0", "nothing was changed"} {
		if !strings.Contains(out, want) {
			t.Fatalf("dry run lacks %q:\n%s", want, out)
		}
	}
	if h.fileExists(plan.GuestsOverride) || h.fileExists(plan.TimeoutDropIn) || h.fileExists("/etc/systemd/system/virtlxcd.socket") {
		t.Fatal("--dry-run changed files")
	}
	h.expect("virtlxcd.socket", "ActiveState", "active")
	if h.mainPID(plan.Service) != pid {
		t.Fatal("--dry-run restarted the daemon")
	}

	// Traditional mode.
	h.mustRun(0, "--traditional")
	for _, s := range plan.Sockets {
		h.expect(s, "LoadState", "masked")
		h.expect(s, "ActiveState", "inactive")
	}
	h.expect(plan.Service, "ActiveState", "active")
	h.expect(plan.Service, "UnitFileState", "enabled")
	after := h.strs(plan.Guests, "After")
	if !slices.Contains(after, plan.Service) || slices.Contains(after, "virtlxcd.socket") {
		t.Fatalf("libvirt-guests After = %v", after)
	}
	h.expect(plan.Guests, "FragmentPath", plan.GuestsOverride)
	pid = h.mainPID(plan.Service)
	cmdline, _ := os.ReadFile(sb.Path("/proc/" + strconv.Itoa(int(pid)) + "/cmdline"))
	if want := "/usr/sbin/virtlxcd\x00--timeout\x00300\x00--verbose\x00--timeout\x000\x00"; string(cmdline) != want {
		t.Fatalf("daemon command line %q, want %q", cmdline, want)
	}
	h.virsh() // on the sockets the daemon made itself
	if !strings.Contains(h.mustRun(0, "--status"), "mode: traditional") {
		t.Fatal("status does not say traditional")
	}
	logText, _ := os.ReadFile(sb.Path(plan.LogFile))
	if !strings.Contains(string(logText), "mask virtlxcd.socket") {
		t.Fatalf("log %s lacks the steps:\n%s", plan.LogFile, logText)
	}

	// Idempotent: nothing to do, the daemon is not restarted.
	if out := h.mustRun(0, "--traditional"); !strings.Contains(out, "nothing to do") {
		t.Fatalf("second --traditional:\n%s", out)
	}
	if h.mainPID(plan.Service) != pid {
		t.Fatal("second --traditional restarted the daemon")
	}

	// And back.
	h.mustRun(0, "--socket-activation")
	for _, s := range plan.Sockets {
		h.expect(s, "LoadState", "loaded")
		h.expect(s, "ActiveState", "active")
		h.expect(s, "UnitFileState", "enabled")
	}
	h.expect(plan.Service, "UnitFileState", "enabled")
	if h.fileExists(plan.GuestsOverride) || h.fileExists(plan.TimeoutDropIn) {
		t.Fatal("our files were not removed")
	}
	h.expect(plan.Guests, "FragmentPath", "/usr/lib/systemd/system/libvirt-guests.service", "/lib/systemd/system/libvirt-guests.service")
	if !slices.Contains(h.strs(plan.Guests, "After"), "virtlxcd.socket") {
		t.Fatalf("libvirt-guests After = %v", h.strs(plan.Guests, "After"))
	}
	h.virsh()
	pid = h.mainPID(plan.Service)
	cmdline, _ = os.ReadFile(sb.Path("/proc/" + strconv.Itoa(int(pid)) + "/cmdline"))
	if want := "/usr/sbin/virtlxcd\x00--timeout\x00300\x00--verbose\x00"; string(cmdline) != want {
		t.Fatalf("socket-activated daemon command line %q, want %q", cmdline, want)
	}
	if out := h.mustRun(0, "--socket-activation"); !strings.Contains(out, "nothing to do") {
		t.Fatalf("second --socket-activation:\n%s", out)
	}

	// An administrator's copy of libvirt-guests is edited in place and
	// backed up, both ways, and never removed.
	if err := os.WriteFile(sb.Path(plan.GuestsOverride), []byte(adminGuests), 0o644); err != nil {
		t.Fatal(err)
	}
	h.reload()
	h.mustRun(0, "--traditional")
	got, _ := os.ReadFile(sb.Path(plan.GuestsOverride))
	want := strings.Replace(strings.Replace(adminGuests,
		"After=network.target virtlxcd.socket remote-fs.target", "After=network.target virtlxcd.service remote-fs.target", 1),
		"\tvirtlxcd-ro.socket\n", "\tvirtlxcd.service\n", 1)
	if string(got) != want {
		t.Fatalf("admin copy after --traditional:\n%s\nwant:\n%s", got, want)
	}
	after = h.strs(plan.Guests, "After")
	if !slices.Contains(after, plan.Service) || slices.Contains(after, "virtlxcd.socket") || slices.Contains(after, "virtlxcd-ro.socket") {
		t.Fatalf("libvirt-guests After = %v", after)
	}
	backups, _ := filepath.Glob(sb.Path(filepath.Join(plan.BackupDir, "etc_systemd_system_libvirt-guests.service.*")))
	if len(backups) != 1 {
		t.Fatalf("backups: %v", backups)
	}
	if b, _ := os.ReadFile(backups[0]); string(b) != adminGuests {
		t.Fatalf("backup holds %q", b)
	}
	h.mustRun(0, "--socket-activation")
	got, _ = os.ReadFile(sb.Path(plan.GuestsOverride))
	want = strings.Replace(strings.Replace(adminGuests,
		"After=network.target virtlxcd.socket remote-fs.target", "After=network.target virtlxcd.socket remote-fs.target", 1),
		"\tvirtlxcd-ro.socket\n", "\tvirtlxcd.socket\n", 1)
	if string(got) != want {
		t.Fatalf("admin copy after --socket-activation:\n%s\nwant:\n%s", got, want)
	}
	h.mustRun(0, "--status")

	// The monolithic libvirtd holding its socket: refused, nothing changed.
	ch := make(chan string, 1)
	if _, err := conn.StartUnitContext(ctx, "libvirtd.socket", "replace", ch); err != nil {
		t.Fatalf("start libvirtd.socket: %v", err)
	}
	if r := <-ch; r != "done" {
		out, _ := sb.Command(ctx, "systemctl", "status", "libvirtd.socket").CombinedOutput()
		t.Fatalf("start libvirtd.socket: %s\n%s", r, out)
	}
	out, _ = h.run("--traditional")
	if _, code := h.run("--traditional"); code != plan.ExitConflict || !strings.Contains(out, "libvirtd.socket is active") {
		t.Fatalf("with libvirtd.socket active: exit %d\n%s", code, out)
	}
	if h.fileExists(plan.TimeoutDropIn) {
		t.Fatal("a refused run changed files")
	}
}

// libvirtShapedService is libvirt 9.x's virtlxcd.service in shape: bound
// to its main socket, so a masked socket keeps it from starting.
const libvirtShapedService = `[Unit]
Description=libvirt LXC daemon (libvirt-shaped)
BindsTo=virtlxcd.socket
Wants=virtlxcd-ro.socket
Wants=virtlxcd-admin.socket
After=virtlxcd.socket
After=virtlxcd-ro.socket
After=virtlxcd-admin.socket
Conflicts=libvirtd.service

[Service]
Type=notify
Environment=VIRTLXCD_ARGS="--timeout 120"
EnvironmentFile=-/etc/sysconfig/virtlxcd
ExecStart=/usr/sbin/virtlxcd $VIRTLXCD_ARGS
KillMode=process

[Install]
WantedBy=multi-user.target
Also=virtlxcd.socket
Also=virtlxcd-ro.socket
Also=virtlxcd-admin.socket
`

// TestBindsToTrapRealSystemd shows with Debian's systemd that traditional
// mode on libvirt's style of unit needs the unbound copy: the service runs
// with its sockets masked, and the copy goes again in socket mode.
func TestBindsToTrapRealSystemd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	snap, err := sandbox.SnapshotHost()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := t.TempDir()
	migrate := build(t, bin, "github.com/virtlxcd/virtlxcd/cmd/virtlxcd-migrate")
	daemon := build(t, bin, daemonPkg)
	units := readUnits(t)
	units[plan.Service] = libvirtShapedService
	sb, err := sandbox.Start(ctx, sandbox.Options{
		Units: units,
		Files: []sandbox.File{{Path: "/usr/sbin/virtlxcd", HostPath: daemon, Mode: 0o755}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pidNS := sb.PIDNamespace()
	defer func() {
		if err := sb.Close(); err != nil {
			t.Error(err)
		}
		if err := sb.CheckGone(pidNS); err != nil {
			t.Error(err)
		}
		if err := snap.Compare(); err != nil {
			t.Error(err)
		}
	}()
	conn, err := systemd.Dial(ctx, sb.BusAddress())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h := &harness{t: t, ctx: ctx, sb: sb, conn: conn, migrate: migrate,
		virshURI: "lxc+unix:///system?socket=" + sb.Path("/run/libvirt/virtlxcd-sock")}

	h.mustRun(0, "--socket-activation")
	h.virsh()
	out := h.mustRun(0, "--traditional")
	if !strings.Contains(out, "binds to or requires virtlxcd.socket") {
		t.Fatalf("the trap is not reported:\n%s", out)
	}
	h.expect(plan.Service, "ActiveState", "active")
	h.expect(plan.Service, "FragmentPath", plan.ServiceOverride)
	if b := h.strs(plan.Service, "BindsTo"); len(b) != 0 {
		t.Fatalf("service still BindsTo=%v", b)
	}
	for _, s := range plan.Sockets {
		h.expect(s, "LoadState", "masked")
	}
	h.virsh()
	h.mustRun(0, "--status")

	h.mustRun(0, "--socket-activation")
	if h.fileExists(plan.ServiceOverride) {
		t.Fatal("service copy left behind")
	}
	if b := h.strs(plan.Service, "BindsTo"); !slices.Contains(b, "virtlxcd.socket") {
		t.Fatalf("vendor unit not back: BindsTo=%v", b)
	}
	h.virsh()
	h.mustRun(0, "--status")
}

// TestFailingStepStopsRun: when the daemon cannot start, the restart job
// fails, the run stops there with exit status 1 and says which step failed;
// the steps before it stay done and --status shows the state.
func TestFailingStepStopsRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	migrate := build(t, t.TempDir(), "github.com/virtlxcd/virtlxcd/cmd/virtlxcd-migrate")
	snap, err := sandbox.SnapshotHost()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Options{
		Units: readUnits(t),
		// A daemon that dies at once: its start job cannot succeed.
		Files: []sandbox.File{{Path: "/usr/sbin/virtlxcd", Content: []byte("#!/bin/sh\nexit 1\n"), Mode: 0o755}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pidNS := sb.PIDNamespace()
	defer func() {
		if err := sb.Close(); err != nil {
			t.Error(err)
		}
		if err := sb.CheckGone(pidNS); err != nil {
			t.Error(err)
		}
		if err := snap.Compare(); err != nil {
			t.Error(err)
		}
	}()
	conn, err := systemd.Dial(ctx, sb.BusAddress())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h := &harness{t: t, ctx: ctx, sb: sb, conn: conn, migrate: migrate}
	out := h.mustRun(plan.ExitFailed, "--traditional")
	if !strings.Contains(out, "FAILED: step") || !strings.Contains(out, "restart virtlxcd.service") || !strings.Contains(out, "job failed") {
		t.Fatalf("failure not reported:\n%s", out)
	}
	// The steps before the failure were done.
	for _, s := range plan.Sockets {
		h.expect(s, "LoadState", "masked")
	}
	h.expect(plan.Service, "ActiveState", "failed", "activating") // Restart=on-failure retries
	if out := h.mustRun(plan.ExitInconsistent, "--status"); !strings.Contains(out, "in traditional mode it should be running") {
		t.Fatalf("status does not show the failed service:\n%s", out)
	}
}
