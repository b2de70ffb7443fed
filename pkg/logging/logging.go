// Package logging is the daemon's log: libvirt's levels, filters and
// outputs behind log/slog loggers. Every part of the daemon logs through a
// *slog.Logger from a Manager, and the Manager's settings can be changed
// at any time (virt-admin daemon-log-filters / daemon-log-outputs): the
// change applies at once to every logger already handed out.
//
// Levels are libvirt's: 1 debug, 2 info, 3 warning, 4 error. A record of
// category C at level L is kept if the first filter whose pattern matches C
// allows L, or, when no filter matches, if L is at least the global level.
// Each output then writes it if L is at least the output's own level.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/virtlxcd/virtlxcd/pkg/paths"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// libvirt's priorities.
const (
	LevelDebug = 1
	LevelInfo  = 2
	LevelWarn  = 3
	LevelError = 4

	// DefaultLevel applies when nothing sets one.
	DefaultLevel = LevelWarn
)

// journalSocket is where journald listens; its presence decides the
// default output, as in libvirt.
const journalSocket = "/run/systemd/journal/socket"

// Manager owns the settings and the open outputs.
type Manager struct {
	// mu serialises setting changes and writes to outputs, so an output
	// is never closed under a writer and lines never interleave.
	mu       sync.Mutex
	settings atomic.Pointer[settings]
	// defaultOutput is what SetOutputs("") restores. Guarded by mu.
	defaultOutput string
	closed        bool

	// Replaced by tests only.
	stderr        io.Writer
	journalSocket string
	syslogSocket  string
	stdinIsTTY    func() bool
}

// settings is one immutable configuration. Loggers read it without
// locking; every change installs a new one with a higher serial.
type settings struct {
	serial  uint64
	level   int
	filters []filter
	outputs []*output
}

// New returns a Manager at level 3 writing to standard error ("3:stderr").
func New() *Manager {
	m := &Manager{
		defaultOutput: fmt.Sprintf("%d:stderr", DefaultLevel),
		stderr:        os.Stderr,
		journalSocket: journalSocket,
		syslogSocket:  "/dev/log",
		stdinIsTTY:    func() bool { return term.IsTerminal(int(os.Stdin.Fd())) },
	}
	outs, err := m.openOutputs(m.defaultOutput)
	if err != nil {
		panic(err) // "3:stderr" always parses and opens
	}
	m.settings.Store(&settings{serial: 1, level: DefaultLevel, outputs: outs})
	return m
}

// Logger returns a logger for a category such as "daemon", "rpc.server"
// or "lxc.driver"; filters match against the category.
func (m *Manager) Logger(category string) *slog.Logger {
	return slog.New(&handler{m: m, cat: &categoryCache{name: category}})
}

// update installs a new configuration derived from the current one.
// Callers hold m.mu.
func (m *Manager) update(change func(s *settings)) {
	old := m.settings.Load()
	s := *old
	s.serial = old.serial + 1
	change(&s)
	m.settings.Store(&s)
}

