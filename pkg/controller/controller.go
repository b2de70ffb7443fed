package controller

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/virtlxcd/virtlxcd/pkg/cgroup"
	"github.com/virtlxcd/virtlxcd/pkg/netdev"
	"github.com/virtlxcd/virtlxcd/pkg/pidfd"
	"github.com/virtlxcd/virtlxcd/pkg/ptyrelay"
	"golang.org/x/sys/unix"
)

// initStage is the argument that selects the container-side stage: the
// controller re-executes itself once more inside the new namespaces.
const initStage = "init"

// Main is the entry point of a re-executed controller process. args are
// the arguments after Subcommand (a leading Subcommand is tolerated).
func Main(args []string) int {
	if len(args) > 0 && args[0] == Subcommand {
		args = args[1:]
	}
	if len(args) > 0 && args[0] == initStage {
		return runInit()
	}
	fl := flag.NewFlagSet(Subcommand, flag.ContinueOnError)
	name := fl.String("name", "", "domain name")
	var dirs Dirs
	fl.StringVar(&dirs.StateDir, "state-dir", "", "state directory")
	fl.StringVar(&dirs.LogDir, "log-dir", "", "log directory")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if *name == "" || dirs.StateDir == "" {
		fmt.Fprintln(os.Stderr, "controller: --name and --state-dir are required")
		return 2
	}
	return runController(*name, dirs)
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", logTime(time.Now()), fmt.Sprintf(format, a...))
}

// controller is the state of one controller process.
type controller struct {
	name  string
	dirs  Dirs
	spec  Spec
	start *net.UnixConn // the start channel to the daemon; nil once answered

	cg      *cgroup.Group
	init    *exec.Cmd
	relays  []*ptyrelay.Relay
	slaves  []*os.File // container-side console slaves, held open
	links   []netdev.Link
	st      status
	ln      *net.UnixListener
	reqKill atomic.Int32 // set to 1 when a destroy asked for the exit

	// initDone is closed when the init has exited; killMu keeps a
	// destroy's polling of the cgroup and the teardown apart.
	initDone chan struct{}
	killMu   sync.Mutex

	mu    sync.Mutex
	conns map[net.Conn]*json.Encoder
}

func runController(name string, dirs Dirs) int {
	c := &controller{name: name, dirs: dirs, conns: map[net.Conn]*json.Encoder{}, initDone: make(chan struct{})}
	// The controller has no terminal; a stray SIGHUP must not end it. A
	// SIGTERM or SIGINT (an admin, or a service manager stopping a unit
	// whose cgroup holds the controller) destroys the container cleanly
	// instead of orphaning it.
	// (Caught, not ignored: an ignored signal would stay ignored in the
	// container's init across exec.)
	stop := make(chan os.Signal, 4)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	f := os.NewFile(3, "start")
	conn, err := fileConn(f)
	if err != nil {
		logf("start channel: %v", err)
		return 1
	}
	c.start = conn
	buf := make([]byte, 1<<20)
	n, err := conn.Read(buf)
	if err != nil {
		logf("read spec: %v", err)
		return 1
	}
	if err := json.Unmarshal(buf[:n], &c.spec); err != nil {
		c.fail(fmt.Errorf("parse spec: %w", err))
		return 1
	}
	if c.spec.Name != name {
		c.fail(fmt.Errorf("spec is for %q, controller for %q", c.spec.Name, name))
		return 1
	}
	if err := c.setup(); err != nil {
		c.fail(err)
		return 1
	}
	c.answer(startReply{Status: c.st})
	go func() {
		for sig := range stop {
			if sig == syscall.SIGHUP {
				continue
			}
			logf("received %v: destroying the container", sig)
			_ = c.do(request{Op: opDestroy})
		}
	}()
	c.serve()
	return 0
}

// fail reports a start failure to the daemon and the log and undoes what
// setup did.
func (c *controller) fail(err error) {
	logf("error: %v", err)
	if c.init != nil && c.init.Process != nil && c.init.ProcessState == nil {
		_ = c.init.Process.Kill()
		_, _ = c.init.Process.Wait()
	}
	c.teardown()
	_ = c.dirs.removeState(c.name)
	// Answer last: the daemon may kill the controller once it has the
	// answer, and the cleanup must be complete by then.
	c.answer(startReply{Error: err.Error()})
}

