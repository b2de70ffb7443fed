package daemonconf

import (
	"os"

	"github.com/virtlxcd/virtlxcd/pkg/conf"
)

// LXC holds the settings of lxc.conf, the LXC driver's own file.
type LXC struct {
	// LogWithLibvirtd sends container controllers' logs to the daemon's
	// log outputs instead of /var/log/libvirt/lxc/NAME.log.
	LogWithLibvirtd bool
	// SecurityDriver names the MAC driver for guests. "none" is the only
	// one this daemon implements; the LXC driver refuses others.
	SecurityDriver          string
	SecurityDefaultConfined bool
	SecurityRequireConfined bool

	File string // the file the settings came from ("" = defaults only)
}

// DefaultLXC returns the defaults. libvirt probes for SELinux or AppArmor
// when security_driver is unset and settles on "none" without them; this
// daemon supports neither, so "none" is the default outright.
func DefaultLXC() *LXC {
	return &LXC{SecurityDriver: "none"}
}

// LoadLXC reads lxc.conf. As in libvirt, a file that is missing or cannot
// be read yields the defaults; a file with errors does not.
func LoadLXC(path string) (*LXC, error) {
	fh, err := os.Open(path)
	if err != nil {
		return DefaultLXC(), nil
	}
	fh.Close()
	f, err := conf.ParseFile(path)
	if err != nil {
		return nil, err
	}
	l, err := LXCFromFile(f)
	if err != nil {
		return nil, err
	}
	l.File = path
	return l, nil
}

// LXCFromFile applies a parsed lxc.conf over the defaults, reading the
// keys in libvirt's order so the first error reported is the same.
func LXCFromFile(f *conf.File) (*LXC, error) {
	l := DefaultLXC()
	getBool := func(key string, dst *bool) error {
		v, ok, err := f.Bool(key)
		if ok {
			*dst = v
		}
		return err
	}
	if err := getBool("log_with_libvirtd", &l.LogWithLibvirtd); err != nil {
		return nil, err
	}
	v, ok, err := f.String("security_driver")
	if err != nil {
		return nil, err
	}
	if ok {
		l.SecurityDriver = v
	}
	if err := getBool("security_default_confined", &l.SecurityDefaultConfined); err != nil {
		return nil, err
	}
	if err := getBool("security_require_confined", &l.SecurityRequireConfined); err != nil {
		return nil, err
	}
	return l, nil
}
