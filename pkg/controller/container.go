package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/virtlxcd/virtlxcd/pkg/cgroup"
	"github.com/virtlxcd/virtlxcd/pkg/netdev"
	"github.com/virtlxcd/virtlxcd/pkg/pidfd"
	"golang.org/x/sys/unix"
)

// Subcommand is the first argument with which the daemon re-executes itself
// as a controller; cmd/virtlxcd hands the remaining arguments to Main.
const Subcommand = "__lxc-controller"

// Dirs are the directories the controller works in: libvirt's
// /run/libvirt/lxc and /var/log/libvirt/lxc, relocated in tests.
type Dirs struct{ StateDir, LogDir string }

// ExitReason says why a container stopped.
type ExitReason int

const (
	// Shutdown: the init exited, or was killed by SIGINT (power-off or
	// halt inside the container).
	Shutdown ExitReason = iota
	// Reboot: the init was killed by SIGHUP, which is what reboot(2)
	// inside a pid namespace does.
	Reboot
	// Crashed: the init was killed by any other signal nobody asked for.
	Crashed
	// Destroyed: Destroy killed it.
	Destroyed
	// Failed: the controller died without recording an exit.
	Failed
)

var reasonNames = [...]string{Shutdown: "shutdown", Reboot: "reboot", Crashed: "crashed", Destroyed: "destroyed", Failed: "failed"}

func (r ExitReason) String() string {
	if r >= 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("ExitReason(%d)", int(r))
}

func parseReason(s string) ExitReason {
	for i, n := range reasonNames {
		if n == s {
			return ExitReason(i)
		}
	}
	return Failed
}

// Exit records why a container stopped. Status is the init's wait status
// in words ("exit status 3", "signal: hangup") or the failure.
type Exit struct {
	Reason ExitReason
	Status string
}

// ExitedError is returned by Attach for a container that stopped while
// nobody watched it.
type ExitedError struct {
	Name string
	Exit Exit
}

func (e *ExitedError) Error() string {
	return fmt.Sprintf("container %s stopped (%s: %s)", e.Name, e.Exit.Reason, e.Exit.Status)
}

// Stats are the container's resource counters, read from its cgroup.
type Stats struct {
	CPUTimeNs   uint64
	MemoryBytes uint64
}

// Container is the daemon's handle on a running container's controller.
type Container struct {
	dirs  Dirs
	st    status
	ctrl  *pidfd.Proc
	cg    *cgroup.Group
	monMu sync.Mutex
	mon   *monitorClient // nil until the monitor could be reached

	closeOnce sync.Once
	closed    atomic.Bool

	done chan struct{}
	exit Exit
}

// ControllerPID is the domain id, as in libvirt.
func (c *Container) ControllerPID() int { return c.st.ControllerPID }

// InitPID is the host PID of the container's init.
func (c *Container) InitPID() int { return c.st.InitPID }

// ConsolePaths are the host-side ptys, one per console.
func (c *Container) ConsolePaths() []string { return append([]string(nil), c.st.Consoles...) }

// HostInterfaces are the host-side veth names in spec order.
func (c *Container) HostInterfaces() []string { return append([]string(nil), c.st.Interfaces...) }

// CgroupPath is the container's cgroup relative to the hierarchy roots.
func (c *Container) CgroupPath() string { return c.st.Cgroup }

// Done is closed once the container is gone and its controller exited.
func (c *Container) Done() <-chan struct{} { return c.done }

// Exit says why the container stopped; valid after Done.
func (c *Container) Exit() Exit { return c.exit }

