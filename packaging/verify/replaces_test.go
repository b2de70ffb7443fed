package verify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// libvirtSystemDeb is bookworm's libvirt-daemon-system, which owns two of
// our conffiles there; downloaded once into the cache by apt in a chroot.
func libvirtSystemDeb(t *testing.T, root string) string {
	t.Helper()
	if m, _ := filepath.Glob(filepath.Join(cacheDir, "libvirt-daemon-system_*.deb")); len(m) == 1 {
		return m[0]
	}
	dl := filepath.Join(root, "tmp/download")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		t.Fatal(err)
	}
	inRoot(t, root, "sh", "-c", "cd /tmp/download && apt-get -q download libvirt-daemon-system")
	m, _ := filepath.Glob(filepath.Join(dl, "libvirt-daemon-system_*.deb"))
	if len(m) != 1 {
		t.Fatalf("apt-get download libvirt-daemon-system gave %v", m)
	}
	dst := filepath.Join(cacheDir, filepath.Base(m[0]))
	run(t, "cp", m[0], dst+".tmp")
	if err := os.Rename(dst+".tmp", dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// On bookworm, libvirt-daemon-system ships /etc/libvirt/lxc.conf and
// /etc/logrotate.d/libvirtd.lxc. Our Replaces: lets dpkg hand both over
// instead of refusing the install.
func TestDebReplacesLibvirtDaemonSystem(t *testing.T) {
	requireRoot(t)
	b := packages(t)
	root := newRoot(t, "deb-replaces-root")
	lds := libvirtSystemDeb(t, root)
	run(t, "cp", lds, b.Current.Deb, filepath.Join(root, "tmp"))

	// Unpacked only: what matters is who owns the files, and configuring
	// it would pull in all of libvirt.
	inRoot(t, root, "dpkg", "--unpack", "--force-depends", "/tmp/"+filepath.Base(lds))
	owner := func(path string) string {
		t.Helper()
		out := inRoot(t, root, "dpkg-query", "-S", path)
		return strings.TrimSpace(strings.SplitN(out, ":", 2)[0])
	}
	for _, f := range []string{"/etc/libvirt/lxc.conf", "/etc/logrotate.d/libvirtd.lxc"} {
		if o := owner(f); o != "libvirt-daemon-system" {
			t.Fatalf("%s belongs to %q before our install; the premise is gone", f, o)
		}
	}
	inRoot(t, root, "dpkg", "-i", "/tmp/"+filepath.Base(b.Current.Deb))
	for _, f := range []string{"/etc/libvirt/lxc.conf", "/etc/logrotate.d/libvirtd.lxc"} {
		if o := owner(f); o != "virtlxcd" {
			t.Errorf("%s belongs to %q after our install, want virtlxcd", f, o)
		}
	}
}
