// Package daemonconf turns virtlxcd.conf and lxc.conf into typed settings,
// with libvirt's defaults, option names, types and validation messages, so
// a configuration written for libvirt's virtlxcd behaves the same here.
package daemonconf

import (
	_ "embed"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/virtlxcd/virtlxcd/pkg/conf"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// DefaultConfFile and DefaultLXCConfFile are the commented configuration
// files that packages install as /etc/libvirt/virtlxcd.conf and
// /etc/libvirt/lxc.conf: every option, commented out, at its default.
var (
	//go:embed virtlxcd.conf
	DefaultConfFile []byte
	//go:embed lxc.conf
	DefaultLXCConfFile []byte
)

// Auth values for auth_unix_ro / auth_unix_rw.
const (
	AuthNone   = "none"
	AuthSASL   = "sasl"
	AuthPolkit = "polkit"
)

// Config holds the settings of virtlxcd.conf.
type Config struct {
	UnixSockGroup                                        string // "" = unset: the daemon's own group
	UnixSockROPerms, UnixSockRWPerms, UnixSockAdminPerms os.FileMode
	UnixSockDir                                          string // "" = unset: the daemon uses paths.RunDir

	AuthUnixRO, AuthUnixRW                 string // AuthNone, AuthSASL or AuthPolkit
	AccessDrivers, SaslAllowedUsernameList []string

	MaxClients, MaxQueuedClients, MaxAnonymousClients      uint
	MinWorkers, MaxWorkers, PrioWorkers, MaxClientRequests uint
	AdminMinWorkers, AdminMaxWorkers, AdminMaxClients      uint
	AdminMaxQueuedClients, AdminMaxClientRequests          uint

	LogLevel   uint // 0 = unset (the logging default, 3, applies)
	LogFilters string
	LogOutputs string

	AuditLevel   uint
	AuditLogging bool

	HostUUID       string // "" = unset
	HostUUIDSource string // "smbios" or "machine-id"

	KeepaliveInterval      int // -1 disables the server's pings
	KeepaliveCount         uint
	AdminKeepaliveInterval int
	AdminKeepaliveCount    uint

	OvsTimeout uint

	// Unknown lists the names in the file that no option uses, in file
	// order. libvirt ignores them silently; the daemon can warn.
	Unknown []string

	File string // the file the settings came from ("" = defaults only)
}

// Default returns libvirt's defaults as its code sets them (which differ
// from the comments in libvirt's own shipped file for the admin server).
// Authentication defaults to "none" where libvirt's Debian build defaults
// to "polkit": this daemon has no polkit support, and "none" with 0700
// on the read-write socket gives root-only access, as libvirt does when
// built without polkit.
func Default() *Config {
	return &Config{
		UnixSockROPerms:    0o777,
		UnixSockRWPerms:    0o700,
		UnixSockAdminPerms: 0o700,
		AuthUnixRO:         AuthNone,
		AuthUnixRW:         AuthNone,

		MaxClients:          5000,
		MaxQueuedClients:    1000,
		MaxAnonymousClients: 20,
		MinWorkers:          5,
		MaxWorkers:          20,
		PrioWorkers:         5,
		MaxClientRequests:   5,

		AdminMinWorkers:        5,
		AdminMaxWorkers:        20,
		AdminMaxClients:        5000,
		AdminMaxQueuedClients:  20,
		AdminMaxClientRequests: 5,

		AuditLevel:     1,
		HostUUIDSource: "smbios",

		KeepaliveInterval:      5,
		KeepaliveCount:         5,
		AdminKeepaliveInterval: 5,
		AdminKeepaliveCount:    5,

		OvsTimeout: 5,
	}
}

// ModeError is an unparsable socket permission. libvirt finds it while
// setting up sockets, and exits with status 6 rather than the 1 of other
// configuration errors; the type lets the daemon do the same.
type ModeError struct {
	Key, Value string
}

func (e *ModeError) Error() string { return fmt.Sprintf("Failed to parse mode '%s'", e.Value) }

// Load reads path and returns its settings over the defaults, validated.
// A missing file is an error (it unwraps to fs.ErrNotExist): the daemon
// decides whether a missing implicit file means "defaults".
func Load(path string) (*Config, error) {
	f, err := conf.ParseFile(path)
	if err != nil {
		return nil, err
	}
	c, err := FromFile(f)
	if err != nil {
		return nil, err
	}
	c.File = path
	return c, nil
}

// FromFile applies a parsed file over the defaults and validates the result.
// Checks run in libvirt's order, so with several mistakes the same one is
// reported first.
func FromFile(f *conf.File) (*Config, error) {
	c := Default()
	c.File = f.Name
	var perms [3]*string // ro, rw, admin as written in the file
	known := map[string]bool{}
	for _, o := range options {
		known[o.key] = true
		if err := o.load(f, c, &perms); err != nil {
			return nil, err
		}
	}
	for _, key := range ignored {
		known[key] = true
	}
	for _, key := range f.Keys() {
		if !known[key] {
			c.Unknown = append(c.Unknown, key)
		}
	}

	// An explicit host_uuid makes the source irrelevant, so libvirt only
	// checks the source when there is no host_uuid.
	switch {
	case c.HostUUID != "":
		if err := checkHostUUID(c.HostUUID); err != nil {
			return nil, err
		}
	case c.HostUUIDSource != "smbios" && c.HostUUIDSource != "machine-id":
		return nil, virterror.Raw(virterror.ConfigUnsupported, virterror.FromConf,
			fmt.Sprintf("invalid UUID source: %s", c.HostUUIDSource))
	}
	if c.LogLevel > 4 {
		return nil, virterror.New(virterror.InvalidArg, virterror.FromConf,
			"Failed to set logging priority, argument '%d' is invalid", c.LogLevel)
	}
	for i, p := range []struct {
		key string
		dst *os.FileMode
	}{
		{"unix_sock_ro_perms", &c.UnixSockROPerms},
		{"unix_sock_rw_perms", &c.UnixSockRWPerms},
		{"unix_sock_admin_perms", &c.UnixSockAdminPerms},
	} {
		if perms[i] == nil {
			continue
		}
		mode, err := ParseMode(*perms[i])
		if err != nil {
			return nil, &ModeError{Key: p.key, Value: *perms[i]}
		}
		*p.dst = mode
	}
	return c, nil
}

// ParseMode parses an octal permission string the way libvirt does
// (strtol base 8 over the whole string): "0770", "770" and " 0660" are
// fine, "rw", "0o770", "" and "0888" are not.
func ParseMode(s string) (os.FileMode, error) {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	t = strings.TrimPrefix(t, "+")
	if t == "" || strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '7' }) >= 0 {
		return 0, fmt.Errorf("mode %q is not an octal number", s)
	}
	n, err := strconv.ParseUint(t, 8, 32)
	if err != nil || n > 0o7777 {
		return 0, fmt.Errorf("mode %q is out of range", s)
	}
	mode := os.FileMode(n & 0o777)
	for _, bit := range []struct {
		unix uint64
		mode os.FileMode
	}{{0o4000, os.ModeSetuid}, {0o2000, os.ModeSetgid}, {0o1000, os.ModeSticky}} {
		if n&bit.unix != 0 {
			mode |= bit.mode
		}
	}
	return mode, nil
}

// checkHostUUID applies libvirt's rules: 32 hex digits with '-' or ' '
// allowed between digit pairs and blanks around, and not all 16 bytes
// equal (firmware placeholders such as 00000000-... or ffffffff-...).
func checkHostUUID(s string) error {
	bad := virterror.Raw(virterror.InternalError, virterror.FromConf, "invalid host UUID: "+s)
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	var raw [16]byte
	for i := 0; i < len(raw); {
		if t == "" {
			return bad
		}
		if t[0] == '-' || t[0] == ' ' {
			t = t[1:]
			continue
		}
		if len(t) < 2 {
			return bad
		}
		b, err := strconv.ParseUint(t[:2], 16, 8)
		if err != nil || strings.ContainsAny(t[:2], "+-") {
			return bad
		}
		raw[i] = byte(b)
		i++
		t = t[2:]
	}
	if strings.TrimRight(t, " \t\n\v\f\r") != "" {
		return bad
	}
	for _, b := range raw[1:] {
		if b != raw[0] {
			return nil
		}
	}
	return bad
}
