package main_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/virtlxcd/virtlxcd/internal/daemontest"
	"github.com/virtlxcd/virtlxcd/pkg/rpc"
	"github.com/virtlxcd/virtlxcd/pkg/xdr"
)

func TestVirshConnectionCommands(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})

	out := d.MustVirsh(t, "version", "--daemon")
	for _, want := range []string{"Using API: LXC", "Running hypervisor: LXC", "Running against daemon: 9.0.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("virsh version: missing %q in\n%s", want, out)
		}
	}
	host, _ := os.Hostname()
	if got := strings.TrimSpace(d.MustVirsh(t, "hostname")); got != host {
		t.Errorf("hostname = %q, want %q", got, host)
	}
	if got := strings.TrimSpace(d.MustVirsh(t, "uri")); got != d.URI() {
		t.Errorf("uri = %q, want %q", got, d.URI())
	}
	ni := d.MustVirsh(t, "nodeinfo")
	if !regexp.MustCompile(`CPU model:\s+x86_64`).MatchString(ni) || !regexp.MustCompile(`Memory size:\s+\d+ KiB`).MatchString(ni) {
		t.Errorf("nodeinfo:\n%s", ni)
	}
	caps := d.MustVirsh(t, "capabilities")
	if !strings.Contains(caps, "<os_type>exe</os_type>") || !strings.Contains(caps, `<domain type="lxc">`) {
		t.Errorf("capabilities:\n%s", caps)
	}
	d.MustVirsh(t, "list", "--all")

	ro := d.VirshRO("list", "--all")
	if ro.Code != 0 {
		t.Errorf("virsh -r list --all: %v", ro)
	}
	if r := d.VirshRO("hostname"); r.Code != 0 || strings.TrimSpace(r.Stdout) != host {
		t.Errorf("virsh -r hostname: %v", r)
	}
}

func TestOtherDriverRefused(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	r := daemontest.Run("virsh", "-c", "qemu+unix:///system?socket="+d.RW, "version")
	if r.Code == 0 || !strings.Contains(r.Stderr, "no connection driver available for qemu:///system") {
		t.Errorf("qemu URI: %v", r)
	}
	r = daemontest.Run("virsh", "-c", "lxc+unix:///session?socket="+d.RW, "version")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Unexpected LXC URI path '/session', try lxc:///system") {
		t.Errorf("session URI: %v", r)
	}
	// The daemon keeps serving.
	d.MustVirsh(t, "hostname")
}

func dialGoLibvirt(t *testing.T, sock string) *libvirt.Libvirt {
	t.Helper()
	l := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(sock), dialers.WithLocalTimeout(5*time.Second)))
	if err := l.ConnectToURI(libvirt.ConnectURI("lxc:///system")); err != nil {
		t.Fatalf("go-libvirt connect: %v", err)
	}
	t.Cleanup(func() { l.Disconnect() })
	return l
}

func TestGoLibvirtClient(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	l := dialGoLibvirt(t, d.RW)
	v, err := l.ConnectGetLibVersion()
	if err != nil || v != 9000000 {
		t.Errorf("lib version = %d, %v", v, err)
	}
	hv, err := l.ConnectGetVersion()
	if err != nil || hv < 3000000 {
		t.Errorf("hypervisor version = %d, %v", hv, err)
	}
	typ, err := l.ConnectGetType()
	if err != nil || typ != "LXC" {
		t.Errorf("type = %q, %v", typ, err)
	}
	model, mem, cpus, _, _, _, _, _, err := l.NodeGetInfo()
	if err != nil || cpus < 1 || mem == 0 || !strings.HasPrefix(string(int8sToBytes(model[:])), "x86_64") {
		t.Errorf("NodeGetInfo: %v %d %d %v", model[:6], mem, cpus, err)
	}
	caps, err := l.ConnectGetCapabilities()
	if err != nil || !strings.Contains(caps, "exe") {
		t.Errorf("capabilities: %v", err)
	}
	doms, _, err := l.ConnectListAllDomains(1, 3)
	if err != nil {
		t.Errorf("list all: %v", err)
	}
	_ = doms
	uri, err := l.ConnectGetUri()
	if err != nil || uri != "lxc:///system" {
		t.Errorf("uri = %q %v", uri, err)
	}
	// A known procedure without an implementation answers "not supported".
	_, err = l.DomainSnapshotNum(libvirt.Domain{Name: "x", ID: -1}, 0)
	if le, ok := err.(libvirt.Error); !ok || le.Code != 3 || !strings.Contains(le.Message, "not supported by the connection driver: virDomainSnapshotNum") {
		t.Errorf("snapshot num: %v", err)
	}
}

