package domstore

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// Store knows the three directories of the LXC driver. Relocating them (for
// tests, or below $VIRTLXCD_PREFIX) is a matter of filling the fields.
type Store struct {
	ConfigDir    string // NAME.xml, persistent definitions (/etc/libvirt/lxc)
	AutostartDir string // NAME.xml -> ../NAME.xml symlinks (/etc/libvirt/lxc/autostart)
	StateDir     string // NAME.xml status of running domains (/run/libvirt/lxc)
}

// autostartMarker records that autostart already ran since the host booted;
// StateDir lives on a tmpfs, so the marker disappears with a reboot.
const autostartMarker = "autostarted"

// Entry is one persistent definition found in ConfigDir.
type Entry struct {
	Name      string
	XML       string
	Autostart bool
}

// ConfigPath is where the persistent definition of name lives.
func (s Store) ConfigPath(name string) string { return filepath.Join(s.ConfigDir, name+".xml") }

// AutostartPath is the autostart link of name.
func (s Store) AutostartPath(name string) string { return filepath.Join(s.AutostartDir, name+".xml") }

// StatusPath is the live status file of name.
func (s Store) StatusPath(name string) string { return filepath.Join(s.StateDir, name+".xml") }

// header is put above every file we write so that an administrator who
// opens one knows that hand edits do not reach the running daemon.
func header(name string) string {
	return "<!--\nNOTICE: virtlxcd maintains this file and rewrites it whenever the domain\n" +
		"changes, so edits made here are lost or ignored. Change the definition\n" +
		"through the libvirt API instead, for example:\n  virsh edit " + name +
		"\n-->\n"
}

// SaveConfig writes the persistent definition of name (mode 0600, like
// libvirt).
func (s Store) SaveConfig(name, domainXML string) error {
	if err := os.MkdirAll(s.ConfigDir, 0o700); err != nil {
		return fmt.Errorf("save config of %q: %w", name, err)
	}
	data := header(name) + strings.TrimRight(domainXML, "\n") + "\n"
	if err := WriteFile(s.ConfigPath(name), []byte(data), 0o600); err != nil {
		return fmt.Errorf("save config of %q: %w", name, err)
	}
	return nil
}

// RemoveConfig deletes the definition of name and its autostart link.
// A missing file is not an error: the goal is its absence.
func (s Store) RemoveConfig(name string) error {
	if err := os.Remove(s.AutostartPath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove autostart link of %q: %w", name, err)
	}
	if err := os.Remove(s.ConfigPath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove config of %q: %w", name, err)
	}
	return nil
}

// SetAutostart creates or removes the autostart link of name. The link is
// absolute, as libvirt makes it.
func (s Store) SetAutostart(name string, on bool) error {
	link := s.AutostartPath(name)
	if !on {
		if err := os.Remove(link); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("disable autostart of %q: %w", name, err)
		}
		return nil
	}
	if err := os.MkdirAll(s.AutostartDir, 0o700); err != nil {
		return fmt.Errorf("enable autostart of %q: %w", name, err)
	}
	target, err := filepath.Abs(s.ConfigPath(name))
	if err != nil {
		return fmt.Errorf("enable autostart of %q: %w", name, err)
	}
	if err := Symlink(target, link); err != nil {
		return fmt.Errorf("enable autostart of %q: %w", name, err)
	}
	return nil
}

// Autostart reports whether name has an autostart link.
func (s Store) Autostart(name string) bool {
	_, err := os.Lstat(s.AutostartPath(name))
	return err == nil
}

// LoadConfigs reads every NAME.xml in ConfigDir. A missing directory means
// no domains. Unreadable files are returned in the error list and skipped,
// so one bad file does not hide the others.
func (s Store) LoadConfigs() ([]Entry, []error) {
	ents, err := os.ReadDir(s.ConfigDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{fmt.Errorf("load configs: %w", err)}
	}
	var out []Entry
	var errs []error
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".xml") || strings.HasPrefix(n, ".") {
			continue
		}
		name := strings.TrimSuffix(n, ".xml")
		data, err := os.ReadFile(filepath.Join(s.ConfigDir, n))
		if err != nil {
			errs = append(errs, fmt.Errorf("load config %s: %w", n, err))
			continue
		}
		out = append(out, Entry{Name: name, XML: string(data), Autostart: s.Autostart(name)})
	}
	return out, errs
}

// Status is what the state directory remembers about a running domain: the
// live definition plus the processes behind it. The file format is
// libvirt's <domstatus> so that tools reading /run/libvirt/lxc/NAME.xml
// find what they expect.
type Status struct {
	XMLName xml.Name           `xml:"domstatus"`
	State   string             `xml:"state,attr"`
	Reason  string             `xml:"reason,attr"`
	PID     int                `xml:"pid,attr"`
	Init    statusInit         `xml:"init"`
	Domain  *libvirtxml.Domain `xml:"domain"`
}

type statusInit struct {
	PID int `xml:"pid,attr"`
}

// NewStatus builds a status record.
func NewStatus(state, reason string, controllerPID, initPID int, dom *libvirtxml.Domain) *Status {
	return &Status{State: state, Reason: reason, PID: controllerPID, Init: statusInit{PID: initPID}, Domain: dom}
}

// InitPID is the container init's PID recorded in the status.
func (st *Status) InitPID() int { return st.Init.PID }

// SaveStatus writes the status file of name.
func (s Store) SaveStatus(name string, st *Status) error {
	if err := os.MkdirAll(s.StateDir, 0o700); err != nil {
		return fmt.Errorf("save status of %q: %w", name, err)
	}
	body, err := xml.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("save status of %q: %w", name, err)
	}
	data := header(name) + string(body) + "\n"
	if err := WriteFile(s.StatusPath(name), []byte(data), 0o600); err != nil {
		return fmt.Errorf("save status of %q: %w", name, err)
	}
	return nil
}

// RemoveStatus deletes the status file of name.
func (s Store) RemoveStatus(name string) error {
	if err := os.Remove(s.StatusPath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove status of %q: %w", name, err)
	}
	return nil
}

// LoadStatuses reads every <domstatus> file in StateDir. Other files the
// runtime keeps there (sockets, pid files, records in other formats) are
// skipped because they do not parse as <domstatus>.
func (s Store) LoadStatuses() (map[string]*Status, []error) {
	ents, err := os.ReadDir(s.StateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{fmt.Errorf("load status files: %w", err)}
	}
	out := map[string]*Status{}
	var errs []error
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(n, ".xml") || strings.HasPrefix(n, ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.StateDir, n))
		if err != nil {
			errs = append(errs, fmt.Errorf("load status %s: %w", n, err))
			continue
		}
		if !strings.Contains(string(data), "<domstatus") {
			continue
		}
		st := &Status{}
		if err := xml.Unmarshal(data, st); err != nil || st.Domain == nil {
			errs = append(errs, fmt.Errorf("load status %s: %v", n, err))
			continue
		}
		out[strings.TrimSuffix(n, ".xml")] = st
	}
	return out, errs
}

// MarkAutostarted records that autostart ran in this host boot. It returns
// true only the first time, which is when autostart should run.
func (s Store) MarkAutostarted() (bool, error) {
	if err := os.MkdirAll(s.StateDir, 0o700); err != nil {
		return false, fmt.Errorf("autostart marker: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(s.StateDir, autostartMarker), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("autostart marker: %w", err)
	}
	return true, f.Close()
}