func (c *controller) answer(r startReply) {
	if c.start == nil {
		return
	}
	b, _ := json.Marshal(r)
	_, _ = c.start.Write(b)
	c.start.Close()
	c.start = nil
}

func (c *controller) setup() error {
	s := &c.spec
	pid := os.Getpid()
	startTime, err := pidfd.StartTime(pid)
	if err != nil {
		return fmt.Errorf("own start time: %w", err)
	}
	// libvirt's naming, so that admin tools find the container. The
	// controller joins the group to clone the container: the container is
	// born in it, in every hierarchy, and its cgroup namespace is rooted
	// there. Then the controller leaves again (see below).
	cgPath := cgroupPath(s, pid)
	c.cg, err = cgroup.Create(cgPath, limits(s), pid)
	if err != nil {
		return err
	}
	if err := applyBlkio(c.cg, s); err != nil {
		return err
	}
	if err := os.MkdirAll(c.dirs.rootDir(s.Name), 0o755); err != nil {
		return err
	}

	parentEnd, childEnd, err := seqpacketPair()
	if err != nil {
		return err
	}
	ch, err := fileConn(parentEnd)
	if err != nil {
		childEnd.Close()
		return err
	}
	defer ch.Close()
	c.init = exec.Command("/proc/self/exe", Subcommand, initStage)
	c.init.Stdout, c.init.Stderr = os.Stderr, os.Stderr
	c.init.ExtraFiles = []*os.File{childEnd}
	c.init.SysProcAttr = sysProcAttr(s)
	err = c.init.Start()
	childEnd.Close()
	if err != nil {
		c.init = nil
		return fmt.Errorf("clone container: %w", err)
	}
	// Every cgroup migration waits for an RCU grace period unless another
	// one ran moments before; measured here at 15-18 ms. Leaving right
	// after the clone rides on the join's grace period, whereas leaving at
	// teardown (to be able to remove the group) would add it to every
	// destroy. Unlike libvirt's controller, ours therefore does not stay
	// in the container's group; it lives in the hierarchy roots.
	if err := c.cg.Leave(pid); err != nil {
		return err
	}

	cfg, _ := json.Marshal(initConfig{Spec: *s, Root: c.dirs.rootDir(s.Name)})
	if _, err := ch.Write(cfg); err != nil {
		return fmt.Errorf("send init config: %w", err)
	}
	_ = ch.SetReadDeadline(time.Now().Add(30 * time.Second))
	msg, fds, err := recvMsg(ch)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("container setup: %w", err)
	}
	if msg == "" {
		// It died without a word (a crash, reported in the log above).
		return fmt.Errorf("container setup ended unexpectedly: %v", c.init.Wait())
	}
	if msg != "ready" {
		closeFDs(fds)
		return errors.New(msg)
	}
	if len(fds) != 2*consoles(s) {
		closeFDs(fds)
		return fmt.Errorf("container sent %d console fds, want %d", len(fds), 2*consoles(s))
	}
	for i := 0; i < len(fds); i += 2 {
		if err := unix.SetNonblock(fds[i], true); err != nil {
			closeFDs(fds[i:])
			return err
		}
		c.slaves = append(c.slaves, os.NewFile(uintptr(fds[i+1]), "console-slave"))
		r, err := ptyrelay.New(os.NewFile(uintptr(fds[i]), "console"))
		if err != nil {
			closeFDs(fds[i+2:])
			return err
		}
		c.relays = append(c.relays, r)
	}

	if ownNetwork(s) {
		c.links, err = netdev.Setup(c.init.Process.Pid, veths(s))
		if err != nil {
			return err
		}
	}
	if _, err := ch.Write([]byte("go")); err != nil {
		return fmt.Errorf("release container: %w", err)
	}
	// The child's end is close-on-exec: end of file means the init runs.
	msg, _, err = recvMsg(ch)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("container exec: %w", err)
	}
	if msg != "" {
		return errors.New(msg)
	}

	initPID := c.init.Process.Pid
	initTime, _ := pidfd.StartTime(initPID)
	c.st = status{
		Protocol:       protocolVersion,
		Name:           s.Name,
		UUID:           s.UUID,
		ControllerPID:  pid,
		ControllerTime: startTime,
		InitPID:        initPID,
		InitTime:       initTime,
		Interfaces:     netdev.Names(c.links),
		Links:          c.links,
		Cgroup:         cgPath,
	}
	for _, r := range c.relays {
		c.st.Consoles = append(c.st.Consoles, r.Path())
	}
	sock := c.dirs.sockFile(s.Name)
	_ = os.Remove(sock)
	c.ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		return err
	}
	if err := writePIDFile(c.dirs.pidFile(s.Name), pid); err != nil {
		return err
	}
	if err := writeJSON(c.dirs.statusFile(s.Name), c.st); err != nil {
		return err
	}
	logf("container %s running: init pid %d, consoles %v, interfaces %v, cgroup %s",
		s.Name, initPID, c.st.Consoles, c.st.Interfaces, cgPath)
	return nil
}