func int8sToBytes(in []int8) []byte {
	out := make([]byte, 0, len(in))
	for _, c := range in {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return out
}

func TestReadOnlySocketRefusesWrites(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	l := dialGoLibvirt(t, d.RO)
	_, err := l.DomainDefineXML("<domain type='lxc'><name>ro</name></domain>")
	le, ok := err.(libvirt.Error)
	if !ok || le.Code != 29 || le.Message != "operation forbidden: read only access prevents virDomainDefineXML" {
		t.Fatalf("define on ro socket: %#v", err)
	}
	// A RO connection can still read.
	if _, err := l.ConnectGetHostname(); err != nil {
		t.Errorf("hostname on ro: %v", err)
	}
	// The read-only flag of CONNECT_OPEN makes a rw-socket connection read-only too.
	r := daemontest.Run("virsh", "-c", d.URI(), "-r", "autostart", "nope")
	if r.Code == 0 {
		t.Errorf("virsh -r on rw socket changed something: %v", r)
	}
}

func sockMode(t *testing.T, path string) (os.FileMode, uint32) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Gid
}

func TestSocketPermsAndGroup(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Config: `
unix_sock_group = "daemon"
unix_sock_ro_perms = "0755"
unix_sock_rw_perms = "0770"
unix_sock_admin_perms = "0700"
`})
	want := map[string]os.FileMode{d.RW: 0o770, d.RO: 0o755, d.Admin: 0o700}
	for path, mode := range want {
		m, gid := sockMode(t, path)
		if m != mode {
			t.Errorf("%s: mode %o, want %o", filepath.Base(path), m, mode)
		}
		if gid != 1 { // "daemon" is gid 1 on Debian
			t.Errorf("%s: gid %d, want 1", filepath.Base(path), gid)
		}
	}
	// Defaults: rw 0700, ro 0777, admin 0700.
	d2 := daemontest.Start(t, daemontest.Options{})
	for path, mode := range map[string]os.FileMode{d2.RW: 0o700, d2.RO: 0o777, d2.Admin: 0o700} {
		if m, _ := sockMode(t, path); m != mode {
			t.Errorf("default %s: mode %o, want %o", filepath.Base(path), m, mode)
		}
	}
}

func TestStaleSocketReplacedAndSecondInstanceRefused(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	pid, err := os.ReadFile(d.PIDFile)
	if err != nil || string(pid) != strconv.Itoa(d.Cmd.Process.Pid) {
		t.Fatalf("pid file %q (%v), want %d", pid, err, d.Cmd.Process.Pid)
	}
	second := daemontest.Start(t, daemontest.Options{Prefix: d.Prefix, NoWait: true})
	code, ok := second.ExitCode(10 * time.Second)
	if !ok || code != 1 || !strings.Contains(second.Output(), "Failed to acquire pid file") {
		t.Fatalf("second instance: exited=%v code=%d\n%s", ok, code, second.Output())
	}
	// The first still serves.
	d.MustVirsh(t, "hostname")

	// Crash: the sockets and pid file stay behind; a restart replaces them.
	d.Kill9()
	if _, err := os.Stat(d.RW); err != nil {
		t.Fatalf("expected a stale socket after kill -9: %v", err)
	}
	third := daemontest.Start(t, daemontest.Options{Prefix: d.Prefix})
	third.MustVirsh(t, "hostname")
	third.Stop(t)
	if _, err := os.Stat(third.PIDFile); !os.IsNotExist(err) {
		t.Errorf("pid file left after clean exit: %v", err)
	}
	if _, err := os.Stat(third.RW); !os.IsNotExist(err) {
		t.Errorf("socket left after clean exit: %v", err)
	}
}