// Start re-executes exe as the controller for spec and returns once the
// container's init has been exec'd.
func Start(exe string, dirs Dirs, spec *Spec) (*Container, error) {
	if err := validate(spec); err != nil {
		return nil, err
	}
	for _, d := range []string{dirs.StateDir, dirs.LogDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	if c, err := Attach(dirs, spec.Name); err == nil {
		c.Close()
		return nil, fmt.Errorf("container %s is already running (controller %d)", spec.Name, c.ControllerPID())
	}
	_ = os.Remove(dirs.exitFile(spec.Name))

	logFile, err := os.OpenFile(dirs.logFile(spec.Name), os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	defer logFile.Close()
	logStart := logOffset(logFile)
	args := []string{Subcommand, "--name", spec.Name, "--state-dir", dirs.StateDir, "--log-dir", dirs.LogDir}
	fmt.Fprintf(logFile, "%s: starting up\n%s %s\n", logTime(time.Now()), exe, strings.Join(args, " "))

	parent, child, err := seqpacketPair()
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = controllerEnv(os.Environ())
	cmd.ExtraFiles = []*os.File{child}
	// A session of its own and no parent-death signal: the controller must
	// outlive the daemon.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	child.Close()
	if err != nil {
		return nil, fmt.Errorf("start controller: %w", err)
	}
	// The daemon is the parent until it exits; reap the controller so that
	// no zombie lingers. Liveness never depends on this (pidfd does it).
	go cmd.Wait()

	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	conn, err := fileConn(parent)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.Write(specJSON); err != nil {
		return nil, startFailure(dirs, spec, logStart, cmd, fmt.Errorf("send spec: %w", err))
	}
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, 1<<16)
	n, err := conn.Read(buf)
	if err != nil || n == 0 {
		if err == nil {
			err = errors.New("controller exited before the container started")
		}
		return nil, startFailure(dirs, spec, logStart, cmd, err)
	}
	var r startReply
	if err := json.Unmarshal(buf[:n], &r); err != nil {
		return nil, startFailure(dirs, spec, logStart, cmd, fmt.Errorf("parse controller reply: %w", err))
	}
	if r.Error != "" || r.Status.ControllerPID == 0 {
		_ = cmd.Process.Kill()
		if r.Error == "" {
			r.Error = "controller answered without a status"
		}
		return nil, errors.New(r.Error)
	}
	return attachStatus(dirs, r.Status, true)
}

// controllerEnv drops what a service manager hands the daemon alone: the
// controller must not answer for the daemon's notify socket or sockets.
func controllerEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "WATCHDOG_PID", "WATCHDOG_USEC":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// startReply is the controller's single answer on the start channel.
type startReply struct {
	Error  string `json:"error,omitempty"`
	Status status `json:"status"`
}

func validate(spec *Spec) error {
	if spec == nil || spec.Name == "" || strings.ContainsAny(spec.Name, "/\x00") || spec.Name[0] == '.' {
		return errors.New("invalid container name")
	}
	if spec.Init == "" {
		return errors.New("no init program")
	}
	for _, fs := range spec.Filesystems {
		switch fs.Type {
		case "mount", "bind", "ram":
		default:
			return fmt.Errorf("cannot mount filesystem type %s", fs.Type)
		}
	}
	for _, in := range spec.Interfaces {
		if in.Type != "bridge" && in.Type != "ethernet" {
			return fmt.Errorf("unsupported network type %s", in.Type)
		}
	}
	if _, err := capDropSet(spec); err != nil {
		return err
	}
	if len(spec.UIDMap) == 0 != (len(spec.GIDMap) == 0) {
		return errors.New("user namespace needs both uid and gid maps")
	}
	return nil
}

// startFailure explains a controller that died or hung during start with
// what it wrote to its log, and removes what it left: a controller killed
// mid-setup recorded nothing, but its cgroup name is known.
func startFailure(dirs Dirs, spec *Spec, from int64, cmd *exec.Cmd, cause error) error {
	_ = cmd.Process.Kill()
	if g, err := cgroup.Open(cgroupPath(spec, cmd.Process.Pid)); err == nil && g.Exists() {
		_ = g.Kill()
		_ = g.WaitEmpty(2 * time.Second)
		_ = g.Destroy()
	}
	_ = dirs.removeState(spec.Name)
	msg := logTail(dirs.logFile(spec.Name), from)
	if msg == "" {
		return cause
	}
	return fmt.Errorf("%s", msg)
}

func logOffset(f *os.File) int64 {
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}

// logTail returns the last meaningful line the controller logged since from.
func logTail(path string, from int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < from {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b[from:])), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasSuffix(l, ": starting up") {
			continue
		}
		// Drop the timestamp prefix our log lines carry.
		if _, rest, ok := strings.Cut(l, "+0000: "); ok {
			l = rest
		}
		return l
	}
	return ""
}

