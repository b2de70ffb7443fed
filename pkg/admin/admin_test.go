package admin

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/virtlxcd/virtlxcd/pkg/logging"
	"github.com/virtlxcd/virtlxcd/pkg/rpc"
	"github.com/virtlxcd/virtlxcd/pkg/version"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
	"github.com/virtlxcd/virtlxcd/pkg/xdr"
)

// fixture is a main server and an admin server on real UNIX sockets in a
// temp dir, with the admin program on the admin server only, wired the
// way the daemon wires it.
type fixture struct {
	main, admin    *rpc.Server
	rwPath, roPath string
	adminPath      string
	logs           *logging.Manager
	timeout        atomic.Int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	discard := slog.New(slog.DiscardHandler)
	f := &fixture{
		main:      rpc.NewServer("virtlxcd", rpc.Config{MaxClients: 10, MaxAnonymousClients: 5, MaxClientRequests: 5, MinWorkers: 2, MaxWorkers: 20, PrioWorkers: 1}, discard),
		admin:     rpc.NewServer("admin", rpc.Config{MaxClients: 5, MaxAnonymousClients: 5, MaxClientRequests: 5, MinWorkers: 1, MaxWorkers: 5}, discard),
		rwPath:    filepath.Join(dir, "rw"),
		roPath:    filepath.Join(dir, "ro"),
		adminPath: filepath.Join(dir, "admin"),
		logs:      logging.New(),
	}
	f.timeout.Store(-1)
	f.admin.AddProgram(New(Options{
		Servers:    []*rpc.Server{f.main, f.admin},
		Logging:    f.logs,
		SetTimeout: func(s int64) { f.timeout.Store(s) },
		Logger:     discard,
	}))
	for _, s := range []struct {
		srv  *rpc.Server
		path string
		ro   bool
	}{{f.main, f.rwPath, false}, {f.main, f.roPath, true}, {f.admin, f.adminPath, false}} {
		l, err := net.Listen("unix", s.path)
		if err != nil {
			t.Fatal(err)
		}
		s.srv.Serve(l, s.ro)
	}
	t.Cleanup(func() {
		f.main.Shutdown()
		f.admin.Shutdown()
		f.logs.Close()
	})
	return f
}

// conn is a minimal libvirt RPC client speaking raw packets.
type conn struct {
	t      *testing.T
	c      net.Conn
	serial uint32
}

func dial(t *testing.T, path string) *conn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{t: t, c: c}
}

type reply struct {
	hdr rpc.Header
	d   *xdr.Decoder
	err *virterror.Error
}

func (c *conn) call(prog uint32, proc int32, args func(e *xdr.Encoder)) (reply, error) {
	e := xdr.NewEncoder(nil)
	if args != nil {
		args(e)
	}
	c.serial++
	pkt := rpc.Packet(rpc.Header{Prog: prog, Vers: 1, Proc: proc, Type: rpc.TypeCall, Serial: c.serial}, e.Bytes())
	c.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.c.Write(pkt); err != nil {
		return reply{}, err
	}
	var lw [4]byte
	if _, err := io.ReadFull(c.c, lw[:]); err != nil {
		return reply{}, err
	}
	body := make([]byte, binary.BigEndian.Uint32(lw[:])-4)
	if _, err := io.ReadFull(c.c, body); err != nil {
		return reply{}, err
	}
	h, err := rpc.DecodeHeader(body)
	if err != nil {
		return reply{}, err
	}
	r := reply{hdr: h, d: xdr.NewDecoder(body[rpc.HeaderSize:])}
	if h.Serial != c.serial || h.Type != rpc.TypeReply {
		return r, errors.New("unexpected reply header")
	}
	if h.Status == rpc.StatusError {
		ve := &virterror.Error{Code: virterror.Code(r.d.Int32()), Domain: virterror.Domain(r.d.Int32())}
		if m := r.d.OptString(); m != nil {
			ve.Message = *m
		}
		r.err = ve
	}
	return r, nil
}

// admin makes an admin call and fails the test on transport errors.
func (c *conn) admin(proc int32, args func(e *xdr.Encoder)) reply {
	c.t.Helper()
	r, err := c.call(ProgramNumber, proc, args)
	if err != nil {
		c.t.Fatalf("admin proc %d: %v", proc, err)
	}
	return r
}

