// Package daemontest runs the real virtlxcd binary for end-to-end tests:
// it builds the binary once per test process, starts daemons on private
// trees below a temp dir ($VIRTLXCD_PREFIX), and drives them with the
// real virsh and virt-admin.
package daemontest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// ModuleRoot is the repository root (where go.mod lives).
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// Binary builds cmd/virtlxcd once and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "virtlxcd-bin-")
		if err != nil {
			buildErr = err
			return
		}
		// Other users must reach the binary (the non-root test runs it).
		os.Chmod(dir, 0o755)
		binPath = filepath.Join(dir, "virtlxcd")
		args := []string{"build", "-o", binPath}
		env := append(os.Environ(), "CGO_ENABLED=0")
		// DAEMONTEST_RACE=1 runs the suites against a race-detecting
		// daemon (the detector needs cgo).
		if os.Getenv("DAEMONTEST_RACE") == "1" {
			args = append(args, "-race")
			env = append(os.Environ(), "CGO_ENABLED=1")
		}
		cmd := exec.Command("go", append(args, "./cmd/virtlxcd")...)
		cmd.Dir = root
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build virtlxcd: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// RemoveBinary deletes the binary Binary built; call it from TestMain
// after the tests ran.
func RemoveBinary() {
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
}

// RequireRoot skips a test that needs root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// Options configure a daemon.
type Options struct {
	// Prefix reuses a tree (for restart tests); "" makes a new temp dir.
	Prefix string
	// Config is appended to the generated virtlxcd.conf.
	Config string
	// Args are extra command line arguments.
	Args []string
	// Env is extra environment.
	Env []string
	// NoWait returns right after starting the process.
	NoWait bool
}

// Daemon is one running virtlxcd.
type Daemon struct {
	Prefix  string
	SockDir string
	RW      string
	RO      string
	Admin   string
	Conf    string
	PIDFile string
	Cmd     *exec.Cmd
	Stderr  *bytes.Buffer
	done    chan struct{}
	waitErr error
}

// Start launches a daemon in the foreground on a private tree and waits
// until its read-write socket answers. It is stopped at test cleanup.
func Start(t testing.TB, o Options) *Daemon {
	t.Helper()
	RequireRoot(t)
	bin := Binary(t)
	prefix := o.Prefix
	if prefix == "" {
		var err error
		prefix, err = os.MkdirTemp("", "virtlxcd-test-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(prefix) })
		// Let other users reach the sockets (tests of non-root callers).
		os.Chmod(prefix, 0o755)
	}
	d := &Daemon{Prefix: prefix, SockDir: filepath.Join(prefix, "run", "libvirt")}
	d.RW = filepath.Join(d.SockDir, "virtlxcd-sock")
	d.RO = filepath.Join(d.SockDir, "virtlxcd-sock-ro")
	d.Admin = filepath.Join(d.SockDir, "virtlxcd-admin-sock")
	d.Conf = filepath.Join(prefix, "etc", "libvirt", "virtlxcd.conf")
	d.PIDFile = filepath.Join(prefix, "run", "virtlxcd.pid")
	if err := os.MkdirAll(filepath.Dir(d.Conf), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("unix_sock_dir = %q\n%s\n", d.SockDir, o.Config)
	if err := os.WriteFile(d.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Cmd = exec.Command(bin, o.Args...)
	d.Cmd.Env = append(append(os.Environ(), "VIRTLXCD_PREFIX="+prefix), o.Env...)
	d.Stderr = &bytes.Buffer{}
	d.Cmd.Stderr = &lockedWriter{w: d.Stderr}
	d.Cmd.Stdout = d.Cmd.Stderr
	if err := d.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.done = make(chan struct{})
	go func() { d.waitErr = d.Cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		// Guests outlive their daemon by design, so a test that failed
		// half-way would leave containers behind: destroy them first.
		d.destroyAll()
		d.Stop(t)
	})
	if o.NoWait {
		return d
	}
	if err := WaitSocket(d.RW, 10*time.Second, d.done); err != nil {
		t.Fatalf("daemon did not come up: %v\nstderr:\n%s", err, d.Output())
	}
	return d
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Output is what the daemon wrote to stdout/stderr so far.
func (d *Daemon) Output() string {
	lw := d.Cmd.Stderr.(*lockedWriter)
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.String()
}

// WaitSocket waits until path accepts connections.
func WaitSocket(path string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("daemon exited")
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("socket %s not ready after %v", path, timeout)
}

// Exited is closed when the process has ended.
func (d *Daemon) Exited() <-chan struct{} { return d.done }

// ExitCode waits up to timeout for the daemon to exit and returns its code.
func (d *Daemon) ExitCode(timeout time.Duration) (int, bool) {
	select {
	case <-d.done:
		return d.Cmd.ProcessState.ExitCode(), true
	case <-time.After(timeout):
		return 0, false
	}
}

// destroyAll destroys every running domain of a live daemon.
func (d *Daemon) destroyAll() {
	select {
	case <-d.done:
		return
	default:
	}
	r := d.Virsh("list", "--name")
	for _, name := range strings.Fields(r.Stdout) {
		d.Virsh("destroy", name)
	}
}

// Stop sends SIGTERM and waits; a daemon that does not stop is killed.
func (d *Daemon) Stop(t testing.TB) {
	select {
	case <-d.done:
		return
	default:
	}
	d.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		d.Cmd.Process.Kill()
		<-d.done
		t.Errorf("daemon did not stop on SIGTERM\n%s", d.Output())
	}
}

// Kill9 kills the daemon the hard way (crash simulation).
func (d *Daemon) Kill9() {
	d.Cmd.Process.Kill()
	<-d.done
}

// URI is the virsh URI of the read-write socket.
func (d *Daemon) URI() string { return "lxc+unix:///system?socket=" + d.RW }

// ROURI is the virsh URI of the read-only socket.
func (d *Daemon) ROURI() string { return "lxc+unix:///system?socket=" + d.RO }

// AdminURI is the virt-admin URI of the admin socket.
func (d *Daemon) AdminURI() string { return "virtlxcd:///system?socket=" + d.Admin }

// Result is a finished client command.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
}

// Run runs a client command with a timeout.
func Run(name string, args ...string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	// A child the client left behind (lxc-enter-namespace) must not keep
	// the output pipes, and with them this call, open.
	cmd.WaitDelay = 5 * time.Second
	// Keep the clients' own config and caches out of the host's dirs.
	cmd.Env = append(os.Environ(), "LIBVIRT_DEFAULT_URI=", "HOME="+os.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return Result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// Virsh runs virsh against the read-write socket.
func (d *Daemon) Virsh(args ...string) Result {
	return Run("virsh", append([]string{"-q", "-c", d.URI()}, args...)...)
}

// VirshRO runs virsh -r against the read-only socket.
func (d *Daemon) VirshRO(args ...string) Result {
	return Run("virsh", append([]string{"-q", "-r", "-c", d.ROURI()}, args...)...)
}

// Admin runs virt-admin against the admin socket.
func (d *Daemon) VirtAdmin(args ...string) Result {
	return Run("virt-admin", append([]string{"-q", "-c", d.AdminURI()}, args...)...)
}

// MustVirsh runs virsh and fails the test on a non-zero exit.
func (d *Daemon) MustVirsh(t testing.TB, args ...string) string {
	t.Helper()
	r := d.Virsh(args...)
	if r.Code != 0 {
		t.Fatalf("virsh %s: %v", strings.Join(args, " "), r)
	}
	return r.Stdout
}
