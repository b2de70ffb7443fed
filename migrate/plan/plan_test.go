package plan

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtlxcd/virtlxcd/migrate/systemd"
)

const vendorDir = "/usr/lib/systemd/system"

// debianGuests is shaped like Debian's libvirt-guests.service (libvirt 9.0).
const debianGuests = `[Unit]
Description=Suspend/Resume Running libvirt Guests
Requires=virt-guest-shutdown.target
After=network.target
After=time-sync.target
After=libvirtd.socket
After=virtqemud.socket
After=virtlxcd.socket
After=virt-guest-shutdown.target
Documentation=man:libvirt-guests(8)

[Service]
EnvironmentFile=-/etc/default/libvirt-guests
ExecStart=/usr/lib/libvirt/libvirt-guests.sh start
ExecStop=/usr/lib/libvirt/libvirt-guests.sh stop
Type=oneshot
RemainAfterExit=yes
TimeoutStopSec=0

[Install]
WantedBy=multi-user.target
`

// libvirtService is shaped like libvirt 9.x's own virtlxcd.service: bound
// to its main socket.
const libvirtService = `[Unit]
Description=libvirt LXC daemon
BindsTo=virtlxcd.socket
Wants=virtlxcd-ro.socket
Wants=virtlxcd-admin.socket
After=virtlxcd.socket
After=virtlxcd-ro.socket
After=virtlxcd-admin.socket
Conflicts=libvirtd.service
After=libvirtd.service
After=network.target

[Service]
Type=notify
Environment=VIRTLXCD_ARGS="--timeout 120"
EnvironmentFile=-/etc/sysconfig/virtlxcd
ExecStart=/usr/sbin/virtlxcd $VIRTLXCD_ARGS
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
KillMode=process

[Install]
WantedBy=multi-user.target
Also=virtlxcd.socket
Also=virtlxcd-ro.socket
Also=virtlxcd-admin.socket
`

func writeFile(t *testing.T, root, p, text string) {
	t.Helper()
	h := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(h), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, root, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(root, p string) bool {
	_, err := os.Lstat(filepath.Join(root, p))
	return err == nil
}

// installRoot makes a file tree with the project's units (or the given
// service text) and libvirt-guests.
func installRoot(t *testing.T, service string) string {
	root := t.TempDir()
	for _, n := range append([]string{Service}, Sockets...) {
		b, err := os.ReadFile(filepath.Join("..", "..", "units", n))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if n == Service && service != "" {
			text = service
		}
		writeFile(t, root, filepath.Join(vendorDir, n), text)
	}
	writeFile(t, root, filepath.Join(vendorDir, Guests), debianGuests)
	return root
}

func apply(t *testing.T, e *Env, mode Mode) *Plan {
	t.Helper()
	p, err := Build(context.Background(), e, mode)
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	if err := p.Apply(context.Background(), func(s string) { log = append(log, s) }); err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(log, "\n"))
	}
	t.Logf("%s:\n%s", mode, strings.Join(log, "\n"))
	return p
}

// systemctlRoot asks the real systemctl what it makes of the tree: our
// offline links must mean to systemd what we say they mean.
func systemctlRoot(t *testing.T, root, unit string) string {
	t.Helper()
	out, _ := exec.Command("systemctl", "--root="+root, "is-enabled", unit).CombinedOutput()
	return strings.TrimSpace(string(out))
}

func requireSystemctl(t *testing.T) {
	if _, err := exec.LookPath("systemctl"); err != nil {
		t.Skip("systemctl not installed")
	}
}

