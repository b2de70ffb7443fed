package logging

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/virtlxcd/virtlxcd/pkg/version"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

type destination int

const (
	toStderr destination = iota
	toSyslog
	toFile
	toJournald
)

// destInfo names a destination; fields is how many ':'-separated parts
// an output of that kind has.
type destInfo struct {
	name   string
	fields int
}

var destinations = []destInfo{
	toStderr:   {"stderr", 2},
	toSyslog:   {"syslog", 3},
	toFile:     {"file", 3},
	toJournald: {"journald", 2},
}

// syslogSeverity maps libvirt levels to syslog severities (also the
// journal's PRIORITY).
var syslogSeverity = [...]int{LevelDebug: 7, LevelInfo: 6, LevelWarn: 4, LevelError: 3}

// facilityDaemon is LOG_DAEMON, the facility libvirt logs under.
const facilityDaemon = 3

// output is one destination. Its mutable fields are guarded by Manager.mu.
type output struct {
	level     int
	dest      destination
	name      string   // syslog ident or absolute file path
	file      *os.File // toFile
	syslog    net.Conn // toSyslog, dialled on first use
	announced bool     // the version and hostname lines were written
}

func (o *output) String() string {
	if o.name != "" {
		return fmt.Sprintf("%d:%s:%s", o.level, destinations[o.dest].name, o.name)
	}
	return fmt.Sprintf("%d:%s", o.level, destinations[o.dest].name)
}

// parseOutputs reads "LEVEL:DEST[:DATA] ..." separated by spaces. An
// output repeated (same destination and data) keeps only its last
// occurrence, at that position, as in libvirt.
func parseOutputs(spec string) ([]*output, error) {
	var out []*output
	for _, item := range strings.Split(spec, " ") {
		if item == "" {
			continue
		}
		fields := strings.Split(item, ":")
		if len(fields) < 2 {
			return nil, invalidArg("Malformed format for log output '%s'", item)
		}
		level, ok := parseLevel(fields[0])
		if !ok {
			return nil, invalidArg("Invalid log priority '%s' for log output '%s'", fields[0], item)
		}
		dest := slices.IndexFunc(destinations, func(d destInfo) bool { return d.name == fields[1] })
		if dest < 0 {
			return nil, invalidArg("Invalid log destination '%s' for log output '%s'", fields[1], item)
		}
		if len(fields) != destinations[dest].fields {
			return nil, invalidArg("Log output '%s' does not meet the format requirements for destination type '%s'",
				item, fields[1])
		}
		o := &output{level: level, dest: destination(dest)}
		if len(fields) == 3 {
			o.name = fields[2]
			if o.dest == toFile {
				abs, err := filepath.Abs(o.name)
				if err != nil {
					return nil, invalidArg("Invalid path '%s' for log output '%s'", o.name, item)
				}
				o.name = abs
			}
		}
		out = slices.DeleteFunc(out, func(prev *output) bool { return prev.dest == o.dest && prev.name == o.name })
		out = append(out, o)
	}
	return out, nil
}

// openOutputs parses spec and opens its files. On failure nothing stays
// open.
func (m *Manager) openOutputs(spec string) ([]*output, error) {
	outs, err := parseOutputs(spec)
	if err != nil {
		return nil, err
	}
	for _, o := range outs {
		if o.dest != toFile {
			continue
		}
		// The log directory may not exist yet below a fresh prefix;
		// libvirt relies on its package to create /var/log/libvirt.
		err := os.MkdirAll(filepath.Dir(o.name), 0o700)
		if err == nil {
			o.file, err = os.OpenFile(o.name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		}
		if err != nil {
			closeOutputs(outs)
			return nil, virterror.Raw(virterror.SystemError, virterror.FromNone,
				fmt.Sprintf("failed to open %s: %s", o.name, systemText(err)))
		}
	}
	return outs, nil
}

func systemText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	s := err.Error()
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

func closeOutputs(outs []*output) error {
	var errs []error
	for _, o := range outs {
		if o.file != nil {
			errs = append(errs, o.file.Close())
			o.file = nil
		}
		if o.syslog != nil {
			errs = append(errs, o.syslog.Close())
			o.syslog = nil
		}
	}
	return errors.Join(errs...)
}

// write sends e to the output. The first record an output receives is
// preceded by the daemon's version and the host name, as libvirt does, so
// every log file says what produced it. Failures are dropped: there is
// nowhere left to report them.
func (o *output) write(m *Manager, e *entry) {
	if !o.announced {
		o.announced = true
		host, _ := os.Hostname()
		for _, text := range []string{"virtlxcd version: " + version.Version, "hostname: " + host} {
			o.emit(m, &entry{time: e.time, prio: LevelInfo, text: text})
		}
	}
	o.emit(m, e)
}

func (o *output) emit(m *Manager, e *entry) {
	switch o.dest {
	case toStderr:
		m.stderr.Write(e.line())
	case toFile:
		if o.file != nil {
			o.file.Write(e.line())
		}
	case toSyslog:
		o.toSyslog(m, e)
	case toJournald:
		vars := map[string]string{"SYSLOG_FACILITY": fmt.Sprint(facilityDaemon)}
		if e.category != "" {
			vars["CODE_FUNC"] = e.category
		}
		journal.Send(e.text, journal.Priority(syslogSeverity[e.prio]), vars)
	}
}

// toSyslog writes one datagram in the local syslog format
// "<PRI>Mmm dd hh:mm:ss IDENT[PID]: TEXT", reconnecting after errors so a
// restarted syslog daemon is picked up again.
func (o *output) toSyslog(m *Manager, e *entry) {
	if o.syslog == nil {
		c, err := net.Dial("unixgram", m.syslogSocket)
		if err != nil {
			return
		}
		o.syslog = c
	}
	msg := fmt.Sprintf("<%d>%s %s[%d]: %s", facilityDaemon<<3|syslogSeverity[e.prio],
		e.time.Format(time.Stamp), o.name, os.Getpid(), e.body())
	if _, err := o.syslog.Write([]byte(msg)); err != nil {
		o.syslog.Close()
		o.syslog = nil
	}
}
