// Package plan decides and carries out the switch between virtlxcd's two
// ways of running under systemd: socket activation (the default: the three
// sockets are enabled, the daemon starts on the first connection and exits
// after two idle minutes) and traditional mode (the sockets are masked, the
// service is enabled and runs for good). Build compares the current state
// with the wanted mode and lists the steps that differ, so a second run has
// nothing to do; Apply carries the steps out, reporting each one; Status
// reports which mode the host is in and whether libvirt-guests is ordered
// right for it.
package plan

import (
	"path/filepath"

	"github.com/virtlxcd/virtlxcd/migrate/systemd"
	"github.com/virtlxcd/virtlxcd/migrate/unitfile"
)

// Mode is a way of running virtlxcd.
type Mode string

const (
	SocketActivation Mode = "socket-activation"
	Traditional      Mode = "traditional"
)

const (
	Service = "virtlxcd.service"
	Guests  = "libvirt-guests.service"
)

// Sockets are virtlxcd's socket units, the main one first.
var Sockets = []string{"virtlxcd.socket", "virtlxcd-ro.socket", "virtlxcd-admin.socket"}

// Monolithic are the units of libvirt's monolithic daemon, which conflict
// with virtlxcd's (same domains, same guests).
var Monolithic = []string{"libvirtd.service", "libvirtd.socket", "libvirtd-ro.socket", "libvirtd-admin.socket"}

var (
	// TimeoutDropIn disables the idle timeout in traditional mode.
	TimeoutDropIn = filepath.Join(systemd.AdminDir, Service+".d", "50-virtlxcd-migrate-no-timeout.conf")
	// ServiceOverride is the full copy of a libvirt-style service that
	// binds to its socket (see BindsTo handling in Build).
	ServiceOverride = filepath.Join(systemd.AdminDir, Service)
	// GuestsOverride is the administrator's copy of libvirt-guests.service.
	GuestsOverride = filepath.Join(systemd.AdminDir, Guests)
	// BackupDir keeps every administrator file before it is changed.
	BackupDir = "/var/lib/virtlxcd-migrate/backup"
	// LogFile records everything virtlxcd-migrate did.
	LogFile = "/var/log/virtlxcd-migrate.log"
)

// ordering is the libvirt-guests rewrite for each mode: the ordering
// entries that name the other mode's unit name this mode's instead.
var ordering = map[Mode]unitfile.Rename{
	Traditional:      {Section: "Unit", Keys: []string{"After", "Before"}, From: Sockets, To: Service},
	SocketActivation: {Section: "Unit", Keys: []string{"After", "Before"}, From: []string{Service}, To: Sockets[0]},
}

// unbind takes libvirt's hard dependencies on the main socket out of a copy
// of its service: with BindsTo=virtlxcd.socket (libvirt 9.x and later) a
// masked socket makes the service impossible to start. Dependencies cannot
// be removed by a drop-in (systemd only adds them up), hence a full copy.
var unbind = unitfile.Rename{Section: "Unit", Keys: []string{"BindsTo", "Requires", "Requisite"}, From: Sockets}

const generatedHeader = "# Written by virtlxcd-migrate --traditional; removed again by\n" +
	"# virtlxcd-migrate --socket-activation. Edit at will: an edited file is kept.\n"

// timeoutDropIn is the drop-in's text for a service started by execStart:
// the daemon's last --timeout wins, and 0 means "never exit when idle",
// whatever VIRTLXCD_ARGS says in the unit or in an environment file.
func timeoutDropIn(execStart string) []byte {
	return []byte(generatedHeader +
		"# Not socket activated, the daemon must not exit when idle: nothing\n" +
		"# would start it again.\n" +
		"[Service]\nExecStart=\nExecStart=" + execStart + " --timeout 0\n")
}
