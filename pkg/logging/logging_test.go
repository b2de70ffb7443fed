package logging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtlxcd/virtlxcd/pkg/paths"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// lockedBuffer stands in for standard error; Manager writes to it under
// its own lock, the mutex here lets the test read concurrently.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newTestManager(t *testing.T) (*Manager, *lockedBuffer) {
	t.Helper()
	m := New()
	buf := &lockedBuffer{}
	m.stderr = buf
	t.Cleanup(func() { m.Close() })
	return m, buf
}

// lineRE is libvirt's log line layout with a category.
var lineRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}\+0000: (\d+): (debug|info|warning|error) : (?:([a-z.]+): )?(.*)$`)

// announcement matches the version and hostname lines that open every
// output.
var announcement = regexp.MustCompile(`: info : (virtlxcd version|hostname): `)

// messages returns the "category: text" of every non-announcement line.
func messages(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("malformed log line %q", line)
		}
		if m[1] != fmt.Sprint(os.Getpid()) {
			t.Errorf("line %q carries pid %s, want %d", line, m[1], os.Getpid())
		}
		if m[3] == "" || announcement.MatchString(line) {
			continue
		}
		got = append(got, m[2]+" "+m[3]+": "+m[4])
	}
	return got
}

func TestDecisions(t *testing.T) {
	type rec struct {
		cat   string
		level slog.Level
	}
	all := []rec{}
	for _, cat := range []string{"daemon", "rpc.server", "rpc.client", "remote", "lxc.driver"} {
		for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
			all = append(all, rec{cat, l})
		}
	}
	cases := []struct {
		name    string
		level   int
		filters string
		outputs string
		want    []string // "level category" kept
	}{
		{"default level 3", 3, "", "1:stderr", []string{
			"warning daemon", "error daemon", "warning rpc.server", "error rpc.server", "warning rpc.client",
			"error rpc.client", "warning remote", "error remote", "warning lxc.driver", "error lxc.driver"}},
		{"level 4", 4, "", "1:stderr", []string{"error daemon", "error rpc.server", "error rpc.client", "error remote", "error lxc.driver"}},
		{"filter lowers one category", 4, "1:rpc.server", "1:stderr", []string{
			"error daemon", "debug rpc.server", "info rpc.server", "warning rpc.server", "error rpc.server",
			"error rpc.client", "error remote", "error lxc.driver"}},
		{"substring match", 4, "2:rpc", "1:stderr", []string{
			"error daemon", "info rpc.server", "warning rpc.server", "error rpc.server",
			"info rpc.client", "warning rpc.client", "error rpc.client", "error remote", "error lxc.driver"}},
		{"filter raises a category", 1, "4:rpc 3:+lxc", "1:stderr", []string{
			"debug daemon", "info daemon", "warning daemon", "error daemon", "error rpc.server", "error rpc.client",
			"debug remote", "info remote", "warning remote", "error remote", "warning lxc.driver", "error lxc.driver"}},
		{"first matching filter wins", 4, "1:rpc.client 3:rpc", "1:stderr", []string{
			"error daemon", "warning rpc.server", "error rpc.server",
			"debug rpc.client", "info rpc.client", "warning rpc.client", "error rpc.client", "error remote", "error lxc.driver"}},
		{"glob in filter", 4, "1:r?c.*er", "1:stderr", []string{
			"error daemon", "debug rpc.server", "info rpc.server", "warning rpc.server", "error rpc.server",
			"error rpc.client", "error remote", "error lxc.driver"}},
		{"output level still applies", 1, "", "3:stderr", []string{
			"warning daemon", "error daemon", "warning rpc.server", "error rpc.server", "warning rpc.client",
			"error rpc.client", "warning remote", "error remote", "warning lxc.driver", "error lxc.driver"}},
		{"filter cannot beat output level", 4, "1:remote", "4:stderr", []string{
			"error daemon", "error rpc.server", "error rpc.client", "error remote", "error lxc.driver"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, buf := newTestManager(t)
			if err := m.SetLevel(c.level); err != nil {
				t.Fatal(err)
			}
			if err := m.SetFilters(c.filters); err != nil {
				t.Fatal(err)
			}
			if err := m.SetOutputs(c.outputs); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, w := range c.want {
				want = append(want, w+": msg")
			}
			for _, r := range all {
				m.Logger(r.cat).Log(context.Background(), r.level, "msg")
			}
			got := messages(t, buf.String())
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("kept:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestLineFormat(t *testing.T) {
	m, buf := newTestManager(t)
	l := m.Logger("lxc.driver").With("domain", "web 1").WithGroup("ctr")
	l.Error("start failed", "pid", 42, "err", errors.New("no such file"), slog.Group("cg", "path", "/sys/fs"), "empty", "")
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want version, hostname and the record:\n%s", len(lines), buf.String())
	}
	host, _ := os.Hostname()
	for i, want := range []string{"info : virtlxcd version: ", "info : hostname: " + host,
		`error : lxc.driver: start failed domain="web 1" ctr.pid=42 ctr.err="no such file" ctr.cg.path=/sys/fs ctr.empty=""`} {
		m := lineRE.FindStringSubmatch(lines[i])
		if m == nil || !strings.Contains(lines[i], want) {
			t.Errorf("line %d = %q, want it to contain %q", i, lines[i], want)
		}
	}
	// The timestamp is UTC now.
	stamp, err := time.Parse("2006-01-02 15:04:05.000-0700", lines[2][:28])
	if err != nil || time.Since(stamp) > time.Minute || time.Since(stamp) < 0 {
		t.Errorf("timestamp %q: %v", lines[2][:28], err)
	}
	// Announcements come once per output.
	l.Error("again")
	if n := strings.Count(buf.String(), "hostname: "); n != 1 {
		t.Errorf("hostname announced %d times", n)
	}
}

func TestLevel(t *testing.T) {
	m, _ := newTestManager(t)
	if m.Level() != 3 || m.Outputs() != "3:stderr" || m.Filters() != "" || m.NumFilters() != 0 || m.NumOutputs() != 1 {
		t.Fatalf("New(): level %d outputs %q filters %q", m.Level(), m.Outputs(), m.Filters())
	}
	for _, bad := range []int{0, 5, -1, 9} {
		err := m.SetLevel(bad)
		var ve *virterror.Error
		want := fmt.Sprintf("invalid argument: Failed to set logging priority, argument '%d' is invalid", bad)
		if !errors.As(err, &ve) || ve.Code != virterror.InvalidArg || ve.Message != want {
			t.Errorf("SetLevel(%d) = %v", bad, err)
		}
	}
	if m.Level() != 3 {
		t.Errorf("invalid SetLevel changed the level to %d", m.Level())
	}
	for in, want := range map[string]int{"1": 1, "debug": 1, "2": 2, "info": 2, "3": 3, "warning": 3, "4": 4, "error": 4} {
		if got, err := ParseLevel(in); got != want || err != nil {
			t.Errorf("ParseLevel(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "0", "5", "warn", "DEBUG", " 1"} {
		if _, err := ParseLevel(bad); err == nil || !strings.Contains(err.Error(), "argument '"+bad+"' is invalid") {
			t.Errorf("ParseLevel(%q) = %v", bad, err)
		}
	}
}

func TestFilters(t *testing.T) {
	m, _ := newTestManager(t)
	cases := []struct{ in, want string }{
		{"1:rpc 1:remote", "1:*rpc* 1:*remote* "},
		{"1:+rpc", "1:*rpc* "},
		{"  2:a   3:b.c  ", "2:*a* 3:*b.c* "},
		{"4:x:ignored", "4:*x* "},
		{"1:rpc*", "1:*rpc** "},
		{"", ""},
	}
	for _, c := range cases {
		if err := m.SetFilters(c.in); err != nil {
			t.Errorf("SetFilters(%q): %v", c.in, err)
			continue
		}
		if got := m.Filters(); got != c.want {
			t.Errorf("SetFilters(%q): Filters() = %q, want %q", c.in, got, c.want)
		}
		if n := strings.Count(c.want, " "); m.NumFilters() != n {
			t.Errorf("SetFilters(%q): NumFilters() = %d, want %d", c.in, m.NumFilters(), n)
		}
	}

	if err := m.SetFilters("1:keep"); err != nil {
		t.Fatal(err)
	}
	bad := []struct{ in, msg string }{
		{"rpc", "Malformed format for filter 'rpc'"},
		{"1:ok rpc", "Malformed format for filter 'rpc'"},
		{"x:rpc", "Invalid priority 'x' for filter 'x:rpc'"},
		{"0:rpc", "Invalid priority '0' for filter '0:rpc'"},
		{"5:rpc", "Invalid priority '5' for filter '5:rpc'"},
		{"-1:rpc", "Invalid priority '-1' for filter '-1:rpc'"},
		{":rpc", "Invalid priority '' for filter ':rpc'"},
		{"1:", "Invalid match string ''"},
		{"1:+", "Invalid match string '+'"},
	}
	for _, b := range bad {
		err := m.SetFilters(b.in)
		var ve *virterror.Error
		if !errors.As(err, &ve) || ve.Code != virterror.InvalidArg || ve.Message != "invalid argument: "+b.msg {
			t.Errorf("SetFilters(%q) = %v, want %q", b.in, err, b.msg)
		}
	}
	if m.Filters() != "1:*keep* " {
		t.Errorf("a rejected spec changed the filters to %q", m.Filters())
	}
}

func TestGlob(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"*rpc*", "rpc.server", true},
		{"*rpc*", "remote", false},
		{"*server*", "rpc.server", true},
		{"*r?c*", "rpc", true},
		{"*r?c*", "rc", false},
		{"**", "", true},
		{"*a", "*xa", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{"*é*", "café", true},
	}
	for _, c := range cases {
		if got := glob(c.pattern, c.s); got != c.want {
			t.Errorf("glob(%q, %q) = %v", c.pattern, c.s, got)
		}
	}
}

func TestOutputs(t *testing.T) {
	dir := t.TempDir()
	m, _ := newTestManager(t)
	wd, _ := os.Getwd()
	cases := []struct{ in, want string }{
		{"1:file:" + dir + "/a.log", "1:file:" + dir + "/a.log"},
		{"2:stderr 1:file:" + dir + "/b/../a.log", "2:stderr 1:file:" + dir + "/a.log"},
		{"1:stderr 4:journald 3:syslog:virtlxcd", "1:stderr 4:journald 3:syslog:virtlxcd"},
		// The last duplicate wins, at its own position.
		{"1:stderr 2:file:" + dir + "/a.log 3:stderr", "2:file:" + dir + "/a.log 3:stderr"},
		{"1:syslog:a 2:syslog:b 3:syslog:a", "2:syslog:b 3:syslog:a"},
		{"  1:stderr  ", "1:stderr"},
	}
	for _, c := range cases {
		if err := m.SetOutputs(c.in); err != nil {
			t.Errorf("SetOutputs(%q): %v", c.in, err)
			continue
		}
		if got := m.Outputs(); got != c.want {
			t.Errorf("SetOutputs(%q): Outputs() = %q, want %q", c.in, got, c.want)
		}
		if n := len(strings.Fields(c.want)); m.NumOutputs() != n {
			t.Errorf("SetOutputs(%q): NumOutputs() = %d, want %d", c.in, m.NumOutputs(), n)
		}
	}
	// A relative path is made absolute against the working directory.
	rel, err := filepath.Rel(wd, filepath.Join(dir, "rel.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetOutputs("1:file:" + rel); err != nil || m.Outputs() != "1:file:"+filepath.Join(dir, "rel.log") {
		t.Errorf("relative path: %q, %v", m.Outputs(), err)
	}

	keep := "2:file:" + dir + "/keep.log"
	if err := m.SetOutputs(keep); err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(dir, "blocker")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		in   string
		code virterror.Code
		msg  string
	}{
		{"stderr", virterror.InvalidArg, "invalid argument: Malformed format for log output 'stderr'"},
		{"x:stderr", virterror.InvalidArg, "invalid argument: Invalid log priority 'x' for log output 'x:stderr'"},
		{"9:stderr", virterror.InvalidArg, "invalid argument: Invalid log priority '9' for log output '9:stderr'"},
		{"1:stdout", virterror.InvalidArg, "invalid argument: Invalid log destination 'stdout' for log output '1:stdout'"},
		{"1:stderr:x", virterror.InvalidArg, "invalid argument: Log output '1:stderr:x' does not meet the format requirements for destination type 'stderr'"},
		{"1:journald:x", virterror.InvalidArg, "invalid argument: Log output '1:journald:x' does not meet the format requirements for destination type 'journald'"},
		{"1:file", virterror.InvalidArg, "invalid argument: Log output '1:file' does not meet the format requirements for destination type 'file'"},
		{"1:syslog", virterror.InvalidArg, "invalid argument: Log output '1:syslog' does not meet the format requirements for destination type 'syslog'"},
		{"1:stderr 1:bogus", virterror.InvalidArg, "invalid argument: Invalid log destination 'bogus' for log output '1:bogus'"},
		{"1:file:" + blocker + "/x.log", virterror.SystemError, "failed to open " + blocker + "/x.log: Not a directory"},
		{"1:file:" + dir, virterror.SystemError, "failed to open " + dir + ": Is a directory"},
	}
	for _, b := range bad {
		err := m.SetOutputs(b.in)
		var ve *virterror.Error
		if !errors.As(err, &ve) || ve.Code != b.code || ve.Message != b.msg {
			t.Errorf("SetOutputs(%q) = %v, want %q", b.in, err, b.msg)
		}
	}
	if m.Outputs() != keep {
		t.Errorf("a rejected spec changed the outputs to %q", m.Outputs())
	}
	m.Logger("daemon").Warn("still here")
	data, err := os.ReadFile(filepath.Join(dir, "keep.log"))
	if err != nil || !strings.Contains(string(data), "warning : daemon: still here") {
		t.Errorf("the kept output stopped working: %q, %v", data, err)
	}
}

func TestFileOutput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "virtlxcd.log")
	if err := os.WriteFile(filepath.Join(dir, "existing.log"), []byte("old line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, buf := newTestManager(t)
	if err := m.SetLevel(1); err != nil {
		t.Fatal(err)
	}
	spec := "1:file:" + path + " 3:file:" + dir + "/existing.log"
	if err := m.SetOutputs(spec); err != nil {
		t.Fatal(err)
	}
	l := m.Logger("rpc.server")
	l.Debug("d1")
	l.Warn("w1")
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("log file mode: %v, %v", st, err)
	}
	data, _ := os.ReadFile(path)
	if got := messages(t, string(data)); strings.Join(got, "|") != "debug rpc.server: d1|warning rpc.server: w1" {
		t.Errorf("debug file holds %q", got)
	}
	data, _ = os.ReadFile(filepath.Join(dir, "existing.log"))
	if !strings.HasPrefix(string(data), "old line\n") {
		t.Errorf("existing file was not appended to: %q", data)
	}
	if got := messages(t, strings.TrimPrefix(string(data), "old line\n")); strings.Join(got, "|") != "warning rpc.server: w1" {
		t.Errorf("warning file holds %q", got)
	}
	if buf.String() != "" {
		t.Errorf("stderr got %q though it is not an output", buf.String())
	}

	// Close releases the files; later records fall back to stderr.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	l.Error("after close")
	if !strings.Contains(buf.String(), "error : rpc.server: after close") {
		t.Errorf("after Close: stderr %q", buf.String())
	}
	data, _ = os.ReadFile(path)
	if strings.Contains(string(data), "after close") {
		t.Errorf("closed file still written")
	}
}

func TestResetToDefault(t *testing.T) {
	prefix := t.TempDir()
	t.Setenv(paths.PrefixEnv, prefix)
	m, _ := newTestManager(t)
	m.journalSocket = filepath.Join(prefix, "no-journal")
	if err := m.SetFilters("1:rpc"); err != nil {
		t.Fatal(err)
	}
	if err := m.SetFilters(""); err != nil || m.Filters() != "" || m.NumFilters() != 0 {
		t.Errorf("SetFilters(\"\"): %q, %v", m.Filters(), err)
	}

	// Before the daemon picks a default, "" restores New()'s stderr.
	if err := m.SetOutputs("1:syslog:x"); err != nil {
		t.Fatal(err)
	}
	if err := m.SetOutputs(""); err != nil || m.Outputs() != "3:stderr" {
		t.Errorf("SetOutputs(\"\") = %q, %v", m.Outputs(), err)
	}

	// A daemonised instance defaults to its log file below the prefix.
	if err := m.SetLevel(2); err != nil {
		t.Fatal(err)
	}
	want := "2:file:" + filepath.Join(prefix, "var/log/libvirt/virtlxcd.log")
	if got := m.DefaultOutput(false); got != want {
		t.Fatalf("DefaultOutput(false) = %q, want %q", got, want)
	}
	if err := m.SetOutputs("1:stderr"); err != nil {
		t.Fatal(err)
	}
	if err := m.SetOutputs(""); err != nil || m.Outputs() != want {
		t.Errorf("SetOutputs(\"\") = %q, %v; want %q", m.Outputs(), err, want)
	}
	m.Logger("daemon").Warn("to the default file")
	data, err := os.ReadFile(filepath.Join(prefix, "var/log/libvirt/virtlxcd.log"))
	if err != nil || !strings.Contains(string(data), "daemon: to the default file") {
		t.Errorf("default file: %q, %v", data, err)
	}
}

// TestDefaultOutputSelection covers libvirt's choice between journald,
// file and stderr. journald is not running here, so its socket is stood in
// for by a plain socket file: the choice only checks that the socket is
// writable, and nothing is sent to it.
func TestDefaultOutputSelection(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(paths.PrefixEnv, dir)
	sock := filepath.Join(dir, "journal.socket")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	logFile := filepath.Join(dir, "var/log/libvirt/virtlxcd.log")
	cases := []struct {
		journal, tty, foreground bool
		level                    int
		want                     string
	}{
		{true, false, false, 3, "3:journald"},
		{true, true, false, 3, "3:journald"},
		{true, false, false, 1, "2:journald"}, // no debug flood into the journal
		{true, false, true, 4, "4:journald"},  // started by systemd: stdin is not a terminal
		{true, true, true, 1, "1:stderr"},     // run by hand in a terminal
		{false, false, true, 2, "2:stderr"},
		{false, true, true, 3, "3:stderr"},
		{false, false, false, 1, "1:file:" + logFile},
		{false, true, false, 4, "4:file:" + logFile},
	}
	for _, c := range cases {
		m, _ := newTestManager(t)
		m.journalSocket = filepath.Join(dir, "absent.socket")
		if c.journal {
			m.journalSocket = sock
		}
		tty := c.tty
		m.stdinIsTTY = func() bool { return tty }
		if err := m.SetLevel(c.level); err != nil {
			t.Fatal(err)
		}
		if got := m.DefaultOutput(c.foreground); got != c.want {
			t.Errorf("journal=%v tty=%v foreground=%v level=%d: %q, want %q",
				c.journal, c.tty, c.foreground, c.level, got, c.want)
		}
	}
	// The real journald socket is the one consulted by default.
	if New().journalSocket != "/run/systemd/journal/socket" {
		t.Errorf("journal socket path is %q", New().journalSocket)
	}
}

// TestSyslogOutput reads what the syslog output sends from a datagram
// socket standing in for /dev/log.
func TestSyslogOutput(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "log")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m, _ := newTestManager(t)
	m.syslogSocket = sock
	if err := m.SetLevel(1); err != nil {
		t.Fatal(err)
	}
	if err := m.SetOutputs("2:syslog:myident"); err != nil {
		t.Fatal(err)
	}
	m.Logger("daemon").Info("hello", "k", "v")
	m.Logger("daemon").Debug("dropped by the output level")
	m.Logger("daemon").Error("bad")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^<30>\w{3} [ \d]\d \d\d:\d\d:\d\d myident\[\d+\]: \d+: info : virtlxcd version: `),
		regexp.MustCompile(`^<30>.* myident\[\d+\]: \d+: info : hostname: `),
		regexp.MustCompile(`^<30>.* myident\[\d+\]: \d+: info : daemon: hello k=v$`),
		regexp.MustCompile(`^<27>.* myident\[\d+\]: \d+: error : daemon: bad$`),
	}
	buf := make([]byte, 4096)
	for i, re := range want {
		l.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := l.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if !re.Match(buf[:n]) {
			t.Errorf("datagram %d = %q, want %s", i, buf[:n], re)
		}
	}
}