func (c *conn) mustAdmin(proc int32, args func(e *xdr.Encoder)) *xdr.Decoder {
	c.t.Helper()
	r := c.admin(proc, args)
	if r.err != nil {
		c.t.Fatalf("admin proc %d: %v", proc, r.err)
	}
	return r.d
}

func openAdmin(t *testing.T, f *fixture) *conn {
	t.Helper()
	c := dial(t, f.adminPath)
	c.mustAdmin(1, func(e *xdr.Encoder) { e.Uint32(0) })
	return c
}

func wantErr(t *testing.T, r reply, code virterror.Code, dom virterror.Domain, msg string) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("call succeeded, want error %d/%d %q", code, dom, msg)
	}
	if r.err.Code != code || r.err.Domain != dom || r.err.Message != msg {
		t.Fatalf("got error %d/%d %q, want %d/%d %q", r.err.Code, r.err.Domain, r.err.Message, code, dom, msg)
	}
}

func paramMap(t *testing.T, d *xdr.Decoder, limit int) map[string]Param {
	t.Helper()
	ps, err := DecodeParams(d, limit)
	if err != nil || d.Done() != nil {
		t.Fatalf("params: %v / %v", err, d.Done())
	}
	m := map[string]Param{}
	for _, p := range ps {
		m[p.Field] = p
	}
	return m
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func server(name string) func(e *xdr.Encoder) {
	return func(e *xdr.Encoder) { e.String(name); e.Uint32(0) }
}

func TestVersionAndServers(t *testing.T) {
	f := newFixture(t)
	c := openAdmin(t, f)

	if v := c.mustAdmin(3, nil).Uint64(); v != version.LibvirtAPI {
		t.Fatalf("lib version %d, want %d", v, version.LibvirtAPI)
	}

	d := c.mustAdmin(4, func(e *xdr.Encoder) { e.Uint32(1); e.Uint32(0) })
	n := d.Uint32()
	var names []string
	for i := uint32(0); i < n; i++ {
		names = append(names, d.String())
	}
	if total := d.Uint32(); strings.Join(names, ",") != "virtlxcd,admin" || total != 2 || d.Done() != nil {
		t.Fatalf("servers %v total %d (%v)", names, total, d.Done())
	}
	// need_results = 0 asks only for the count.
	d = c.mustAdmin(4, func(e *xdr.Encoder) { e.Uint32(0); e.Uint32(0) })
	if n, total := d.Uint32(), d.Uint32(); n != 0 || total != 2 {
		t.Fatalf("count-only listing: %d entries, total %d", n, total)
	}
	wantErr(t, c.admin(4, func(e *xdr.Encoder) { e.Uint32(1); e.Uint32(4) }),
		virterror.InvalidArg, virterror.FromAdmin, "unsupported flags (0x4) in function adminConnectListServers")

	if got := c.mustAdmin(5, server("admin")).String(); got != "admin" {
		t.Fatalf("lookup returned %q", got)
	}
	wantErr(t, c.admin(5, server("libvirtd")), virterror.NoServer, virterror.FromRPC, "Server not found: No server named 'libvirtd'")

	wantErr(t, c.admin(18, server("virtlxcd")), virterror.InternalError, virterror.FromRPC,
		"internal error: no tls service found, unable to update tls files")
	wantErr(t, c.admin(18, server("nope")), virterror.NoServer, virterror.FromRPC, "Server not found: No server named 'nope'")
}

func TestThreadpool(t *testing.T) {
	f := newFixture(t)
	c := openAdmin(t, f)
	get := func() map[string]Param { return paramMap(t, c.mustAdmin(6, server("virtlxcd")), threadpoolParamsMax) }
	set := func(ps ...Param) reply {
		return c.admin(7, func(e *xdr.Encoder) { e.String("virtlxcd"); EncodeParams(e, ps); e.Uint32(0) })
	}

	p := get()
	for _, name := range []string{"minWorkers", "maxWorkers", "nWorkers", "freeWorkers", "prioWorkers", "jobQueueDepth"} {
		if p[name].Type != ParamUint {
			t.Fatalf("%s missing or not UINT: %+v", name, p)
		}
	}
	if p["minWorkers"].Uint != 2 || p["maxWorkers"].Uint != 20 || p["prioWorkers"].Uint != 1 || p["nWorkers"].Uint < 2 {
		t.Fatalf("initial pool %+v", p)
	}

	if r := set(UintParam("maxWorkers", 30), UintParam("minWorkers", 4)); r.err != nil {
		t.Fatal(r.err)
	}
	p = get()
	if p["maxWorkers"].Uint != 30 || p["minWorkers"].Uint != 4 || p["nWorkers"].Uint < 4 {
		t.Fatalf("after set: %+v", p)
	}
	if st := f.main.Pool().Stats(); st.MaxWorkers != 30 || st.MinWorkers != 4 {
		t.Fatalf("pool itself not changed: %+v", st)
	}

	wantErr(t, set(UintParam("minWorkers", 31)), virterror.InvalidArg, virterror.FromNone, "invalid argument: minWorkers cannot be larger than maxWorkers")
	wantErr(t, set(UintParam("minWorkers", 0), UintParam("maxWorkers", 0)), virterror.InvalidArg, virterror.FromNone,
		"invalid argument: maxWorkers must not be switched from zero to non-zero and vice versa")
	wantErr(t, set(UintParam("nWorkers", 3)), virterror.ArgumentUnsupported, virterror.FromNone, "argument unsupported: parameter 'nWorkers' not supported")
	wantErr(t, set(IntParam("maxWorkers", 3)), virterror.InvalidArg, virterror.FromNone,
		"invalid argument: invalid type 'int' for parameter 'maxWorkers', expected 'uint'")
	wantErr(t, c.admin(7, func(e *xdr.Encoder) { e.String("x"); EncodeParams(e, nil); e.Uint32(0) }),
		virterror.NoServer, virterror.FromAdmin, "Server not found: no server with matching name 'x' found")
	if p := get(); p["maxWorkers"].Uint != 30 || p["minWorkers"].Uint != 4 {
		t.Fatalf("refused changes altered the pool: %+v", p)
	}

	// Lowering the maximum below the running workers retires the extra.
	if r := set(UintParam("minWorkers", 1), UintParam("maxWorkers", 2)); r.err != nil {
		t.Fatal(r.err)
	}
	waitFor(t, "workers to retire", func() bool { return f.main.Pool().Stats().Workers <= 2 })
}

func TestClientLimits(t *testing.T) {
	f := newFixture(t)
	c := openAdmin(t, f)
	first := dial(t, f.rwPath)
	waitFor(t, "the client to register", func() bool { return f.main.NumClients() == 1 })

	p := paramMap(t, c.mustAdmin(12, server("virtlxcd")), clientLimitsParamMax)
	if p["nclients_max"].Uint != 10 || p["nclients"].Uint != 1 || p["nclients_unauth_max"].Uint != 5 || p["nclients_unauth"].Uint != 0 {
		t.Fatalf("limits %+v", p)
	}
	set := func(ps ...Param) reply {
		return c.admin(13, func(e *xdr.Encoder) { e.String("virtlxcd"); EncodeParams(e, ps); e.Uint32(0) })
	}
	wantErr(t, set(UintParam("nclients_max", 2)), virterror.InvalidArg, virterror.FromRPC,
		"invalid argument: The overall maximum number of clients waiting for authentication must not be less than the overall maximum number of clients")
	if r := set(UintParam("nclients_max", 1), UintParam("nclients_unauth_max", 1)); r.err != nil {
		t.Fatal(r.err)
	}
	p = paramMap(t, c.mustAdmin(12, server("virtlxcd")), clientLimitsParamMax)
	if p["nclients_max"].Uint != 1 || p["nclients_unauth_max"].Uint != 1 {
		t.Fatalf("limits after set %+v", p)
	}

	// The server is full: a new connection is dropped at once.
	second := dial(t, f.rwPath)
	second.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := second.c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("connection over the limit: read gave %v, want EOF", err)
	}
	if n := f.main.NumClients(); n != 1 {
		t.Fatalf("%d clients on a server limited to 1", n)
	}
	_ = first

	if r := set(UintParam("nclients_max", 3)); r.err != nil {
		t.Fatal(r.err)
	}
	dial(t, f.rwPath)
	waitFor(t, "a client under the raised limit", func() bool { return f.main.NumClients() == 2 })
	wantErr(t, set(StringParam("nclients_max", "3")), virterror.InvalidArg, virterror.FromNone,
		"invalid argument: invalid type 'string' for parameter 'nclients_max', expected 'uint'")
}

