// Package sandbox boots a real systemd (the host's /lib/systemd/systemd) as
// PID 1 of private namespaces, for tests that need systemd's real D-Bus API
// without touching the host.
//
// What the sandbox is:
//
//   - fresh pid, mount, uts, ipc, net and cgroup namespaces; the cgroup
//     namespace is rooted in a new cgroup2 directory made for the sandbox;
//   - an overlay root: lower layer the host's /, upper and work layers on a
//     tmpfs that lives only in the sandbox's mount namespace, so every write
//     (systemd's, the test's) vanishes with the sandbox;
//   - fresh /proc (with /proc/sys read-only), a read-only /sys, a cgroup2
//     tree (or, with Options.HybridCgroups, the host's v1 controllers plus
//     cgroup2 in unified/, each rooted in a cgroup made for the sandbox),
//     a minimal /dev, tmpfs /run and /tmp;
//   - fresh, empty tmpfs mounts on /usr/lib/systemd/system, /etc/systemd/system
//     and the generator directory: systemd sees only the units the test asks
//     for, plus the harness's minimal targets and D-Bus. The default target
//     (sandbox.target) pulls in dbus.socket, dbus.service and Options.Wants.
//
// It ends with SIGKILL of the sandbox's PID 1, which the kernel turns into
// the death of every process in the pid namespace; the cgroup is then removed
// and the host-side directory deleted.
//
// API, for any test package (must run as root):
//
//	sb, err := sandbox.Start(ctx, sandbox.Options{
//		Units: map[string]string{"foo.service": "..."}, // into /usr/lib/systemd/system
//		Files: []sandbox.File{{Path: "/usr/sbin/foo", HostPath: "build/foo", Mode: 0o755}},
//	})
//	defer sb.Close()
//	sb.BusAddress()            // D-Bus address of the sandbox's system bus, usable from the host
//	sb.Path("/etc/x")          // host path of a file inside the sandbox (through /proc/PID/root)
//	sb.Command(ctx, "systemctl", "status", "foo") // runs inside every namespace of the sandbox
//	sb.Log()                   // the sandbox's console and boot output, for failure messages
//
// HostSnapshot/Compare check that the host's systemd, D-Bus and journal
// state and its /tmp are untouched around a test.
package sandbox

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/virtlxcd/virtlxcd/migrate/systemd"
)

//go:embed boot.sh
var bootScript []byte

// File is put into the sandbox's root before systemd starts. Content wins
// over HostPath when both are set.
type File struct {
	Path     string // absolute path inside the sandbox
	Content  []byte
	HostPath string // copy this host file instead
	Mode     fs.FileMode
}

// Options chooses what the sandbox's systemd sees.
type Options struct {
	// Units are written to /usr/lib/systemd/system (name → text).
	Units map[string]string
	// Files are installed into the root (any path, including /etc).
	Files []File
	// Wants are extra units the default target pulls in at boot.
	Wants []string
	// HybridCgroups gives the sandbox the host's cgroup v1 controllers too
	// (each in a cgroup of its own), laid out the way a hybrid host has
	// them, so that systemd and its services can use v1 controllers
	// (memory, cpuset, ...) that the host's cgroup2 lacks. Without it the
	// sandbox has a cgroup2 tree only.
	HybridCgroups bool
	// BootTimeout bounds the wait for systemd to reach a running state
	// (default 30s).
	BootTimeout time.Duration
}

// Sandbox is a running systemd in private namespaces.
type Sandbox struct {
	dir    string // host-side directory: boot script, staging, console log
	cgroup string // host path of the sandbox cgroup2 directory
	v1     []v1Hierarchy
	cmd    *exec.Cmd
	done   chan struct{}
	closed bool
}

// harnessUnits are the targets systemd needs to boot: written here, empty,
// so that nothing the host enables (gettys, journald, udev, databases)
// is ever pulled in.
var harnessUnits = map[string]string{
	"sysinit.target":    "[Unit]\nDescription=Sandbox system initialisation\n",
	"basic.target":      "[Unit]\nDescription=Sandbox basic system\n",
	"sockets.target":    "[Unit]\nDescription=Sandbox sockets\n",
	"timers.target":     "[Unit]\nDescription=Sandbox timers\n",
	"paths.target":      "[Unit]\nDescription=Sandbox paths\n",
	"network.target":    "[Unit]\nDescription=Sandbox network\n",
	"multi-user.target": "[Unit]\nDescription=Sandbox multi-user system\n",
	"shutdown.target":   "[Unit]\nDescription=Sandbox shutdown\nDefaultDependencies=no\n",
}