func TestSocketActivation(t *testing.T) {
	daemontest.RequireRoot(t)
	if _, err := exec.LookPath("systemd-socket-activate"); err != nil {
		t.Skip("systemd-socket-activate not installed")
	}
	bin := daemontest.Binary(t)
	dir := t.TempDir()
	rw, ro, adm := filepath.Join(dir, "rw"), filepath.Join(dir, "ro"), filepath.Join(dir, "adm")
	start := func(names string, args ...string) (*exec.Cmd, *strings.Builder) {
		var out strings.Builder
		// systemd-socket-activate passes on only the variables named by -E.
		all := []string{"-l", rw, "-l", ro, "-l", adm, "--fdname=" + names, "-E", "VIRTLXCD_PREFIX=" + dir, bin}
		cmd := exec.Command("systemd-socket-activate", append(all, args...)...)
		cmd.Stderr, cmd.Stdout = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}
	cmd, out := start("virtlxcd.socket:virtlxcd-ro.socket:virtlxcd-admin.socket")
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(adm); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// systemd-socket-activate starts the daemon on the first connection.
	r := daemontest.Run("virsh", "-c", "lxc+unix:///system?socket="+rw, "hostname")
	if r.Code != 0 {
		t.Fatalf("virsh through activated socket: %v\n%s", r, out.String())
	}
	r = daemontest.Run("virsh", "-r", "-c", "lxc+unix:///system?socket="+ro, "list", "--all")
	if r.Code != 0 {
		t.Fatalf("virsh -r through activated socket: %v", r)
	}
	// In activation mode the daemon creates no sockets of its own.
	if _, err := os.Stat(filepath.Join(dir, "run", "libvirt", "virtlxcd-sock")); !os.IsNotExist(err) {
		t.Errorf("daemon created its own socket in activation mode: %v", err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	// A descriptor with a name the daemon does not know is fatal.
	os.Remove(rw)
	os.Remove(ro)
	os.Remove(adm)
	bad, badOut := start("virtlxcd.socket:bogus.socket:virtlxcd-admin.socket")
	done := make(chan error, 1)
	exited := make(chan struct{})
	go func() { done <- bad.Wait(); close(exited) }()
	t.Cleanup(func() { bad.Process.Kill(); <-exited })
	// The first connection makes systemd-socket-activate start the daemon.
	if err := daemontest.WaitSocket(rw, 10*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 6 || !strings.Contains(badOut.String(), "unclaimed") {
			t.Errorf("unclaimed fd: %v\n%s", err, badOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Errorf("daemon with an unclaimed fd did not exit\n%s", badOut.String())
	}
}

func TestDaemonize(t *testing.T) {
	daemontest.RequireRoot(t)
	bin := daemontest.Binary(t)
	prefix := t.TempDir()
	sock := filepath.Join(prefix, "run", "libvirt", "virtlxcd-sock")
	pidPath := filepath.Join(prefix, "my.pid")
	cmd := exec.Command(bin, "-d", "-p", pidPath)
	cmd.Env = append(os.Environ(), "VIRTLXCD_PREFIX="+prefix)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("virtlxcd -d: %v\n%s", err, out)
	}
	b, err := os.ReadFile(pidPath)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, _ := strconv.Atoi(string(b))
	proc, _ := os.FindProcess(pid)
	t.Cleanup(func() { proc.Signal(syscall.SIGKILL) })
	// The parent returned only after the child was listening.
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("socket not ready when -d returned: %v", err)
	}
	c.Close()
	if r := daemontest.Run("virsh", "-c", "lxc+unix:///system?socket="+sock, "hostname"); r.Code != 0 {
		t.Errorf("virsh against daemonized: %v", r)
	}
	proc.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(pidPath); os.IsNotExist(err) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(pidPath); !os.IsNotExist(err) {
		t.Errorf("pid file still there after SIGTERM")
	}

	// A child that fails makes the parent fail with its reason.
	bad := exec.Command(bin, "-d", "-f", filepath.Join(prefix, "missing.conf"))
	bad.Env = cmd.Env
	out, err = bad.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Errorf("-d with missing config: %v\n%s", err, out)
	}
}

func TestIdleTimeout(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Args: []string{"--timeout", "2"}})
	// Keep a client connected for longer than the timeout.
	c, err := net.Dial("unix", d.RW)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.Exited():
		t.Fatalf("daemon exited with a client connected\n%s", d.Output())
	case <-time.After(3500 * time.Millisecond):
	}
	c.Close()
	start := time.Now()
	code, ok := d.ExitCode(10 * time.Second)
	if !ok || code != 0 {
		t.Fatalf("daemon did not exit cleanly when idle: exited=%v code=%d\n%s", ok, code, d.Output())
	}
	if el := time.Since(start); el < 1500*time.Millisecond {
		t.Errorf("exited %v after the last client left; want about 2s", el)
	}
}

