package compat

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/virtlxcd/virtlxcd/internal/daemontest"
)

// Debian's libvirt 9.0 (libvirt-daemon + libvirt-daemon-driver-lxc, see
// bench/install-deps.sh).
const (
	libvirtdBin   = "/usr/sbin/libvirtd"
	libvirtLXC    = "/usr/lib/libvirt/libvirt_lxc"
	lxcDriverGlob = "/usr/lib/*/libvirt/connection-driver/libvirt_driver_lxc.so"
)

// libvirtdScript runs as the first process of a private mount namespace:
// without the cgroup2 mount libvirt 9.0 uses the v1 controllers only (with
// it, starts fail on this hybrid host: container-runtime notes §6), and the
// tmpfs mounts keep every file libvirtd writes off the host.
const libvirtdScript = `
if grep -q ' /sys/fs/cgroup/unified ' /proc/self/mounts; then umount /sys/fs/cgroup/unified; fi
for d in /run /var/lib /var/cache /var/log; do mount -t tmpfs -o mode=0755 tmpfs "$d"; done
mount --bind "$1/etc" /etc/libvirt
exec ` + libvirtdBin + ` -f "$1/libvirtd.conf" -p "$1/libvirtd.pid"
`

// side is one daemon of the comparison.
type side struct {
	name   string
	rw, ro string
	logs   func() string
}

func startLibvirtd(t *testing.T) *side {
	t.Helper()
	drivers, _ := filepath.Glob(lxcDriverGlob)
	for _, f := range []string{libvirtdBin, libvirtLXC, "/etc/libvirt"} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("Debian's libvirtd is not installed (%v); run bench/install-deps.sh", err)
		}
	}
	if len(drivers) == 0 {
		t.Skip("libvirt's LXC driver module is missing; run bench/install-deps.sh")
	}
	dir, err := os.MkdirTemp("", "virtlxcd-compat-libvirtd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, sub := range []string{"etc/lxc/autostart", "sock", "drivers"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Only the LXC driver, as in libvirt's own virtlxcd.
	if err := os.Symlink(drivers[0], filepath.Join(dir, "drivers", filepath.Base(drivers[0]))); err != nil {
		t.Fatal(err)
	}
	sockDir := filepath.Join(dir, "sock")
	logFile := filepath.Join(dir, "libvirtd.log")
	conf := fmt.Sprintf("unix_sock_dir = %q\nauth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\nlog_outputs = \"3:file:%s\"\n",
		sockDir, logFile)
	if err := os.WriteFile(filepath.Join(dir, "libvirtd.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-ec", libvirtdScript, "sh", dir)
	cmd.Env = append(os.Environ(), "LIBVIRT_DRIVER_DIR="+filepath.Join(dir, "drivers"))
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start libvirtd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s := &side{name: "libvirtd",
		rw: filepath.Join(sockDir, "libvirt-sock"), ro: filepath.Join(sockDir, "libvirt-sock-ro"),
		logs: func() string {
			data, _ := os.ReadFile(logFile)
			return out.String() + string(data)
		}}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("libvirtd did not stop on SIGTERM")
		}
	})
	if err := daemontest.WaitSocket(s.rw, 30*time.Second, done); err != nil {
		t.Fatalf("libvirtd: %v\n%s", err, s.logs())
	}
	// The socket answers before the drivers are loaded.
	for i := 0; i < 100; i++ {
		if r := s.virsh(modeRW, "version"); r.Code == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

func startVirtlxcd(t *testing.T) *side {
	t.Helper()
	d := daemontest.Start(t, daemontest.Options{})
	return &side{name: "virtlxcd", rw: d.RW, ro: d.RO, logs: d.Output}
}