// TestOfflineRoundTrip switches a file tree without a running systemd both
// ways, with a vendor and an administrator's drop-in for libvirt-guests,
// and has systemctl --root confirm the resulting enablement.
func TestOfflineRoundTrip(t *testing.T) {
	requireSystemctl(t)
	root := installRoot(t, "")
	vendorDropIn := filepath.Join(vendorDir, Guests+".d", "50-lxc.conf")
	writeFile(t, root, vendorDropIn, "[Unit]\nAfter=virtlxcd-admin.socket\n")
	adminDropIn := filepath.Join(systemd.AdminDir, Guests+".d", "local.conf")
	const adminText = "# local ordering\n[Unit]\nAfter=nfs.target virtlxcd.socket\n"
	writeFile(t, root, adminDropIn, adminText)
	e := &Env{Root: root, Units: &systemd.Offline{Root: root}}

	apply(t, e, SocketActivation)
	for _, u := range append([]string{Service}, Sockets...) {
		if got := systemctlRoot(t, root, u); got != "enabled" {
			t.Fatalf("systemctl is-enabled %s = %q", u, got)
		}
	}

	apply(t, e, Traditional)
	for _, u := range Sockets {
		if got := systemctlRoot(t, root, u); got != "masked" {
			t.Fatalf("after --traditional systemctl is-enabled %s = %q", u, got)
		}
	}
	if got := systemctlRoot(t, root, Service); got != "enabled" {
		t.Fatalf("systemctl is-enabled %s = %q", Service, got)
	}
	if got := readFile(t, root, GuestsOverride); got != strings.Replace(debianGuests, "After=virtlxcd.socket\n", "After=virtlxcd.service\n", 1) {
		t.Fatalf("libvirt-guests copy:\n%s", got)
	}
	etcVendorDropIn := filepath.Join(systemd.AdminDir, Guests+".d", "50-lxc.conf")
	if got := readFile(t, root, etcVendorDropIn); got != "[Unit]\nAfter=virtlxcd.service\n" {
		t.Fatalf("vendor drop-in override: %q", got)
	}
	if got := readFile(t, root, adminDropIn); got != "# local ordering\n[Unit]\nAfter=nfs.target virtlxcd.service\n" {
		t.Fatalf("admin drop-in: %q", got)
	}
	if !strings.Contains(readFile(t, root, TimeoutDropIn), "ExecStart=/usr/sbin/virtlxcd $VIRTLXCD_ARGS --timeout 0\n") {
		t.Fatal("timeout drop-in lacks the ExecStart override")
	}
	r, err := Status(context.Background(), e)
	if err != nil || !r.Consistent() || r.Mode != Traditional {
		t.Fatalf("status: %+v %v", r, err)
	}

	// Idempotent.
	p, err := Build(context.Background(), e, Traditional)
	if err != nil || len(p.Steps) != 0 {
		t.Fatalf("second plan: %v %+v", err, p)
	}

	apply(t, e, SocketActivation)
	for _, u := range append([]string{Service}, Sockets...) {
		if got := systemctlRoot(t, root, u); got != "enabled" {
			t.Fatalf("back: systemctl is-enabled %s = %q", u, got)
		}
	}
	for _, p := range []string{GuestsOverride, etcVendorDropIn, TimeoutDropIn} {
		if exists(root, p) {
			t.Errorf("%s left behind", p)
		}
	}
	if got := readFile(t, root, adminDropIn); got != adminText {
		t.Fatalf("admin drop-in not restored: %q", got)
	}
	backups, _ := os.ReadDir(filepath.Join(root, BackupDir))
	if len(backups) != 2 {
		t.Fatalf("backups of the admin drop-in: %v", backups)
	}
	r, err = Status(context.Background(), e)
	if err != nil || !r.Consistent() || r.Mode != SocketActivation {
		t.Fatalf("status: %+v %v", r, err)
	}
	if p, err := Build(context.Background(), e, SocketActivation); err != nil || len(p.Steps) != 0 {
		t.Fatalf("second plan: %v %+v", err, p)
	}
}

// TestBindsToTrap: libvirt's own service binds to its socket, so masking
// the socket would keep it from starting; traditional mode installs a copy
// without that dependency and socket mode removes it again.
func TestBindsToTrap(t *testing.T) {
	root := installRoot(t, libvirtService)
	e := &Env{Root: root, Units: &systemd.Offline{Root: root}}
	apply(t, e, SocketActivation)
	p := apply(t, e, Traditional)
	if !strings.Contains(strings.Join(p.Notes, "\n"), "binds to or requires virtlxcd.socket") {
		t.Fatalf("the trap is not reported: %q", p.Notes)
	}
	got := readFile(t, root, ServiceOverride)
	want := generatedHeader + strings.Replace(libvirtService, "BindsTo=virtlxcd.socket\n", "", 1)
	if got != want {
		t.Fatalf("service copy:\n%s\nwant:\n%s", got, want)
	}
	st, err := e.Units.State(context.Background(), Service)
	if err != nil || len(st.BindsTo) != 0 || st.FragmentPath != ServiceOverride {
		t.Fatalf("service state %+v %v", st, err)
	}
	if p, err := Build(context.Background(), e, Traditional); err != nil || len(p.Steps) != 0 {
		t.Fatalf("second plan: %v %+v", err, p)
	}
	apply(t, e, SocketActivation)
	if exists(root, ServiceOverride) {
		t.Fatal("service copy left behind")
	}
}

// TestRefusals: nothing changes when the units are missing or libvirtd
// is enabled.
func TestRefusals(t *testing.T) {
	empty := t.TempDir()
	_, err := Build(context.Background(), &Env{Root: empty, Units: &systemd.Offline{Root: empty}}, Traditional)
	var r *Refusal
	if !errors.As(err, &r) || r.Code != ExitNotInstalled {
		t.Fatalf("no units: %v", err)
	}

	root := installRoot(t, "")
	writeFile(t, root, filepath.Join(vendorDir, "libvirtd.socket"), "[Socket]\nListenStream=/run/libvirt/libvirtd-sock\n[Install]\nWantedBy=sockets.target\n")
	if err := os.MkdirAll(filepath.Join(root, systemd.AdminDir, "sockets.target.wants"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(vendorDir, "libvirtd.socket"), filepath.Join(root, systemd.AdminDir, "sockets.target.wants", "libvirtd.socket")); err != nil {
		t.Fatal(err)
	}
	_, err = Build(context.Background(), &Env{Root: root, Units: &systemd.Offline{Root: root}}, Traditional)
	if !errors.As(err, &r) || r.Code != ExitConflict || !strings.Contains(err.Error(), "libvirtd.socket is enabled") {
		t.Fatalf("libvirtd enabled: %v", err)
	}
	if exists(root, TimeoutDropIn) || exists(root, GuestsOverride) {
		t.Fatal("a refused plan changed files")
	}
}