func TestSighupReappliesLogging(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "daemon.log")
	d := daemontest.Start(t, daemontest.Options{Config: fmt.Sprintf("log_level = 4\nlog_outputs = \"4:file:%s\"\n", logFile)})
	d.MustVirsh(t, "hostname")
	b, _ := os.ReadFile(logFile)
	if strings.Contains(string(b), "debug") {
		t.Fatalf("debug output at log_level 4:\n%s", b)
	}
	conf := fmt.Sprintf("unix_sock_dir = %q\nlog_level = 1\nlog_outputs = \"1:file:%s\"\n", d.SockDir, logFile)
	if err := os.WriteFile(d.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		d.MustVirsh(t, "hostname")
		b, _ = os.ReadFile(logFile)
		if strings.Contains(string(b), "debug") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no debug output after SIGHUP raised the level:\n%s", b)
}

func TestNonRootRefused(t *testing.T) {
	daemontest.RequireRoot(t)
	bin := daemontest.Binary(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "VIRTLXCD_PREFIX="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 5 || !strings.Contains(string(out), "must be run as root") {
		t.Errorf("non-root: %v\n%s", err, out)
	}
}

func TestCLI(t *testing.T) {
	bin := daemontest.Binary(t)
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "virtlxcd (libvirt) 0.1.0" {
		t.Errorf("--version: %q %v", out, err)
	}
	help, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Errorf("--help: %v", err)
	}
	for _, opt := range []string{"--help, -h", "--daemon, -d", "--config FILE, -f FILE", "--pid-file FILE, -p FILE", "--timeout SECONDS, -t SECONDS", "--verbose, -v", "--version"} {
		if !strings.Contains(string(help), opt) {
			t.Errorf("--help lacks %q:\n%s", opt, help)
		}
	}
	cmd := exec.Command(bin, "extra")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "unexpected, non-option") {
		t.Errorf("non-option argument: %v %s", err, out)
	}
	if out, err := exec.Command(bin, "--bogus").CombinedOutput(); err == nil {
		t.Errorf("unknown option accepted: %s", out)
	}
}

// rawConn speaks the wire protocol directly, for inputs no client sends.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func rawDial(t *testing.T, path string) *rawConn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (rc *rawConn) call(prog, vers uint32, proc int32, serial uint32, payload []byte) {
	rc.c.Write(rpc.Packet(rpc.Header{Prog: prog, Vers: vers, Proc: proc, Type: rpc.TypeCall, Serial: serial}, payload))
}

// read returns the next packet's header and payload, or an error when the
// daemon closes the connection.
func (rc *rawConn) read() (rpc.Header, []byte, error) {
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var lw [4]byte
	if _, err := io.ReadFull(rc.r, lw[:]); err != nil {
		return rpc.Header{}, nil, err
	}
	n := binary.BigEndian.Uint32(lw[:])
	buf := make([]byte, n-4)
	if _, err := io.ReadFull(rc.r, buf); err != nil {
		return rpc.Header{}, nil, err
	}
	h, err := rpc.DecodeHeader(buf)
	return h, buf[rpc.HeaderSize:], err
}

func (rc *rawConn) expectError(what, msg string) {
	rc.t.Helper()
	h, payload, err := rc.read()
	if err != nil {
		rc.t.Fatalf("%s: %v", what, err)
	}
	if h.Status != rpc.StatusError {
		rc.t.Fatalf("%s: status %d, want error", what, h.Status)
	}
	e := rpc.DecodeError(xdr.NewDecoder(payload))
	if !strings.Contains(e.Message, msg) {
		rc.t.Fatalf("%s: error %q, want %q", what, e.Message, msg)
	}
}

func (rc *rawConn) expectClosed(what string) {
	rc.t.Helper()
	if _, _, err := rc.read(); err == nil {
		rc.t.Fatalf("%s: connection still open", what)
	}
}