func TestClients(t *testing.T) {
	f := newFixture(t)
	c := openAdmin(t, f)
	before := time.Now().Unix()
	rw := dial(t, f.rwPath)
	// One at a time, so that the ids follow the dial order.
	waitFor(t, "the rw client", func() bool { return f.main.NumClients() == 1 })
	dial(t, f.roPath)
	waitFor(t, "two clients", func() bool { return f.main.NumClients() == 2 })

	d := c.mustAdmin(8, func(e *xdr.Encoder) { e.String("virtlxcd"); e.Uint32(1); e.Uint32(0) })
	n := d.Uint32()
	var refs []ClientRef
	for i := uint32(0); i < n; i++ {
		refs = append(refs, decodeClient(d))
	}
	if total := d.Uint32(); total != 2 || len(refs) != 2 || d.Done() != nil {
		t.Fatalf("clients %+v total %d (%v)", refs, total, d.Done())
	}
	for _, r := range refs {
		if r.Server != "virtlxcd" || r.Transport != 0 || r.Timestamp < before || r.Timestamp > time.Now().Unix() {
			t.Fatalf("client ref %+v", r)
		}
	}
	if refs[0].ID >= refs[1].ID {
		t.Fatalf("clients not in id order: %+v", refs)
	}

	// The admin server lists its own client too.
	d = c.mustAdmin(8, func(e *xdr.Encoder) { e.String("admin"); e.Uint32(1); e.Uint32(0) })
	if n := d.Uint32(); n != 1 {
		t.Fatalf("admin server has %d clients", n)
	}

	lookup := func(id uint64) reply {
		return c.admin(9, func(e *xdr.Encoder) { e.String("virtlxcd"); e.Uint64(id); e.Uint32(0) })
	}
	r := lookup(refs[1].ID)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := decodeClient(r.d); got != refs[1] {
		t.Fatalf("lookup %+v, want %+v", got, refs[1])
	}
	wantErr(t, lookup(999), virterror.NoClient, virterror.FromRPC, "Client not found: No client with matching ID '999'")

	info := func(ref ClientRef) reply {
		return c.admin(10, func(e *xdr.Encoder) { encodeClient(e, ref); e.Uint32(0) })
	}
	for i, wantRO := range []int32{0, 1} {
		p := paramMap(t, info(refs[i]).d, clientInfoParamsMax)
		if p["readonly"].Type != ParamBoolean || p["readonly"].Int != wantRO {
			t.Fatalf("client %d readonly %+v", i, p["readonly"])
		}
		if p["unix_user_id"].Int != int32(os.Getuid()) || p["unix_group_id"].Int != int32(os.Getgid()) || p["unix_process_id"].Int != int32(os.Getpid()) {
			t.Fatalf("client %d identity %+v", i, p)
		}
		if os.Getuid() == 0 && (p["unix_user_name"].Str != "root" || p["unix_group_name"].Str != "root") {
			t.Fatalf("client %d names %+v", i, p)
		}
	}
	wantErr(t, info(ClientRef{Server: "virtlxcd", ID: 999}), virterror.NoClient, virterror.FromAdmin, "Client not found: no client with matching id '999' found")
	wantErr(t, info(ClientRef{Server: "x", ID: 1}), virterror.NoServer, virterror.FromAdmin, "Server not found: no server with matching name 'x' found")

	// Disconnecting by id ends that connection and nothing else.
	closeArgs := func(ref ClientRef) func(e *xdr.Encoder) {
		return func(e *xdr.Encoder) { encodeClient(e, ref); e.Uint32(0) }
	}
	wantErr(t, c.admin(11, func(e *xdr.Encoder) { encodeClient(e, refs[0]); e.Uint32(1) }),
		virterror.InvalidArg, virterror.FromAdmin, "unsupported flags (0x1) in function adminClientClose")
	c.mustAdmin(11, closeArgs(refs[0]))
	rw.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := rw.c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("disconnected client: read gave %v, want EOF", err)
	}
	waitFor(t, "the client to leave", func() bool { return f.main.NumClients() == 1 })
	wantErr(t, c.admin(11, closeArgs(refs[0])), virterror.NoClient, virterror.FromRPC,
		"Client not found: No client with matching ID '"+itoa(refs[0].ID)+"'")
}

