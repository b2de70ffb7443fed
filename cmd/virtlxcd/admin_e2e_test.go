package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
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
	"github.com/virtlxcd/virtlxcd/pkg/admin"
	"github.com/virtlxcd/virtlxcd/pkg/rpc"
	"github.com/virtlxcd/virtlxcd/pkg/xdr"
)

// mustAdmin runs virt-admin and fails the test on a non-zero exit.
func mustAdmin(t *testing.T, d *daemontest.Daemon, args ...string) string {
	t.Helper()
	r := d.VirtAdmin(args...)
	if r.Code != 0 {
		t.Fatalf("virt-admin %s: %v", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// adminFails runs virt-admin expecting failure with want in its error.
func adminFails(t *testing.T, d *daemontest.Daemon, want string, args ...string) {
	t.Helper()
	r := d.VirtAdmin(args...)
	if r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Fatalf("virt-admin %s: want failure with %q, got %v", strings.Join(args, " "), want, r)
	}
}

// fields parses virt-admin's "name : value" listings.
func fields(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// clientIDs lists the ids in virt-admin's client-list table.
func clientIDs(out string) []uint64 {
	var ids []uint64
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			if id, err := strconv.ParseUint(f[0], 10, 64); err == nil && f[1] == "unix" {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

func goLibvirt(t *testing.T, sock string) *libvirt.Libvirt {
	t.Helper()
	l := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(sock), dialers.WithLocalTimeout(5*time.Second)))
	if err := l.ConnectToURI(libvirt.ConnectURI("lxc:///system")); err != nil {
		t.Fatalf("go-libvirt connect %s: %v", sock, err)
	}
	t.Cleanup(func() { l.Disconnect() })
	return l
}

// waitAdmin polls a virt-admin listing until cond accepts it.
func waitAdmin(t *testing.T, d *daemontest.Daemon, cond func(string) bool, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := mustAdmin(t, d, args...)
		if cond(out) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("virt-admin %s: condition not met; last output:\n%s", strings.Join(args, " "), out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAdminVersionServersThreadpool(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})

	if out := mustAdmin(t, d, "version"); !strings.Contains(out, "Running against daemon: 9.0.0") {
		t.Errorf("version:\n%s", out)
	}

	out := mustAdmin(t, d, "srv-list")
	if !regexp.MustCompile(`(?m)^\s*0\s+virtlxcd\s*$`).MatchString(out) || !regexp.MustCompile(`(?m)^\s*1\s+admin\s*$`).MatchString(out) {
		t.Errorf("srv-list:\n%s", out)
	}

	info := fields(mustAdmin(t, d, "srv-threadpool-info", "virtlxcd"))
	for _, k := range []string{"minWorkers", "maxWorkers", "nWorkers", "freeWorkers", "prioWorkers", "jobQueueDepth"} {
		if _, err := strconv.ParseUint(info[k], 10, 32); err != nil {
			t.Fatalf("srv-threadpool-info: %s = %q (%v)", k, info[k], info)
		}
	}
	// virtlxcd.conf defaults: min 5, max 20, prio 5.
	if info["minWorkers"] != "5" || info["maxWorkers"] != "20" || info["prioWorkers"] != "5" {
		t.Errorf("default pool: %v", info)
	}

	mustAdmin(t, d, "srv-threadpool-set", "virtlxcd", "--max-workers", "30", "--min-workers", "7")
	info = fields(mustAdmin(t, d, "srv-threadpool-info", "virtlxcd"))
	if n, _ := strconv.Atoi(info["nWorkers"]); info["maxWorkers"] != "30" || info["minWorkers"] != "7" || n < 7 {
		t.Errorf("after srv-threadpool-set: %v", info)
	}
	adminFails(t, d, "minWorkers cannot be larger than maxWorkers", "srv-threadpool-set", "virtlxcd", "--min-workers", "31")
	if info = fields(mustAdmin(t, d, "srv-threadpool-info", "virtlxcd")); info["minWorkers"] != "7" {
		t.Errorf("a refused change altered the pool: %v", info)
	}
	// Priority workers are started at once.
	mustAdmin(t, d, "srv-threadpool-set", "virtlxcd", "--priority-workers", "8")
	waitAdmin(t, d, func(s string) bool { return fields(s)["prioWorkers"] == "8" }, "srv-threadpool-info", "virtlxcd")
	// The main server still serves calls with its new pool.
	d.MustVirsh(t, "hostname")

	// The admin server is a server of its own.
	mustAdmin(t, d, "srv-threadpool-set", "admin", "--max-workers", "12")
	if info = fields(mustAdmin(t, d, "srv-threadpool-info", "admin")); info["maxWorkers"] != "12" {
		t.Errorf("admin pool after set: %v", info)
	}

	adminFails(t, d, "Server not found: No server named 'libvirtd'", "srv-threadpool-info", "libvirtd")
	adminFails(t, d, "no tls service found, unable to update tls files", "srv-update-tls", "virtlxcd")
}

func TestAdminClients(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	rw := goLibvirt(t, d.RW)
	if _, err := rw.ConnectGetLibVersion(); err != nil {
		t.Fatal(err)
	}

	out := mustAdmin(t, d, "client-list", "virtlxcd")
	ids := clientIDs(out)
	if len(ids) != 1 {
		t.Fatalf("client-list with one connection:\n%s", out)
	}
	rwID := ids[0]
	ro := goLibvirt(t, d.RO)
	out = waitAdmin(t, d, func(s string) bool { return len(clientIDs(s)) == 2 }, "client-list", "virtlxcd")
	roID := clientIDs(out)[1]

	for _, c := range []struct {
		id       uint64
		readonly string
	}{{rwID, "no"}, {roID, "yes"}} {
		info := fields(mustAdmin(t, d, "client-info", "virtlxcd", strconv.FormatUint(c.id, 10)))
		want := map[string]string{
			"id": strconv.FormatUint(c.id, 10), "transport": "unix", "readonly": c.readonly,
			"unix_user_id": "0", "unix_user_name": "root", "unix_group_id": "0", "unix_group_name": "root",
			"unix_process_id": strconv.Itoa(os.Getpid()),
		}
		for k, v := range want {
			if info[k] != v {
				t.Errorf("client-info %d: %s = %q, want %q (%v)", c.id, k, info[k], v, info)
			}
		}
		ts, err := time.Parse("2006-01-02 15:04:05-0700", info["connection_time"])
		if err != nil || time.Since(ts) > time.Minute || time.Until(ts) > time.Second {
			t.Errorf("client-info %d: connection_time %q (%v)", c.id, info["connection_time"], err)
		}
	}

	// Disconnect the read-write client by id: its next call fails, the
	// other connection goes on.
	out = mustAdmin(t, d, "client-disconnect", "virtlxcd", strconv.FormatUint(rwID, 10))
	if !strings.Contains(out, "disconnected") {
		t.Errorf("client-disconnect: %q", out)
	}
	if _, err := rw.ConnectGetLibVersion(); err == nil {
		t.Fatal("a disconnected client's call succeeded")
	}
	if _, err := ro.ConnectGetLibVersion(); err != nil {
		t.Fatalf("the other client was hurt: %v", err)
	}
	waitAdmin(t, d, func(s string) bool { ids := clientIDs(s); return len(ids) == 1 && ids[0] == roID }, "client-list", "virtlxcd")
	adminFails(t, d, "No client with matching ID '"+strconv.FormatUint(rwID, 10)+"'", "client-info", "virtlxcd", strconv.FormatUint(rwID, 10))
	adminFails(t, d, "No client with matching ID '99999'", "client-disconnect", "virtlxcd", "99999")

	// virt-admin's own connection shows on the admin server.
	if ids := clientIDs(mustAdmin(t, d, "client-list", "admin")); len(ids) != 1 {
		t.Errorf("admin server clients: %v", ids)
	}
}

func TestAdminClientLimits(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	held := goLibvirt(t, d.RW)

	info := waitAdmin(t, d, func(s string) bool { return fields(s)["nclients"] == "1" }, "srv-clients-info", "virtlxcd")
	if f := fields(info); f["nclients_max"] != "5000" || f["nclients_unauth_max"] != "20" || f["nclients_unauth"] != "0" {
		t.Errorf("srv-clients-info defaults: %v", f)
	}

	adminFails(t, d, "must not be less than the overall maximum number of clients", "srv-clients-set", "virtlxcd", "--max-clients", "1")
	mustAdmin(t, d, "srv-clients-set", "virtlxcd", "--max-clients", "1", "--max-unauth-clients", "0")
	if f := fields(mustAdmin(t, d, "srv-clients-info", "virtlxcd")); f["nclients_max"] != "1" || f["nclients_unauth_max"] != "0" {
		t.Errorf("srv-clients-info after set: %v", f)
	}
	// The server is full: a new virsh is refused, the held client works.
	if r := d.Virsh("hostname"); r.Code == 0 {
		t.Fatalf("virsh connected past max_clients=1: %v", r)
	}
	if _, err := held.ConnectGetLibVersion(); err != nil {
		t.Fatalf("held client: %v", err)
	}

	mustAdmin(t, d, "srv-clients-set", "virtlxcd", "--max-clients", "100")
	d.MustVirsh(t, "hostname")
	if f := fields(mustAdmin(t, d, "srv-clients-info", "virtlxcd")); f["nclients_max"] != "100" {
		t.Errorf("srv-clients-info after raise: %v", f)
	}
}

func TestAdminLogging(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	logFile := filepath.Join(t.TempDir(), "daemon.log")

	// virt-admin -q prints the bare list: nothing when no filter is set.
	if f := strings.TrimSpace(mustAdmin(t, d, "daemon-log-filters")); f != "" {
		t.Errorf("default filters: %q", f)
	}
	mustAdmin(t, d, "daemon-log-outputs", "1:file:"+logFile)
	if out := mustAdmin(t, d, "daemon-log-outputs"); !strings.Contains(out, "1:file:"+logFile) {
		t.Errorf("daemon-log-outputs: %q", out)
	}

	// Without a filter the global level (warnings) holds back the rpc
	// layer's debug records; with "1:rpc" they reach the new output.
	d.MustVirsh(t, "hostname")
	rpcDebug := regexp.MustCompile(`(?m)debug.*rpc`)
	if b, _ := os.ReadFile(logFile); rpcDebug.Match(b) {
		t.Fatalf("rpc debug records logged before the filter was set:\n%s", b)
	}
	mustAdmin(t, d, "daemon-log-filters", "1:rpc")
	if out := mustAdmin(t, d, "daemon-log-filters"); !strings.Contains(out, "rpc") {
		t.Errorf("daemon-log-filters: %q", out)
	}
	d.MustVirsh(t, "hostname")
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(logFile)
		if rpcDebug.Match(b) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rpc debug record in %s after setting the filter:\n%s", logFile, b)
		}
		time.Sleep(50 * time.Millisecond)
	}

	adminFails(t, d, "Malformed format for log output 'bogus'", "daemon-log-outputs", "bogus")
	if out := mustAdmin(t, d, "daemon-log-outputs"); !strings.Contains(out, logFile) {
		t.Errorf("a refused output change altered the outputs: %q", out)
	}
	// Back to stderr: records stop going to the file.
	mustAdmin(t, d, "daemon-log-outputs", "1:stderr")
	before, _ := os.ReadFile(logFile)
	d.MustVirsh(t, "hostname")
	if after, _ := os.ReadFile(logFile); !bytes.Equal(before, after) {
		t.Errorf("file output still written after switching to stderr")
	}
}

func TestAdminDaemonTimeout(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	mustAdmin(t, d, "daemon-timeout", "--timeout", "1")
	// virt-admin has hung up, nothing runs: the daemon leaves on its own.
	code, ok := d.ExitCode(15 * time.Second)
	if !ok {
		t.Fatalf("daemon still running 15s after daemon-timeout 1\n%s", d.Output())
	}
	if code != 0 {
		t.Fatalf("daemon exit code %d after idle timeout\n%s", code, d.Output())
	}
}

// The admin program is served only on the admin socket, the remote program
// only on the others.
func TestAdminProgramOnlyOnAdminSocket(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	for _, sock := range []string{d.RW, d.RO} {
		r := daemontest.Run("virt-admin", "-q", "-c", "virtlxcd:///system?socket="+sock, "srv-list")
		if r.Code == 0 || !strings.Contains(r.Stderr, "Cannot find program 110102160 version 1") {
			t.Errorf("virt-admin on %s: %v", sock, r)
		}
		// The same refusal on the wire, from a raw admin CONNECT_OPEN.
		if msg := rawAdminOpen(t, sock); msg != "Cannot find program 110102160 version 1" {
			t.Errorf("raw admin open on %s: %q", sock, msg)
		}
	}
	if msg := rawAdminOpen(t, d.Admin); msg != "" {
		t.Errorf("raw admin open on the admin socket: %q", msg)
	}
	r := daemontest.Run("virsh", "-q", "-c", "lxc+unix:///system?socket="+d.Admin, "hostname")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Cannot find program 536903814 version 1") {
		t.Errorf("virsh on the admin socket: %v", r)
	}
	mustAdmin(t, d, "srv-list")
}