const remoteProg = 0x20008086

func TestMalformedInput(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})

	rc := rawDial(t, d.RW)
	rc.call(remoteProg, 1, 9999, 1, nil)
	rc.expectError("unknown procedure", "unknown procedure: 9999")
	rc.call(0x12345678, 1, 1, 2, nil)
	rc.expectError("unknown program", fmt.Sprintf("Cannot find program %d version 1", 0x12345678))
	rc.call(remoteProg, 7, 1, 3, nil)
	rc.expectError("wrong version", "Cannot find program")
	// CONNECT_OPEN whose string claims more bytes than the packet holds.
	e := xdr.NewEncoder(nil)
	e.Uint32(1)
	e.Uint32(1000)
	rc.call(remoteProg, 1, 1, 4, e.Bytes())
	rc.expectError("garbage XDR", "Unable to decode message payload")
	// A call before CONNECT_OPEN.
	rc.call(remoteProg, 1, 59, 5, nil)
	rc.expectError("before open", "connection not open")
	// A CALL with a non-OK status.
	rc.c.Write(rpc.Packet(rpc.Header{Prog: remoteProg, Vers: 1, Proc: 66, Type: rpc.TypeCall, Serial: 6, Status: rpc.StatusError}, nil))
	rc.expectError("bad status", "Unexpected message status")

	// A length word beyond the 32 MiB maximum closes the connection.
	big := rawDial(t, d.RW)
	var lw [4]byte
	binary.BigEndian.PutUint32(lw[:], rpc.MaxPacket+1)
	big.c.Write(lw[:])
	big.expectClosed("oversized length")

	// A length shorter than a header.
	short := rawDial(t, d.RW)
	binary.BigEndian.PutUint32(lw[:], 10)
	short.c.Write(lw[:])
	short.expectClosed("undersized length")

	// A truncated packet, then the client goes away.
	trunc := rawDial(t, d.RW)
	binary.BigEndian.PutUint32(lw[:], 100)
	trunc.c.Write(append(lw[:], 1, 2, 3))
	trunc.c.Close()

	// Pipelined calls on one connection all get their answers.
	pipe := rawDial(t, d.RW)
	for i := uint32(0); i < 20; i++ {
		pipe.call(remoteProg, 1, 66, 100+i, nil)
	}
	seen := map[uint32]bool{}
	for i := 0; i < 20; i++ {
		h, _, err := pipe.read()
		if err != nil || h.Status != rpc.StatusOK {
			t.Fatalf("pipelined reply %d: %v %+v", i, err, h)
		}
		seen[h.Serial] = true
	}
	if len(seen) != 20 {
		t.Errorf("pipelined serials: %v", seen)
	}

	// Through all of it the daemon kept serving everybody else.
	d.MustVirsh(t, "hostname")
}

func TestKeepaliveDropsSilentClient(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Config: "keepalive_interval = 1\nkeepalive_count = 2\n"})
	rc := rawDial(t, d.RW)
	e := xdr.NewEncoder(nil)
	e.Int32(10) // VIR_DRV_FEATURE_PROGRAM_KEEPALIVE
	rc.call(remoteProg, 1, 60, 1, e.Bytes())
	h, payload, err := rc.read()
	if err != nil || h.Status != rpc.StatusOK || binary.BigEndian.Uint32(payload) != 1 {
		t.Fatalf("supports feature 10: %v %+v %x", err, h, payload)
	}
	pings := 0
	start := time.Now()
	for {
		h, _, err := rc.read()
		if err != nil {
			break
		}
		if h.Prog == rpc.KeepaliveProgram && h.Proc == rpc.KeepalivePing {
			pings++
		}
	}
	el := time.Since(start)
	if pings != 2 || el > 5*time.Second {
		t.Errorf("got %d PINGs before the drop after %v; want 2 within about 3s", pings, el)
	}

	// A client that answers the PINGs stays.
	rc2 := rawDial(t, d.RW)
	rc2.call(remoteProg, 1, 60, 1, e.Bytes())
	rc2.read()
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		h, _, err := rc2.read()
		if err != nil {
			t.Fatalf("answering client dropped: %v", err)
		}
		if h.Prog == rpc.KeepaliveProgram && h.Proc == rpc.KeepalivePing {
			rc2.c.Write(rpc.Packet(rpc.Header{Prog: rpc.KeepaliveProgram, Vers: 1, Proc: rpc.KeepalivePong, Type: rpc.TypeMessage}, nil))
		}
	}
	// It also gets a PONG for its own PING.
	rc2.c.Write(rpc.Packet(rpc.Header{Prog: rpc.KeepaliveProgram, Vers: 1, Proc: rpc.KeepalivePing, Type: rpc.TypeMessage}, nil))
	for {
		h, _, err := rc2.read()
		if err != nil {
			t.Fatalf("no PONG: %v", err)
		}
		if h.Prog == rpc.KeepaliveProgram && h.Proc == rpc.KeepalivePong {
			break
		}
	}
}