// TestLiveChanges changes level, filters and outputs from several
// goroutines while others log through loggers created beforehand. Run
// with -race; it also checks that every line written is whole and that
// the final settings hold for the old loggers.
func TestLiveChanges(t *testing.T) {
	dir := t.TempDir()
	m, buf := newTestManager(t)
	loggers := []*slog.Logger{m.Logger("rpc.server"), m.Logger("lxc.driver"), m.Logger("daemon").With("k", 1)}
	specs := []string{"1:file:" + dir + "/a.log", "1:file:" + dir + "/b.log 2:stderr", "3:stderr"}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				l := loggers[(g+i)%len(loggers)]
				l.Log(context.Background(), slog.Level(4*(i%4)-4), "msg", "g", g, "i", i)
			}
		}(g)
	}
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				switch (g + i) % 3 {
				case 0:
					m.SetLevel(1 + i%4)
				case 1:
					m.SetFilters([]string{"", "1:rpc", "4:lxc 1:daemon"}[i%3])
				case 2:
					if err := m.SetOutputs(specs[i%len(specs)]); err != nil {
						t.Error(err)
					}
				}
				_ = m.Filters() + m.Outputs()
			}
		}(g)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	for _, f := range []string{buf.String(), read(t, dir+"/a.log"), read(t, dir+"/b.log")} {
		messages(t, f) // fails on any torn or interleaved line
	}

	// Old loggers follow the final settings.
	if err := m.SetLevel(4); err != nil {
		t.Fatal(err)
	}
	if err := m.SetFilters("1:lxc"); err != nil {
		t.Fatal(err)
	}
	final := dir + "/final.log"
	if err := m.SetOutputs("1:file:" + final); err != nil {
		t.Fatal(err)
	}
	for _, l := range loggers {
		l.Debug("last")
		l.Error("last error")
	}
	got := messages(t, read(t, final))
	want := "error rpc.server: last error|debug lxc.driver: last|error lxc.driver: last error|error daemon: last error k=1"
	if strings.Join(got, "|") != want {
		t.Errorf("after live changes:\n got %q\nwant %q", strings.Join(got, "|"), want)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(data)
}