// hostUnits are copied from the host's unit directory.
var hostUnits = []string{"dbus.service", "dbus.socket"}

// Start boots the sandbox and returns once its systemd answers on D-Bus and
// has finished its boot transaction.
func Start(ctx context.Context, opts Options) (*Sandbox, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("sandbox: needs root")
	}
	for _, p := range []string{"/lib/systemd/systemd", "/usr/bin/dbus-daemon", "/usr/bin/unshare", "/usr/sbin/pivot_root"} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "virtlxcd-sandbox-")
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	sb := &Sandbox{dir: dir, done: make(chan struct{})}
	fail := func(err error) (*Sandbox, error) {
		log := sb.Log()
		if sb.cmd != nil && sb.cmd.Process != nil {
			log += sb.output("systemctl", "list-jobs", "--no-pager")
		}
		sb.Close()
		if log != "" {
			return nil, fmt.Errorf("sandbox: %w\n--- sandbox log ---\n%s", err, log)
		}
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if err := sb.stage(opts); err != nil {
		return fail(err)
	}
	if sb.cgroup, err = makeCgroup(filepath.Base(dir)); err != nil {
		return fail(err)
	}
	logf, err := os.Create(filepath.Join(dir, "boot.log"))
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	sb.cmd = exec.Command("/bin/sh", filepath.Join(dir, "boot.sh"), "enter")
	sb.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SANDBOX_DIR=" + dir, "SANDBOX_CGROUP=" + sb.cgroup}
	if opts.HybridCgroups {
		if sb.v1, err = makeV1Cgroups(filepath.Base(dir)); err != nil {
			return fail(err)
		}
		sb.cmd.Env = append(sb.cmd.Env, v1Env(sb.v1)...)
	}
	sb.cmd.Stdout, sb.cmd.Stderr = logf, logf
	sb.cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET,
		// If the test binary dies, so does the sandbox.
		Pdeathsig: syscall.SIGKILL,
		Setsid:    true,
	}
	if err := sb.cmd.Start(); err != nil {
		return fail(fmt.Errorf("start: %w", err))
	}
	go func() { sb.cmd.Wait(); close(sb.done) }()
	timeout := opts.BootTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	if err := sb.waitRunning(ctx, timeout); err != nil {
		return fail(err)
	}
	return sb, nil
}

func (sb *Sandbox) stage(opts Options) error {
	units := filepath.Join(sb.dir, "units")
	stage := filepath.Join(sb.dir, "stage")
	for _, d := range []string{units, stage, filepath.Join(sb.dir, "mnt")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(sb.dir, "boot.sh"), bootScript, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(sb.dir, "console.log"), nil, 0o600); err != nil {
		return err
	}
	write := func(path string, data []byte, mode fs.FileMode) error {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, data, mode)
	}
	all := map[string]string{}
	for n, t := range harnessUnits {
		all[n] = t
	}
	wants := append([]string{"dbus.socket", "dbus.service"}, opts.Wants...)
	all["sandbox.target"] = "[Unit]\nDescription=virtlxcd test sandbox\nWants=" + strings.Join(wants, " ") +
		"\nAfter=" + strings.Join(wants, " ") + "\n"
	for _, n := range hostUnits {
		b, err := os.ReadFile(filepath.Join("/usr/lib/systemd/system", n))
		if err != nil {
			return fmt.Errorf("host unit: %w", err)
		}
		all[n] = string(b)
	}
	for n, t := range opts.Units {
		all[n] = t
	}
	for n, t := range all {
		if err := write(filepath.Join(units, n), []byte(t), 0o644); err != nil {
			return err
		}
	}
	for _, f := range opts.Files {
		if !filepath.IsAbs(f.Path) {
			return fmt.Errorf("file %q: path must be absolute", f.Path)
		}
		data := f.Content
		if data == nil && f.HostPath != "" {
			b, err := os.ReadFile(f.HostPath)
			if err != nil {
				return err
			}
			data = b
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		if err := write(filepath.Join(stage, f.Path), data, mode); err != nil {
			return err
		}
	}
	return nil
}