// rawAdminOpen sends ADMIN_PROC_CONNECT_OPEN and returns the error
// message of the reply ("" on success).
func rawAdminOpen(t *testing.T, sock string) string {
	t.Helper()
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	args := xdr.NewEncoder(nil)
	args.Uint32(0)
	pkt := rpc.Packet(rpc.Header{Prog: admin.ProgramNumber, Vers: admin.ProgramVersion, Proc: 1, Type: rpc.TypeCall, Serial: 7}, args.Bytes())
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	var lw [4]byte
	if _, err := io.ReadFull(r, lw[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(lw[:])-4)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	h, _ := rpc.DecodeHeader(body)
	if h.Serial != 7 || h.Type != rpc.TypeReply {
		t.Fatalf("reply header %+v", h)
	}
	if h.Status == rpc.StatusOK {
		return ""
	}
	dec := xdr.NewDecoder(body[rpc.HeaderSize:])
	dec.Int32()
	dec.Int32()
	if m := dec.OptString(); m != nil {
		return *m
	}
	return "(no message)"
}

// The admin socket is root-only by default; opened up by
// unix_sock_admin_perms, it still serves only the daemon's own user, as
// libvirt does.
func TestAdminSocketRootOnly(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	st, err := os.Stat(d.Admin)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o700 {
		t.Errorf("admin socket mode %o, want 700", perm)
	}

	open := daemontest.Start(t, daemontest.Options{Config: `unix_sock_admin_perms = "0777"`})
	// Let an unprivileged user reach the socket through the private tree.
	for dir := open.SockDir; dir != filepath.Dir(open.Prefix); dir = filepath.Dir(dir) {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "virt-admin", "-q", "-c", open.AdminURI(), "srv-list")
	cmd.Env = append(os.Environ(), "HOME="+os.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Disallowing client") || !strings.Contains(string(out), "uid 65534") {
		t.Errorf("virt-admin as uid 65534: err=%v\n%s", err, out)
	}
	mustAdmin(t, open, "srv-list")
}