// Attach finds the controller of a running container from its state files.
func Attach(dirs Dirs, name string) (*Container, error) {
	var st status
	if err := readJSON(dirs.statusFile(name), &st); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if ex, ok := consumeExit(dirs, name); ok {
				return nil, &ExitedError{Name: name, Exit: ex}
			}
			return nil, fmt.Errorf("container %s: %w", name, os.ErrNotExist)
		}
		return nil, err
	}
	return attachStatus(dirs, st, false)
}

// attachStatus builds the handle for the controller st describes. A
// controller that is already gone yields an *ExitedError, except right
// after Start, where a container that stopped at once is still a started
// container: the caller gets it with Done closed.
func attachStatus(dirs Dirs, st status, started bool) (*Container, error) {
	c := &Container{dirs: dirs, st: st, done: make(chan struct{})}
	cg, err := cgroup.Open(st.Cgroup)
	if err != nil {
		return nil, err
	}
	c.cg = cg
	ctrl, err := pidfd.Open(st.ControllerPID, st.ControllerTime)
	if err != nil {
		if !errors.Is(err, pidfd.ErrGone) {
			return nil, err
		}
		c.reap()
		if started {
			close(c.done)
			return c, nil
		}
		return nil, &ExitedError{Name: st.Name, Exit: c.exit}
	}
	c.ctrl = ctrl
	if mon, err := dialMonitor(dirs.sockFile(st.Name)); err == nil {
		c.mon = mon
	}
	go c.watch()
	return c, nil
}

func (c *Container) watch() {
	if err := c.ctrl.Wait(); err != nil {
		// Close was called: the handle is released, the container runs on.
		return
	}
	c.ctrl.Close()
	c.reap()
	close(c.done)
}

// reap collects the exit of a controller that is gone and removes what
// it left behind. A controller that finished its work leaves only the
// exit record; one that was killed leaves everything, including the
// container's processes.
func (c *Container) reap() {
	ex, ok := consumeExit(c.dirs, c.st.Name)
	if !ok {
		ex = Exit{Reason: Failed, Status: "controller exited without recording why"}
	}
	c.exit = ex
	c.cleanup()
}

func (c *Container) cleanup() {
	if c.cg.Exists() {
		_ = c.cg.Kill()
		_ = c.cg.WaitEmpty(2 * time.Second)
		_ = c.cg.Destroy()
	}
	_ = netdev.Remove(c.st.Links)
	// A new controller for the same name may already own the files.
	var cur status
	if err := readJSON(c.dirs.statusFile(c.st.Name), &cur); err == nil && cur.ControllerPID != c.st.ControllerPID {
		return
	}
	_ = c.dirs.removeState(c.st.Name)
}

func consumeExit(dirs Dirs, name string) (Exit, bool) {
	var rec exitRecord
	if err := readJSON(dirs.exitFile(name), &rec); err != nil {
		return Exit{}, false
	}
	_ = os.Remove(dirs.exitFile(name))
	return Exit{Reason: parseReason(rec.Reason), Status: rec.Status}, true
}

func (c *Container) monitor() (*monitorClient, error) {
	c.monMu.Lock()
	defer c.monMu.Unlock()
	if c.mon == nil {
		mon, err := dialMonitor(c.dirs.sockFile(c.st.Name))
		if err != nil {
			return nil, err
		}
		c.mon = mon
	}
	return c.mon, nil
}