func itoa(v uint64) string {
	e := []byte{}
	for {
		e = append([]byte{byte('0' + v%10)}, e...)
		v /= 10
		if v == 0 {
			return string(e)
		}
	}
}

func TestLogging(t *testing.T) {
	f := newFixture(t)
	c := openAdmin(t, f)
	logFile := filepath.Join(t.TempDir(), "daemon.log")

	// No filters travel as an absent string with a count of 0.
	d := c.mustAdmin(15, func(e *xdr.Encoder) { e.Uint32(0) })
	if s, n := d.OptString(), d.Uint32(); s != nil || n != 0 {
		t.Fatalf("filters %v %d, want absent/0", s, n)
	}

	spec := "1:rpc 3:remote"
	c.mustAdmin(17, func(e *xdr.Encoder) { e.OptString(&spec); e.Uint32(0) })
	d = c.mustAdmin(15, func(e *xdr.Encoder) { e.Uint32(0) })
	s, n := d.OptString(), d.Uint32()
	if s == nil || n != 2 || *s != f.logs.Filters() || !strings.Contains(*s, "rpc") {
		t.Fatalf("filters %v %d after set", s, n)
	}

	out := "1:file:" + logFile
	c.mustAdmin(16, func(e *xdr.Encoder) { e.OptString(&out); e.Uint32(0) })
	d = c.mustAdmin(14, func(e *xdr.Encoder) { e.Uint32(0) })
	if got, n := d.String(), d.Uint32(); !strings.Contains(got, logFile) || n != 1 {
		t.Fatalf("outputs %q %d", got, n)
	}
	// The change is live: a debug record of a category the filter lets
	// through lands in the new file.
	f.logs.Logger("rpc.server").Debug("probe-after-admin-change")
	waitFor(t, "the record in the new output", func() bool {
		b, _ := os.ReadFile(logFile)
		return strings.Contains(string(b), "probe-after-admin-change")
	})

	bad := "9:nowhere"
	r := c.admin(16, func(e *xdr.Encoder) { e.OptString(&bad); e.Uint32(0) })
	if r.err == nil || r.err.Code != virterror.InvalidArg {
		t.Fatalf("bad output accepted: %+v", r.err)
	}
	if !strings.Contains(f.logs.Outputs(), logFile) {
		t.Fatalf("a refused change altered the outputs: %q", f.logs.Outputs())
	}

	// An absent string resets the filters.
	c.mustAdmin(17, func(e *xdr.Encoder) { e.OptString(nil); e.Uint32(0) })
	if f.logs.NumFilters() != 0 {
		t.Fatalf("filters not reset: %q", f.logs.Filters())
	}
	wantErr(t, c.admin(15, func(e *xdr.Encoder) { e.Uint32(2) }), virterror.InvalidArg, virterror.FromAdmin,
		"unsupported flags (0x2) in function adminConnectGetLoggingFilters")
}

