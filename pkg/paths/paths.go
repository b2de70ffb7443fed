// Package paths knows where virtlxcd keeps its files. Every location is
// libvirt's, below an optional prefix taken from $VIRTLXCD_PREFIX so that
// tests and "make run" never touch the host's /etc/libvirt or /run/libvirt.
package paths

import (
	"os"
	"path/filepath"
)

// PrefixEnv relocates every path below its value when set.
const PrefixEnv = "VIRTLXCD_PREFIX"

// Paths lists the daemon's files and directories.
type Paths struct {
	Prefix          string
	ConfigFile      string // /etc/libvirt/virtlxcd.conf
	LXCConfigFile   string // /etc/libvirt/lxc.conf
	RunDir          string // /run/libvirt: default unix_sock_dir
	PIDFile         string // /run/virtlxcd.pid
	LXCConfigDir    string // /etc/libvirt/lxc: persistent domain XML
	LXCAutostartDir string // /etc/libvirt/lxc/autostart
	LXCStateDir     string // /run/libvirt/lxc: status XML, controller sockets
	LXCLogDir       string // /var/log/libvirt/lxc: controller logs
	LXCLibDir       string // /var/lib/libvirt/lxc
	LogFile         string // /var/log/libvirt/virtlxcd.log: default output when daemonised
}

// Default returns the paths for this process, honouring $VIRTLXCD_PREFIX.
func Default() Paths { return Under(os.Getenv(PrefixEnv)) }

// Under returns the paths below prefix ("" = the real root).
func Under(prefix string) Paths {
	j := func(p string) string {
		if prefix == "" {
			return p
		}
		return filepath.Join(prefix, p)
	}
	return Paths{
		Prefix:          prefix,
		ConfigFile:      j("/etc/libvirt/virtlxcd.conf"),
		LXCConfigFile:   j("/etc/libvirt/lxc.conf"),
		RunDir:          j("/run/libvirt"),
		PIDFile:         j("/run/virtlxcd.pid"),
		LXCConfigDir:    j("/etc/libvirt/lxc"),
		LXCAutostartDir: j("/etc/libvirt/lxc/autostart"),
		LXCStateDir:     j("/run/libvirt/lxc"),
		LXCLogDir:       j("/var/log/libvirt/lxc"),
		LXCLibDir:       j("/var/lib/libvirt/lxc"),
		LogFile:         j("/var/log/libvirt/virtlxcd.log"),
	}
}