// makeCgroup creates the sandbox's cgroup in the host's cgroup2 hierarchy
// (the unified one on a hybrid host).
func makeCgroup(name string) (string, error) {
	root, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, name)
	if err := os.Mkdir(p, 0o755); err != nil {
		return "", fmt.Errorf("cgroup: %w", err)
	}
	return p, nil
}

func cgroup2Mount() (string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		// mount-id parent major:minor root mountpoint options ... - fstype source
		pre, post, ok := strings.Cut(line, " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		f := strings.Fields(pre)
		if len(f) >= 5 && f[3] == "/" {
			return f[4], nil
		}
	}
	return "", errors.New("no cgroup2 hierarchy mounted on the host")
}

func (sb *Sandbox) waitRunning(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		select {
		case <-sb.done:
			return errors.New("systemd exited during boot")
		case <-ctx.Done():
			return fmt.Errorf("systemd not running after %s: %v", timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
		s, err := sb.systemState(ctx)
		if err != nil {
			last = err
			continue
		}
		switch s {
		case "running":
			return nil
		case "degraded":
			return fmt.Errorf("systemd booted degraded:\n%s", sb.output("systemctl", "--failed", "--no-pager"))
		}
		last = fmt.Errorf("system state %q", s)
	}
}

// systemState asks the sandbox's systemd for its state, bounded per attempt:
// until systemd has joined the bus, dbus-daemon holds calls to it.
func (sb *Sandbox) systemState(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := systemd.Dial(ctx, sb.BusAddress())
	if err != nil {
		return "", err
	}
	defer conn.Close()
	state, err := conn.SystemStateContext(ctx)
	if err != nil {
		return "", err
	}
	return strings.Trim(fmt.Sprint(state.Value.Value()), `"`), nil
}

// PID is the host's PID of the sandbox's systemd.
func (sb *Sandbox) PID() int { return sb.cmd.Process.Pid }

// Path is the host path of path inside the sandbox.
func (sb *Sandbox) Path(path string) string {
	return filepath.Join("/proc", strconv.Itoa(sb.PID()), "root", path)
}

// BusAddress is the D-Bus address of the sandbox's system bus.
func (sb *Sandbox) BusAddress() string {
	return "unix:path=" + sb.Path("/run/dbus/system_bus_socket")
}

// Command prepares name to run inside all of the sandbox's namespaces.
func (sb *Sandbox) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	a := append([]string{"--target", strconv.Itoa(sb.PID()), "--all", "--", name}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", a...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}
	return cmd
}

func (sb *Sandbox) output(name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := sb.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%s%s: %v", out, name, err)
	}
	return string(out)
}

// Log returns the boot script's output and systemd's console.
func (sb *Sandbox) Log() string {
	var b bytes.Buffer
	for _, n := range []string{"boot.log", "console.log"} {
		data, err := os.ReadFile(filepath.Join(sb.dir, n))
		if err == nil && len(data) > 0 {
			fmt.Fprintf(&b, "[%s]\n%s\n", n, data)
		}
	}
	return b.String()
}

// Close kills the sandbox and removes everything it left on the host.
func (sb *Sandbox) Close() error {
	if sb.closed {
		return nil
	}
	sb.closed = true
	var errs []error
	if sb.cmd != nil && sb.cmd.Process != nil {
		sb.cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-sb.done:
		case <-time.After(20 * time.Second):
			errs = append(errs, errors.New("sandbox PID 1 did not exit after SIGKILL"))
		}
	}
	if sb.cgroup != "" {
		if err := removeCgroup(sb.cgroup); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removeV1Cgroups(sb.v1); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(sb.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeCgroup kills whatever is left in the cgroup tree (nothing, once the
// pid namespace is gone, but a process that escaped the namespace would
// still be caught here) and removes its directories, deepest first.
func removeCgroup(root string) error {
	_ = os.WriteFile(filepath.Join(root, "cgroup.kill"), []byte("1"), 0)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var dirs []string
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		var last error
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
				last = err
			}
		}
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", root, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