func TestDaemonTimeoutAndClose(t *testing.T) {
	f := newFixture(t)
	c := openAdmin(t, f)
	c.mustAdmin(19, func(e *xdr.Encoder) { e.Uint32(42); e.Uint32(0) })
	if got := f.timeout.Load(); got != 42 {
		t.Fatalf("timeout %d, want 42", got)
	}
	wantErr(t, c.admin(19, func(e *xdr.Encoder) { e.Uint32(1); e.Uint32(8) }), virterror.InvalidArg, virterror.FromAdmin,
		"unsupported flags (0x8) in function adminConnectSetDaemonTimeout")
	if got := f.timeout.Load(); got != 42 {
		t.Fatalf("refused call changed the timeout to %d", got)
	}

	// Garbage arguments are a decoding error, not a crash.
	r := c.admin(19, func(e *xdr.Encoder) { e.Uint32(1) })
	wantErr(t, r, virterror.RPC, virterror.FromRPC, "Unable to decode message payload")

	// CONNECT_CLOSE answers, then hangs up.
	c.mustAdmin(2, nil)
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("after CONNECT_CLOSE: read gave %v, want EOF", err)
	}
}

// The admin program exists only where it was added: the main server's
// sockets answer libvirt's "Cannot find program".
func TestNotOnMainServer(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{f.rwPath, f.roPath} {
		c := dial(t, path)
		r, err := c.call(ProgramNumber, 1, func(e *xdr.Encoder) { e.Uint32(0) })
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, r, virterror.RPC, virterror.FromRPC, "Cannot find program 110102160 version 1")
	}
}