// cgroupPath is libvirt's name for the cgroup of the container whose
// controller is pid.
func cgroupPath(s *Spec, pid int) string {
	partition := s.Partition
	if partition == "" {
		partition = "/machine"
	}
	return fmt.Sprintf("%s/lxc-%d-%s.libvirt-lxc", partition, pid, s.Name)
}

func consoles(s *Spec) int {
	if s.Consoles < 1 {
		return 1
	}
	return s.Consoles
}

func limits(s *Spec) cgroup.Limits {
	mem := s.HardLimitKiB
	if mem == 0 {
		mem = s.MemoryKiB
	}
	return cgroup.Limits{
		MemoryBytes:     int64(mem) * 1024,
		SoftMemoryBytes: int64(s.SoftLimitKiB) * 1024,
		SwapBytes:       int64(s.SwapHardLimitKiB) * 1024,
		CPUShares:       s.CPUShares,
		CPUPeriod:       s.CPUPeriod,
		CPUQuota:        s.CPUQuota,
		PidsLimit:       s.PidsLimit,
	}
}

func veths(s *Spec) []netdev.Veth {
	var out []netdev.Veth
	for i, in := range s.Interfaces {
		out = append(out, vethFor(i, in))
	}
	return out
}

// vethFor turns the i-th interface of a spec into the veth to create.
func vethFor(i int, in Interface) netdev.Veth {
	v := netdev.Veth{
		Type:     in.Type,
		Bridge:   in.Bridge,
		HostName: in.HostDev,
		Guest:    in.GuestDev,
		MAC:      in.MAC,
		Down:     in.LinkDown,
	}
	if v.Guest == "" {
		v.Guest = "eth" + strconv.Itoa(i)
	}
	// For type ethernet, libvirt puts addresses that name a peer and
	// the routes on the host end; everything else is the guest's.
	for _, a := range in.IPs {
		na := netdev.Addr{IP: a.Address, Prefix: a.Prefix, Peer: a.Peer}
		if in.Type == "ethernet" && a.Peer != "" {
			v.HostAddrs = append(v.HostAddrs, na)
		} else {
			v.GuestAddrs = append(v.GuestAddrs, na)
		}
	}
	for _, r := range in.Routes {
		nr := netdev.Route{Dest: r.Address, Prefix: r.Prefix, Gateway: r.Gateway}
		if in.Type == "ethernet" {
			v.HostRoutes = append(v.HostRoutes, nr)
		} else {
			v.GuestRoutes = append(v.GuestRoutes, nr)
		}
	}
	return v
}

// ownNetwork says whether the container gets a network namespace; without
// interfaces or <privnet/> it shares the host's, as with libvirt.
func ownNetwork(s *Spec) bool { return s.PrivNet || len(s.Interfaces) > 0 }

func sysProcAttr(s *Spec) *syscall.SysProcAttr {
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWCGROUP)
	if ownNetwork(s) {
		flags |= unix.CLONE_NEWNET
	}
	a := &syscall.SysProcAttr{Cloneflags: flags, Setsid: true}
	if len(s.UIDMap) > 0 {
		a.Cloneflags |= unix.CLONE_NEWUSER
		for _, m := range s.UIDMap {
			a.UidMappings = append(a.UidMappings, syscall.SysProcIDMap{ContainerID: int(m.Start), HostID: int(m.Target), Size: int(m.Count)})
		}
		for _, m := range s.GIDMap {
			a.GidMappings = append(a.GidMappings, syscall.SysProcIDMap{ContainerID: int(m.Start), HostID: int(m.Target), Size: int(m.Count)})
		}
		// Without these the child keeps host uid 0, unmapped inside, and
		// loses every capability at exec; and the container's root could
		// not call setgroups. Allowing it is safe: the parent is root.
		a.Credential = &syscall.Credential{Uid: 0, Gid: 0}
		a.GidMappingsEnableSetgroups = true
	}
	return a
}

