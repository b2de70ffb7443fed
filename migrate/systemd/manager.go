// Package systemd performs the unit operations virtlxcd-migrate needs
// (start, stop, restart, enable, disable, mask, unmask, daemon-reload, unit
// states) either through a running systemd's D-Bus API or, where systemd is
// not running (an image build, a chroot), directly on a file tree the way
// systemctl --root does: mask is a link to /dev/null, enable makes the
// [Install] section's links.
package systemd

import (
	"context"
	"errors"
)

// ErrOffline is returned for operations that need a running systemd
// (starting, stopping, reloading) by the offline manager.
var ErrOffline = errors.New("systemd is not running (offline mode): skipped")

// UnitState is what virtlxcd-migrate needs to know about a unit.
type UnitState struct {
	Name          string
	LoadState     string // loaded, not-found, masked, bad-setting, error
	ActiveState   string // active, inactive, failed, activating...; "" offline
	SubState      string
	UnitFileState string // enabled, disabled, static, masked, ...
	FragmentPath  string
	DropInPaths   []string
	After         []string
	Requires      []string
	BindsTo       []string
}

// Installed tells whether systemd knows a unit file of that name (masked
// units are installed units).
func (s UnitState) Installed() bool {
	return s.LoadState != "" && s.LoadState != "not-found"
}

// Masked tells whether the unit is masked.
func (s UnitState) Masked() bool {
	return s.LoadState == "masked" || s.UnitFileState == "masked" || s.UnitFileState == "masked-runtime"
}

// Enabled tells whether the unit is enabled (at boot or by alias).
func (s UnitState) Enabled() bool {
	switch s.UnitFileState {
	case "enabled", "enabled-runtime", "alias":
		return true
	}
	return false
}

// Active tells whether the unit is active or on its way there.
func (s UnitState) Active() bool {
	switch s.ActiveState {
	case "active", "activating", "reloading":
		return true
	}
	return false
}

// Change is one file-system change systemd (or the offline manager) made.
type Change struct {
	Type        string // symlink, unlink
	Filename    string
	Destination string
}

// Manager is a systemd to operate on.
type Manager interface {
	// Describe says which systemd this is, for the user.
	Describe() string
	// Online tells whether jobs (start, stop, reload) can run.
	Online() bool
	State(ctx context.Context, unit string) (UnitState, error)
	// Start, Stop and Restart queue a job and wait for it to finish; a job
	// that does not end "done" is an error.
	Start(ctx context.Context, unit string) error
	Stop(ctx context.Context, unit string) error
	Restart(ctx context.Context, unit string) error
	Enable(ctx context.Context, units ...string) ([]Change, error)
	Disable(ctx context.Context, units ...string) ([]Change, error)
	Mask(ctx context.Context, units ...string) ([]Change, error)
	Unmask(ctx context.Context, units ...string) ([]Change, error)
	Reload(ctx context.Context) error
	Close()
}