func TestEnabledFollowsSettings(t *testing.T) {
	m, _ := newTestManager(t)
	l := m.Logger("rpc.server")
	if l.Enabled(context.Background(), slog.LevelInfo) {
		t.Error("info enabled at level 3")
	}
	m.SetFilters("2:rpc")
	if !l.Enabled(context.Background(), slog.LevelInfo) || l.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("filter 2:rpc not applied to an existing logger")
	}
	m.SetFilters("")
	m.SetLevel(1)
	if !l.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("level 1 not applied to an existing logger")
	}
	m.SetLevel(4)
	if l.Enabled(context.Background(), slog.LevelWarn) || !l.Enabled(context.Background(), slog.LevelError) || !l.Enabled(context.Background(), slog.LevelError+4) {
		t.Error("level 4 not applied")
	}
}

func TestSetFromEnv(t *testing.T) {
	dir := t.TempDir()
	m, _ := newTestManager(t)
	env := map[string]string{
		"LIBVIRT_DEBUG":       "info",
		"LIBVIRT_LOG_FILTERS": "1:rpc",
		"LIBVIRT_LOG_OUTPUTS": "1:file:" + dir + "/env.log",
	}
	if err := m.SetFromEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if m.Level() != 2 || m.Filters() != "1:*rpc* " || m.Outputs() != "1:file:"+dir+"/env.log" {
		t.Errorf("after env: level %d filters %q outputs %q", m.Level(), m.Filters(), m.Outputs())
	}
	// Empty variables leave the settings alone.
	if err := m.SetFromEnv(func(string) string { return "" }); err != nil || m.Level() != 2 || m.NumFilters() != 1 {
		t.Errorf("empty env changed settings: %v", err)
	}
	for k, v := range map[string]string{"LIBVIRT_DEBUG": "verbose", "LIBVIRT_LOG_FILTERS": "rpc", "LIBVIRT_LOG_OUTPUTS": "1:tape"} {
		if err := m.SetFromEnv(func(key string) string {
			if key == k {
				return v
			}
			return ""
		}); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
}
