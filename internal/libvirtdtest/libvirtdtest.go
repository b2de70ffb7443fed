// Package libvirtdtest runs Debian's libvirtd 9.0 beside our daemon for
// side-by-side measurements (bench) and comparisons (compat), in a private
// mount namespace so that nothing it writes reaches the host.
package libvirtdtest

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
	Bin           = "/usr/sbin/libvirtd"
	LXCController = "/usr/lib/libvirt/libvirt_lxc"
	lxcDriverGlob = "/usr/lib/*/libvirt/connection-driver/libvirt_driver_lxc.so"
)

// script runs as the first process of a private mount namespace. Without
// the cgroup2 mount libvirt 9.0 uses the v1 controllers only; with it, it
// fails to start containers on this hybrid host (container-runtime notes
// §6). The tmpfs mounts keep every file libvirtd and its controllers write
// (state, logs, caches, domain XML) off the host.
const script = `
if grep -q ' /sys/fs/cgroup/unified ' /proc/self/mounts; then umount /sys/fs/cgroup/unified; fi
for d in /run /var/lib /var/cache /var/log; do mount -t tmpfs -o mode=0755 tmpfs "$d"; done
mount --bind "$1/etc" /etc/libvirt
exec ` + Bin + ` -f "$1/libvirtd.conf" -p "$1/libvirtd.pid"
`

// Daemon is a running libvirtd.
type Daemon struct {
	Dir    string // its private tree (config, sockets, log)
	RW, RO string // socket paths
	PID    int    // libvirtd itself (unshare and sh exec)
	Done   <-chan struct{}
	out    *bytes.Buffer
	log    string
}

// Logs returns what libvirtd printed and logged so far.
func (d *Daemon) Logs() string {
	data, _ := os.ReadFile(d.log)
	return d.out.String() + string(data)
}

// Start runs libvirtd with only the LXC driver loaded (as libvirt's own
// virtlxcd) and waits for its socket; it is stopped at tb's cleanup. It
// skips tb when libvirtd is not installed.
func Start(tb testing.TB, tmpPrefix string) *Daemon {
	tb.Helper()
	drivers, _ := filepath.Glob(lxcDriverGlob)
	for _, f := range []string{Bin, LXCController, "/etc/libvirt"} {
		if _, err := os.Stat(f); err != nil {
			tb.Skipf("Debian's libvirtd is not installed (%v); run bench/install-deps.sh", err)
		}
	}
	if len(drivers) == 0 {
		tb.Skip("libvirt's LXC driver module is missing; run bench/install-deps.sh")
	}
	dir, err := os.MkdirTemp("", tmpPrefix)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	for _, sub := range []string{"etc/lxc/autostart", "sock", "drivers"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.Symlink(drivers[0], filepath.Join(dir, "drivers", filepath.Base(drivers[0]))); err != nil {
		tb.Fatal(err)
	}
	sockDir := filepath.Join(dir, "sock")
	d := &Daemon{Dir: dir, RW: filepath.Join(sockDir, "libvirt-sock"), RO: filepath.Join(sockDir, "libvirt-sock-ro"),
		out: &bytes.Buffer{}, log: filepath.Join(dir, "libvirtd.log")}
	conf := fmt.Sprintf("unix_sock_dir = %q\nauth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\nlog_outputs = \"3:file:%s\"\n",
		sockDir, d.log)
	if err := os.WriteFile(filepath.Join(dir, "libvirtd.conf"), []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-ec", script, "sh", dir)
	cmd.Env = append(os.Environ(), "LIBVIRT_DRIVER_DIR="+filepath.Join(dir, "drivers"))
	cmd.Stdout, cmd.Stderr = d.out, d.out
	// A test binary killed outright takes its libvirtd along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start libvirtd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	d.PID, d.Done = cmd.Process.Pid, done
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			tb.Errorf("libvirtd did not stop on SIGTERM")
		}
	})
	if err := daemontest.WaitSocket(d.RW, 30*time.Second, done); err != nil {
		tb.Fatalf("libvirtd: %v\n%s", err, d.Logs())
	}
	return d
}