// recvMsg reads one message and the descriptors passed with it. An empty
// message with no error means the peer closed its end.
func recvMsg(c *net.UnixConn) (string, []int, error) {
	buf := make([]byte, 64*1024)
	oob := make([]byte, unix.CmsgSpace(64*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return "", nil, err
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return "", nil, err
		}
		for _, m := range msgs {
			f, err := unix.ParseUnixRights(&m)
			if err == nil {
				fds = append(fds, f...)
			}
		}
	}
	return string(buf[:n]), fds, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// serve runs until the init exits: it answers monitor requests, then
// records the exit, cleans up and returns.
func (c *controller) serve() {
	go c.acceptLoop()
	err := c.init.Wait()
	close(c.initDone)
	ex := c.classify(err)
	logf("container %s stopped: %s (%s)", c.name, ex.Reason, ex.Status)
	c.killMu.Lock()
	c.teardown()
	c.killMu.Unlock()
	rec := exitRecord{ControllerPID: c.st.ControllerPID, Reason: ex.Reason.String(), Status: ex.Status}
	// The record goes down before the state files disappear, so that a
	// daemon always finds one or the other.
	if err := writeJSON(c.dirs.exitFile(c.name), rec); err != nil {
		logf("write exit record: %v", err)
	}
	c.ln.Close()
	_ = c.dirs.removeState(c.name)
	c.mu.Lock()
	for conn, enc := range c.conns {
		// A client that stopped reading must not keep the controller alive.
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		_ = enc.Encode(reply{Event: "exit", Exit: &rec})
		conn.Close()
	}
	c.mu.Unlock()
}

func (c *controller) classify(waitErr error) Exit {
	ps := c.init.ProcessState
	if ps == nil {
		return Exit{Reason: Crashed, Status: fmt.Sprint(waitErr)}
	}
	ws, _ := ps.Sys().(syscall.WaitStatus)
	desc := ps.String()
	switch {
	case c.reqKill.Load() != 0:
		return Exit{Reason: Destroyed, Status: desc}
	case ws.Exited():
		return Exit{Reason: Shutdown, Status: desc}
	case ws.Signaled() && ws.Signal() == syscall.SIGHUP:
		return Exit{Reason: Reboot, Status: desc}
	case ws.Signaled() && (ws.Signal() == syscall.SIGINT || ws.Signal() == syscall.SIGTERM):
		return Exit{Reason: Shutdown, Status: desc}
	default:
		return Exit{Reason: Crashed, Status: desc}
	}
}

// teardown removes everything the container used on the host. The init
// is gone (or was never started), so its pid namespace is empty; processes
// that joined the cgroup from outside are killed here.
func (c *controller) teardown() {
	for _, r := range c.relays {
		r.Close()
	}
	for _, s := range c.slaves {
		s.Close()
	}
	if c.cg != nil {
		if c.init == nil {
			// setup failed before the clone, still inside the group
			if err := c.cg.Leave(os.Getpid()); err != nil {
				logf("leave cgroup: %v", err)
			}
		}
		if err := c.cg.Kill(); err != nil {
			logf("kill leftovers: %v", err)
		}
		if err := c.cg.WaitEmpty(5 * time.Second); err != nil {
			logf("%v", err)
		}
		if err := c.cg.Destroy(); err != nil {
			logf("%v", err)
		}
	}
	if err := netdev.Remove(c.links); err != nil {
		logf("remove interfaces: %v", err)
	}
}

func (c *controller) acceptLoop() {
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		go c.handle(conn)
	}
}

func (c *controller) handle(conn net.Conn) {
	enc := json.NewEncoder(conn)
	// Writes happen under c.mu, which the exit path needs too: bound them
	// so that a client that does not read cannot stall the controller.
	c.mu.Lock()
	c.conns[conn] = enc
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	err := enc.Encode(hello{Protocol: protocolVersion, Status: c.st})
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.conns, conn)
		c.mu.Unlock()
		conn.Close()
	}()
	if err != nil {
		return
	}
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		var req request
		r := reply{}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			r.Error = "malformed request"
		} else {
			r.ID = req.ID
			if err := c.do(req); err != nil {
				r.Error = err.Error()
			}
		}
		c.mu.Lock()
		_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		err := enc.Encode(r)
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (c *controller) do(req request) error {
	switch req.Op {
	case opPing:
		return nil
	case opShutdown:
		return c.powerRequest('0', syscall.SIGTERM, req)
	case opReboot:
		return c.powerRequest('6', syscall.SIGHUP, req)
	case opDestroy:
		c.reqKill.Store(1)
		return c.killPainfully()
	case opTerminate:
		c.reqKill.Store(1)
		return c.cg.Signal(syscall.SIGTERM)
	default:
		return fmt.Errorf("unsupported request %q (controller protocol %d)", req.Op, protocolVersion)
	}
}