func TestMaxClients(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Config: "max_clients = 2\n"})
	// Let the harness's readiness probe connection be reaped first.
	time.Sleep(200 * time.Millisecond)
	a, b := rawDial(t, d.RW), rawDial(t, d.RW)
	for _, rc := range []*rawConn{a, b} {
		rc.call(remoteProg, 1, 66, 1, nil)
		if _, _, err := rc.read(); err != nil {
			t.Fatalf("client within the limit: %v", err)
		}
	}
	c := rawDial(t, d.RW)
	c.call(remoteProg, 1, 66, 1, nil)
	c.expectClosed("client over max_clients")
	a.c.Close()
	time.Sleep(200 * time.Millisecond)
	d.MustVirsh(t, "hostname")
}

func TestSdNotify(t *testing.T) {
	daemontest.RequireRoot(t)
	sockPath := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 10)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	expect := func(want string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("notify socket closed before %q", want)
				}
				if strings.Contains(m, want) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q notification", want)
			}
		}
	}
	d := daemontest.Start(t, daemontest.Options{Env: []string{"NOTIFY_SOCKET=" + sockPath}})
	expect("READY=1")
	d.Cmd.Process.Signal(syscall.SIGHUP)
	expect("RELOADING=1")
	expect("READY=1")
	d.Stop(t)
	expect("STOPPING=1")
}

func TestPolkitSocketRefusesNonRoot(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Config: "auth_unix_rw = \"polkit\"\n"})
	// polkit widens the rw socket like libvirt does...
	if m, _ := sockMode(t, d.RW); m != 0o777 {
		t.Errorf("rw socket mode %o with polkit, want 777", m)
	}
	// ...root is trusted...
	d.MustVirsh(t, "list", "--all")
	// ...and anybody else is refused, since there is no polkit agent here.
	cmd := exec.Command("virsh", "-c", d.URI(), "list", "--all")
	cmd.Env = append(os.Environ(), "HOME=/tmp")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "authentication failed") {
		t.Errorf("non-root on a polkit socket: %v\n%s", err, out)
	}
}

func TestSASLRefusedAtStart(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Config: "auth_unix_rw = \"sasl\"\n", NoWait: true})
	code, ok := d.ExitCode(10 * time.Second)
	if !ok || code != 7 || !strings.Contains(d.Output(), "not supported") {
		t.Errorf("sasl: exited=%v code=%d\n%s", ok, code, d.Output())
	}
}

func TestNodeStatistics(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	for args, res := range map[string][]string{
		"nodecpustats":   {`user:\s+\d+`, `system:\s+\d+`, `idle:\s+\d+`, `iowait:\s+\d+`},
		"nodecpustats 0": {`user:\s+\d+`},
		"nodememstats":   {`total\s*:\s+\d+ KiB`, `free\s*:\s+\d+ KiB`, `buffers:\s+\d+ KiB`, `cached\s*:\s+\d+ KiB`},
		"freecell --all": {`0:\s+\d+ KiB`},
		"nodecpumap":     {`CPUs present:\s+\d+`, `CPUs online:\s+\d+`, `CPU map:\s+y`},
	} {
		out := d.MustVirsh(t, strings.Fields(args)...)
		for _, re := range res {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("virsh %s: no %s in\n%s", args, re, out)
			}
		}
	}
	if r := d.Virsh("nodecpustats", "9999"); r.Code == 0 {
		t.Errorf("nodecpustats of a missing CPU succeeded")
	}
}