func (c *Container) request(op string, initctl, signal bool) error {
	mon, err := c.monitor()
	if err != nil {
		return err
	}
	err = mon.call(request{Op: op, InitCtl: initctl, Signal: signal}, 10*time.Second)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, c.st.Name, err)
	}
	return nil
}

// errClosed is returned by requests on a handle after Close.
var errClosed = errors.New("container handle is closed")

func (c *Container) running() bool {
	select {
	case <-c.done:
		return false
	default:
		return c.ctrl != nil
	}
}

// Destroy stops the container. Not graceful: everything is killed at once
// and Destroy returns when the controller is gone. Graceful: the processes
// get SIGTERM and Destroy returns at once.
func (c *Container) Destroy(graceful bool) error {
	if c.closed.Load() {
		return errClosed
	}
	if !c.running() {
		return nil
	}
	if graceful {
		return c.request(opTerminate, false, false)
	}
	if err := c.request(opDestroy, false, false); err != nil {
		// No answer. The controller may be on its way out already (a
		// concurrent destroy, the init just exited): give it a moment.
		select {
		case <-c.done:
			return nil
		case <-time.After(2 * time.Second):
		}
		// It is stuck: kill the container and the controller; the
		// watcher then cleans up and reports a failure.
		kerr := c.cg.Kill()
		if serr := c.ctrl.Signal(syscall.SIGKILL); serr != nil && !errors.Is(serr, pidfd.ErrGone) {
			kerr = errors.Join(kerr, serr)
		}
		if kerr != nil {
			return errors.Join(err, kerr)
		}
	}
	select {
	case <-c.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("destroy %s: controller %d did not exit", c.st.Name, c.st.ControllerPID)
	}
}

// Shutdown asks the init to power off: through /dev/initctl when the
// container has one and allowInitctl, else with SIGTERM when allowSignal.
// It returns without waiting, as libvirt does.
func (c *Container) Shutdown(allowInitctl, allowSignal bool) error {
	if c.closed.Load() {
		return errClosed
	}
	if !c.running() {
		return errors.New("container is not running")
	}
	return c.request(opShutdown, allowInitctl, allowSignal)
}

// Reboot asks the init to reboot: initctl runlevel 6, else SIGHUP.
func (c *Container) Reboot(allowInitctl, allowSignal bool) error {
	if c.closed.Load() {
		return errClosed
	}
	if !c.running() {
		return errors.New("container is not running")
	}
	return c.request(opReboot, allowInitctl, allowSignal)
}

// Stats reads CPU time and memory usage from the container's cgroup.
func (c *Container) Stats() (Stats, error) {
	cpu, err := c.cg.CPUTime()
	if err != nil {
		return Stats{}, fmt.Errorf("cpu time of %s: %w", c.st.Name, err)
	}
	mem, err := c.cg.MemoryUsage()
	if err != nil {
		return Stats{}, fmt.Errorf("memory usage of %s: %w", c.st.Name, err)
	}
	return Stats{CPUTimeNs: cpu, MemoryBytes: mem}, nil
}

// SetMemoryLimit changes the container's hard memory limit.
func (c *Container) SetMemoryLimit(kib uint64) error {
	return c.cg.SetMemoryLimit(int64(kib) * 1024)
}

// Close releases the daemon's handles; the container keeps running.
func (c *Container) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		if c.ctrl != nil {
			c.ctrl.Close() // ends the watcher
		}
		c.monMu.Lock()
		if c.mon != nil {
			c.mon.close()
		}
		c.monMu.Unlock()
	})
	return nil
}

func seqpacketPair() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "sync"), os.NewFile(uintptr(fds[1]), "sync"), nil
}

// fileConn turns a socket file into a net.Conn (deadlines, poller) and
// closes f.
func fileConn(f *os.File) (*net.UnixConn, error) {
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("socket conn: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, errors.New("not a unix socket")
	}
	return uc, nil
}

func logTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05.000") + "+0000"
}
