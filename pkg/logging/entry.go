package logging

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
)

var levelNames = [...]string{LevelDebug: "debug", LevelInfo: "info", LevelWarn: "warning", LevelError: "error"}

// entry is one record, formatted once for every output.
type entry struct {
	time     time.Time
	prio     int
	category string // "" for the lines announcing a new output
	text     string // message and attributes: "message k=v k=v"
}

func newEntry(h *handler, r slog.Record) *entry {
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.group, a)
		return true
	})
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	return &entry{time: t, prio: priority(r.Level), category: h.cat.name, text: b.String()}
}

// body is the line without its timestamp, what libvirt sends to syslog:
// "PID: info : category: message k=v".
func (e *entry) body() string {
	if e.category == "" {
		return fmt.Sprintf("%d: %s : %s", os.Getpid(), levelNames[e.prio], e.text)
	}
	return fmt.Sprintf("%d: %s : %s: %s", os.Getpid(), levelNames[e.prio], e.category, e.text)
}

// line is the full line for stderr and files, in libvirt's layout:
// "2026-11-28 23:30:00.123+0000: PID: info : category: message k=v\n",
// the time always in UTC like libvirt's virTimeStringNowRaw.
func (e *entry) line() []byte {
	return []byte(e.time.UTC().Format("2006-01-02 15:04:05.000") + "+0000: " + e.body() + "\n")
}

// appendAttr writes " key=value", flattening groups into dotted keys.
func appendAttr(b *strings.Builder, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, g := range v.Group() {
			appendAttr(b, prefix, g)
		}
		return
	}
	if a.Key == "" {
		return
	}
	b.WriteByte(' ')
	b.WriteString(prefix + a.Key)
	b.WriteByte('=')
	var s string
	switch v.Kind() {
	case slog.KindTime:
		s = v.Time().Format(time.RFC3339Nano)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			s = err.Error()
		} else {
			s = v.String()
		}
	default:
		s = v.String()
	}
	b.WriteString(quoteValue(s))
}

// quoteValue quotes values that would otherwise be ambiguous in a
// key=value line.
func quoteValue(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r == '=' || r == '"' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
