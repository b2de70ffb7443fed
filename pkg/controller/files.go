package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/virtlxcd/virtlxcd/pkg/netdev"
)

// Files the controller keeps in Dirs.StateDir, named after the domain as
// libvirt names its own (NAME.pid, NAME.sock); the status and exit records
// are ours (libvirt's NAME.xml status file belongs to the driver).
func (d Dirs) pidFile(name string) string    { return filepath.Join(d.StateDir, name+".pid") }
func (d Dirs) sockFile(name string) string   { return filepath.Join(d.StateDir, name+".sock") }
func (d Dirs) statusFile(name string) string { return filepath.Join(d.StateDir, name+".ctl.json") }
func (d Dirs) exitFile(name string) string   { return filepath.Join(d.StateDir, name+".exit.json") }
func (d Dirs) rootDir(name string) string    { return filepath.Join(d.StateDir, name+".root") }
func (d Dirs) logFile(name string) string    { return filepath.Join(d.LogDir, name+".log") }

// status is what a running controller records about itself, enough for a
// restarted daemon to find, verify and manage it.
type status struct {
	// Protocol is the monitor protocol version the controller speaks.
	Protocol       int      `json:"protocol"`
	Name           string   `json:"name"`
	UUID           string   `json:"uuid"`
	ControllerPID  int      `json:"controller_pid"`
	ControllerTime uint64   `json:"controller_start_time"` // /proc/PID/stat field 22
	InitPID        int      `json:"init_pid"`
	InitTime       uint64   `json:"init_start_time"`
	Consoles       []string `json:"consoles"`
	Interfaces     []string `json:"interfaces,omitempty"`
	// Links adds the ifindex to each interface, so that cleanup never
	// deletes a device that took over a vanished veth's name.
	Links  []netdev.Link `json:"links,omitempty"`
	Cgroup string        `json:"cgroup"`
}

// exitRecord is written by the controller just before it exits and
// removed by the daemon once it has reported the exit.
type exitRecord struct {
	ControllerPID int    `json:"controller_pid"`
	Reason        string `json:"reason"`
	Status        string `json:"status"`
}

// writeFileAtomic writes data to a temporary file in the same directory,
// syncs it and renames it over path, so readers see the old or the new
// content and never a torn one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename to %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'), 0o600)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

func writePIDFile(path string, pid int) error {
	return writeFileAtomic(path, []byte(strconv.Itoa(pid)+"\n"), 0o644)
}

// removeState deletes the per-domain runtime files except the exit record.
// The status file goes last: once it is gone, so is everything else.
func (d Dirs) removeState(name string) error {
	var errs []error
	for _, p := range []string{d.rootDir(name), d.sockFile(name), d.pidFile(name), d.statusFile(name)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