// SetLevel sets the global level (1..4).
func (m *Manager) SetLevel(level int) error {
	if level < LevelDebug || level > LevelError {
		return virterror.New(virterror.InvalidArg, virterror.FromNone,
			"Failed to set logging priority, argument '%d' is invalid", level)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.update(func(s *settings) { s.level = level })
	return nil
}

// Level returns the global level.
func (m *Manager) Level() int { return m.settings.Load().level }

// ParseLevel reads a level the way LIBVIRT_DEBUG is read: "1".."4" or
// "debug", "info", "warning", "error".
func ParseLevel(s string) (int, error) {
	for i, name := range []string{"debug", "info", "warning", "error"} {
		if s == name || s == fmt.Sprint(i+1) {
			return i + 1, nil
		}
	}
	return 0, virterror.New(virterror.InvalidArg, virterror.FromNone,
		"Failed to set logging priority, argument '%s' is invalid", s)
}

// SetFromEnv applies LIBVIRT_DEBUG, LIBVIRT_LOG_FILTERS and
// LIBVIRT_LOG_OUTPUTS, which take precedence over the configuration file
// (libvirt's virLogSetFromEnv). Unset or empty variables change nothing;
// the first invalid one is returned as the error.
func (m *Manager) SetFromEnv(getenv func(string) string) error {
	if v := getenv("LIBVIRT_DEBUG"); v != "" {
		level, err := ParseLevel(v)
		if err != nil {
			return err
		}
		if err := m.SetLevel(level); err != nil {
			return err
		}
	}
	if v := getenv("LIBVIRT_LOG_FILTERS"); v != "" {
		if err := m.SetFilters(v); err != nil {
			return err
		}
	}
	if v := getenv("LIBVIRT_LOG_OUTPUTS"); v != "" {
		if err := m.SetOutputs(v); err != nil {
			return err
		}
	}
	return nil
}

// SetFilters replaces the filters with spec ("LEVEL:MATCH ..."); "" removes
// them all. An invalid spec changes nothing.
func (m *Manager) SetFilters(spec string) error {
	filters, err := parseFilters(spec)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.update(func(s *settings) { s.filters = filters })
	return nil
}

// Filters returns the filters as libvirt reports them: each match wrapped
// in wildcards and followed by a space ("1:*rpc* 1:*remote* ").
func (m *Manager) Filters() string {
	var b strings.Builder
	for _, f := range m.settings.Load().filters {
		fmt.Fprintf(&b, "%d:%s ", f.level, f.pattern)
	}
	return b.String()
}

// NumFilters returns how many filters are set.
func (m *Manager) NumFilters() int { return len(m.settings.Load().filters) }

// SetOutputs replaces the outputs with spec ("LEVEL:stderr
// LEVEL:file:PATH ..."); "" restores the default output. An invalid spec,
// or a file that cannot be opened, changes nothing.
func (m *Manager) SetOutputs(spec string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if strings.TrimSpace(spec) == "" {
		spec = m.defaultOutput
	}
	outs, err := m.openOutputs(spec)
	if err != nil {
		return err
	}
	old := m.settings.Load().outputs
	m.update(func(s *settings) { s.outputs = outs })
	closeOutputs(old)
	m.closed = false
	return nil
}

// Outputs returns the outputs as libvirt reports them ("1:file:/x.log
// 3:stderr"), file paths made absolute.
func (m *Manager) Outputs() string {
	var parts []string
	for _, o := range m.settings.Load().outputs {
		parts = append(parts, o.String())
	}
	return strings.Join(parts, " ")
}

// NumOutputs returns how many outputs are set.
func (m *Manager) NumOutputs() int { return len(m.settings.Load().outputs) }

// DefaultOutput returns libvirt's default output for a daemon at the
// current level, and remembers it as what SetOutputs("") restores:
//   - with --daemon: the journal if journald's socket is there, else
//     LEVEL:file:/var/log/libvirt/virtlxcd.log (below $VIRTLXCD_PREFIX);
//   - in the foreground: the journal if journald is there and standard
//     input is not a terminal (started by systemd), else LEVEL:stderr.
//
// The journal never gets debug messages by default (level 1 becomes 2),
// as libvirt avoids flooding its rate limiter.
func (m *Manager) DefaultOutput(foreground bool) string {
	level := m.Level()
	journal := unix.Access(m.journalSocket, unix.W_OK) == nil
	var out string
	switch {
	case journal && (!foreground || !m.stdinIsTTY()):
		out = fmt.Sprintf("%d:journald", max(level, LevelInfo))
	case foreground:
		out = fmt.Sprintf("%d:stderr", level)
	default:
		out = fmt.Sprintf("%d:file:%s", level, paths.Default().LogFile)
	}
	m.mu.Lock()
	m.defaultOutput = out
	m.mu.Unlock()
	return out
}

// Close closes every output. Records logged afterwards go to standard
// error, as libvirt does when it has no outputs.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.settings.Load().outputs
	m.update(func(s *settings) { s.outputs = nil })
	m.closed = true
	return closeOutputs(old)
}

// handler is the slog side. Handlers derived with WithAttrs/WithGroup
// share the category cache.
type handler struct {
	m     *Manager
	cat   *categoryCache
	group string // "g1.g2." prefix for attribute keys
	attrs string // preformatted " k=v" pairs from WithAttrs
}

// categoryCache remembers the category's threshold for one settings
// serial, so the common "not enabled" answer costs two atomic loads.
type categoryCache struct {
	name  string
	cache atomic.Uint64 // serial<<3 | threshold
}

func (c *categoryCache) threshold(s *settings) int {
	if v := c.cache.Load(); v>>3 == s.serial {
		return int(v & 7)
	}
	t := s.level
	for _, f := range s.filters {
		if f.matches(c.name) {
			t = f.level
			break
		}
	}
	c.cache.Store(s.serial<<3 | uint64(t))
	return t
}

// priority maps an slog level onto libvirt's four.
func priority(l slog.Level) int {
	switch {
	case l < slog.LevelInfo:
		return LevelDebug
	case l < slog.LevelWarn:
		return LevelInfo
	case l < slog.LevelError:
		return LevelWarn
	}
	return LevelError
}

func (h *handler) Enabled(_ context.Context, l slog.Level) bool {
	return priority(l) >= h.cat.threshold(h.m.settings.Load())
}

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	e := newEntry(h, r)
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	s := h.m.settings.Load()
	if len(s.outputs) == 0 {
		h.m.stderr.Write(e.line())
		return nil
	}
	for _, o := range s.outputs {
		if e.prio >= o.level {
			o.write(h.m, e)
		}
	}
	return nil
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range as {
		appendAttr(&b, h.group, a)
	}
	n.attrs = b.String()
	return &n
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.group = h.group + name + "."
	return &n
}