// Destroy keeps libvirt's semantics (SIGTERM, a grace period, then
// SIGKILL) without its fixed 200 ms polls: the wait ends as soon as the
// container is empty or no process left can still act on SIGTERM.
const destroyGrace = 1600 * time.Millisecond

// killPainfully ends every process of the container.
func (c *controller) killPainfully() error {
	c.killMu.Lock()
	defer c.killMu.Unlock()
	select {
	case <-c.initDone:
		return nil // already gone; the teardown owns the cgroup now
	default:
	}
	// A frozen task cannot run its handler; libvirt thaws first as well.
	if frozen, _ := c.cg.Frozen(); frozen {
		_ = c.cg.Thaw()
	}
	_ = c.cg.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(destroyGrace)
	for wait := time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, 20*time.Millisecond) {
		if !c.mayStillExit() {
			break
		}
		select {
		case <-c.initDone:
			// The init is gone and with it its pid namespace; the
			// teardown (waiting for killMu) kills what joined from outside.
			return nil
		case <-time.After(wait):
		}
	}
	// SIGKILL to the init of a pid namespace kills every process in it;
	// the cgroup kill catches anything that joined from outside.
	if err := c.init.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	_ = c.cg.Kill()
	return nil
}

// mayStillExit reports whether some process of the container has a
// SIGTERM handler and is still alive, i.e. whether waiting can help. A
// process without one either died of the SIGTERM already or, as the init
// of a pid namespace, never receives it.
func (c *controller) mayStillExit() bool {
	pids, err := c.cg.Pids()
	if err != nil {
		return false
	}
	self := os.Getpid()
	for _, pid := range pids {
		if pid != self && catchesTerm(pid) {
			return true
		}
	}
	return false
}

// catchesTerm reads /proc/PID/status: alive (not a zombie) with SIGTERM
// among the caught signals.
func catchesTerm(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	const term = 1 << (syscall.SIGTERM - 1)
	zombie, caught := false, false
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "State:"); ok {
			zombie = strings.Contains(v, "Z")
		}
		if v, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			caught = err == nil && mask&term != 0
		}
	}
	return caught && !zombie
}

// powerRequest asks the init to change runlevel through /dev/initctl when
// allowed and present, else sends sig when allowed.
func (c *controller) powerRequest(runlevel byte, sig syscall.Signal, req request) error {
	if req.InitCtl {
		err := c.initctl(runlevel)
		if err == nil {
			return nil
		}
		if !req.Signal {
			return fmt.Errorf("initctl: %w", err)
		}
	}
	if !req.Signal {
		return errors.New("no shutdown method allowed")
	}
	if err := c.init.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal init: %w", err)
	}
	return nil
}

// initctl writes a sysvinit runlevel request to the container's
// /dev/initctl FIFO. The path is resolved inside the container's root,
// so a guest symlink cannot redirect the write to a host file.
func (c *controller) initctl(runlevel byte) error {
	root, err := unix.Open(fmt.Sprintf("/proc/%d/root", c.st.InitPID), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	fd, err := unix.Openat2(root, "dev/initctl", &unix.OpenHow{
		Flags:   unix.O_WRONLY | unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOCTTY,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return errors.New("/dev/initctl is not a FIFO")
	}
	// struct init_request: magic, cmd, runlevel, sleeptime, then a 368
	// byte union; 384 bytes in all.
	var b [384]byte
	binary.LittleEndian.PutUint32(b[0:], 0x03091969)
	binary.LittleEndian.PutUint32(b[4:], 1) // INIT_CMD_RUNLVL
	binary.LittleEndian.PutUint32(b[8:], uint32(runlevel))
	if _, err := unix.Write(fd, b[:]); err != nil {
		return err
	}
	return nil
}
