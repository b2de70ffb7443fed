package verify

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/virtlxcd/virtlxcd/packaging/manpage"
)

// shipped is what both packages must hold, with modes.
var shipped = map[string]string{
	"/usr/sbin/virtlxcd":                            "-rwxr-xr-x",
	"/usr/sbin/virtlxcd-migrate":                    "-rwxr-xr-x",
	"/usr/lib/systemd/system/virtlxcd.service":      "-rw-r--r--",
	"/usr/lib/systemd/system/virtlxcd.socket":       "-rw-r--r--",
	"/usr/lib/systemd/system/virtlxcd-ro.socket":    "-rw-r--r--",
	"/usr/lib/systemd/system/virtlxcd-admin.socket": "-rw-r--r--",
	"/usr/lib/tmpfiles.d/virtlxcd.conf":             "-rw-r--r--",
	"/etc/libvirt/virtlxcd.conf":                    "-rw-r--r--",
	"/etc/libvirt/lxc.conf":                         "-rw-r--r--",
	"/etc/logrotate.d/libvirtd.lxc":                 "-rw-r--r--",
	"/usr/share/man/man8/virtlxcd.8.gz":             "-rw-r--r--",
	"/usr/share/man/man8/virtlxcd-migrate.8.gz":     "-rw-r--r--",
	"/etc/libvirt/lxc":                              "drwx------",
	"/etc/libvirt/lxc/autostart":                    "drwx------",
	"/var/lib/libvirt/lxc":                          "drwx------",
	"/var/log/libvirt/lxc":                          "drwx------",
}

var (
	debOnly = map[string]string{
		"/etc/default/virtlxcd":                       "-rw-r--r--",
		"/usr/share/doc/virtlxcd/copyright":           "-rw-r--r--",
		"/usr/share/doc/virtlxcd/changelog.Debian.gz": "-rw-r--r--",
		"/usr/share/lintian/overrides/virtlxcd":       "-rw-r--r--",
	}
	rpmOnly = map[string]string{
		"/etc/sysconfig/virtlxcd":                           "-rw-r--r--",
		"/usr/share/licenses/virtlxcd/LICENSE":              "-rw-r--r--",
		"/usr/lib/systemd/system-preset/50-virtlxcd.preset": "-rw-r--r--",
	}
)

func merged(a, b map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

// rpmQuery runs rpm on a package file with a throwaway database, so that
// nothing is written to the host's.
func rpmQuery(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, "rpm", append([]string{"--dbpath", t.TempDir()}, args...)...)
}

func TestDebContents(t *testing.T) {
	requireTools(t, "dpkg-deb")
	deb := packages(t).Current.Deb
	version := projectVersion(t)
	if want := "virtlxcd_" + version + "-1_amd64.deb"; filepath.Base(deb) != want {
		t.Errorf("deb is named %s, want %s", filepath.Base(deb), want)
	}
	got := map[string]string{}
	for _, line := range strings.Split(run(t, "dpkg-deb", "-c", deb), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 {
			got[strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")] = f[0]
		}
	}
	for p, mode := range merged(shipped, debOnly) {
		if got[p] != mode {
			t.Errorf("deb: %s has mode %q, want %q", p, got[p], mode)
		}
	}
	for p := range rpmOnly {
		if _, ok := got[p]; ok {
			t.Errorf("deb ships the RPM-only %s", p)
		}
	}
	if _, ok := got["/usr/lib/systemd/system/libvirt-guests.service"]; ok {
		t.Error("deb ships libvirt's libvirt-guests.service")
	}

	info := run(t, "dpkg-deb", "-I", deb)
	for _, want := range []string{
		"Package: virtlxcd\n",
		"Version: " + version + "-1\n",
		"Architecture: amd64\n",
		"Depends: init-system-helpers (>= 1.54~), systemd\n",
		"Recommends: libvirt-clients\n",
		"Conflicts: libvirt-daemon-driver-lxc\n",
		"Replaces: libvirt-daemon-driver-lxc, libvirt-daemon-system (<< 10.6.0-2~)\n",
		" postinst", " prerm", " postrm", " conffiles",
	} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb -I lacks %q:\n%s", want, info)
		}
	}
	ctrl := t.TempDir()
	run(t, "dpkg-deb", "-e", deb, ctrl)
	conf := strings.Fields(mustRead(t, filepath.Join(ctrl, "conffiles")))
	slices.Sort(conf)
	want := []string{"/etc/default/virtlxcd", "/etc/libvirt/lxc.conf", "/etc/libvirt/virtlxcd.conf", "/etc/logrotate.d/libvirtd.lxc"}
	if !slices.Equal(conf, want) {
		t.Errorf("conffiles %v, want %v", conf, want)
	}

	// The packaged man pages are the rendered ones, stamped with VERSION.
	out, err := exec.Command("sh", "-c", "dpkg-deb --fsys-tarfile \"$1\" | tar -xOf - ./usr/share/man/man8/virtlxcd.8.gz", "sh", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	page, err := manpage.Gunzip(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), `.TH "VIRTLXCD" 8`) || !strings.Contains(string(page), "virtlxcd "+version) {
		t.Errorf("packaged virtlxcd.8 is not the rendered page of %s:\n%.300s", version, page)
	}
}

func TestRPMContents(t *testing.T) {
	requireTools(t, "rpm")
	rpm := packages(t).Current.RPM
	version := projectVersion(t)
	if want := "virtlxcd-" + version + "-1.x86_64.rpm"; filepath.Base(rpm) != want {
		t.Errorf("rpm is named %s, want %s", filepath.Base(rpm), want)
	}
	got := map[string]string{}
	flags := map[string]string{}
	for _, line := range strings.Split(rpmQuery(t, "-qp", "--qf", "[%{FILEMODES:perms} %{FILEFLAGS:fflags} %{FILENAMES}\n]", rpm), "\n") {
		f := strings.Fields(line)
		switch len(f) {
		case 3:
			got[f[2]], flags[f[2]] = f[0], f[1]
		case 2: // no flags
			got[f[1]] = f[0]
		}
	}
	for p, mode := range merged(shipped, rpmOnly) {
		if got[p] != mode {
			t.Errorf("rpm: %s has mode %q, want %q", p, got[p], mode)
		}
	}
	for p := range debOnly {
		if _, ok := got[p]; ok {
			t.Errorf("rpm ships the Debian-only %s", p)
		}
	}
	for _, c := range []string{"/etc/libvirt/virtlxcd.conf", "/etc/libvirt/lxc.conf", "/etc/sysconfig/virtlxcd", "/etc/logrotate.d/libvirtd.lxc"} {
		if flags[c] != "cn" {
			t.Errorf("rpm: %s has flags %q, want cn (config, noreplace)", c, flags[c])
		}
	}
	for _, m := range []string{"/usr/share/man/man8/virtlxcd.8.gz", "/usr/share/man/man8/virtlxcd-migrate.8.gz"} {
		if flags[m] != "d" {
			t.Errorf("rpm: %s has flags %q, want d (documentation)", m, flags[m])
		}
	}

	list := strings.Fields(rpmQuery(t, "-qpl", rpm))
	if !slices.Contains(list, "/usr/sbin/virtlxcd") || slices.Contains(list, "/usr/lib/systemd/system/libvirt-guests.service") {
		t.Errorf("rpm -qpl:\n%s", strings.Join(list, "\n"))
	}
	if v := rpmQuery(t, "-qp", "--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}", rpm); v != "virtlxcd "+version+" 1 x86_64" {
		t.Errorf("rpm identity %q", v)
	}
	req := rpmQuery(t, "-qp", "--requires", rpm)
	if !strings.Contains(req, "systemd") {
		t.Errorf("rpm requires:\n%s", req)
	}
	if c := rpmQuery(t, "-qp", "--conflicts", rpm); !strings.Contains(c, "libvirt-daemon-driver-lxc") {
		t.Errorf("rpm conflicts:\n%s", c)
	}
	if r := rpmQuery(t, "-qp", "--recommends", rpm); !strings.Contains(r, "libvirt-client") {
		t.Errorf("rpm recommends:\n%s", r)
	}
	scripts := rpmQuery(t, "-qp", "--scripts", rpm)
	for _, want := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet",
		"systemctl --no-reload preset", "try-restart virtlxcd.service"} {
		if !strings.Contains(scripts, want) {
			t.Errorf("rpm scriptlets lack %q:\n%s", want, scripts)
		}
	}
	if strings.Contains(scripts, "stop virtlxcd.service") {
		t.Errorf("an rpm scriptlet stops the service outside erase:\n%s", scripts)
	}
	if k := rpmQuery(t, "-K", rpm); !strings.Contains(k, "digests OK") {
		t.Errorf("rpm -K: %s", k)
	}
	if cl := rpmQuery(t, "-qp", "--changelog", rpm); !strings.Contains(cl, "- "+version+"-1") {
		t.Errorf("rpm changelog does not name %s-1:\n%s", version, cl)
	}
}

// Two builds of one tree are byte-identical (mtime is fixed, man pages are
// gzipped without name or time stamp).
func TestPackagesReproducible(t *testing.T) {
	b := packages(t)
	again, err := os.MkdirTemp(work, "again-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", "./packaging/cmd/mkpkg", "packages",
		"-version", projectVersion(t), "-build", binaries(t), "-out", again)
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkpkg packages: %v\n%s", err, out)
	}
	for _, p := range []string{b.Current.Deb, b.Current.RPM} {
		a, b := mustRead(t, p), mustRead(t, filepath.Join(again, filepath.Base(p)))
		if a != b {
			t.Errorf("%s differs between two builds", filepath.Base(p))
		}
	}
}

func TestLintian(t *testing.T) {
	requireTools(t, "lintian")
	deb := packages(t).Current.Deb
	// lintian refuses nothing as root but says so; the verdict is the
	// exit status with errors and warnings made fatal.
	cmd := exec.Command("lintian", "--fail-on", "error,warning", "-EvIL", "+pedantic", deb)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "LC_ALL=C")
	b, err := cmd.CombinedOutput()
	out := string(b)
	if err != nil {
		t.Fatalf("lintian: %v\n%s", err, out)
	}
	if strings.Contains(out, "unused-override") || strings.Contains(out, "mismatched-override") {
		t.Errorf("lintian overrides no longer match:\n%s", out)
	}
}

// rpmlint unpacks the payload with cpio, and nfpm's payload has absolute
// names: plain rpmlint as root would write the package into the host's /.
// The wrapper makes every cpio call strip the leading slash.
func TestRpmlint(t *testing.T) {
	requireTools(t, "rpmlint", "cpio")
	rpm := packages(t).Current.RPM
	safe := t.TempDir()
	wrapper := "#!/bin/sh\nexec " + mustLook(t, "cpio") + " --no-absolute-filenames \"$@\"\n"
	if err := os.WriteFile(filepath.Join(safe, "cpio"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("rpmlint", "-c", filepath.Join(repoRoot(t), "packaging/rpmlint.toml"), rpm)
	cmd.Dir = t.TempDir()
	// rpm keeps its database in ~/.rpmdb on Debian; a private HOME keeps
	// rpmlint from creating one for root.
	cmd.Env = append(os.Environ(), "PATH="+safe+":"+os.Getenv("PATH"), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "0 errors, 0 warnings") {
		t.Errorf("rpmlint: %v\n%s", err, out)
	}
	if exists("/usr/sbin/virtlxcd-migrate") && !isDpkgOwned(t, "/usr/sbin/virtlxcd-migrate") {
		t.Error("/usr/sbin/virtlxcd-migrate appeared on the host: rpmlint unpacked into /")
	}
}

func mustLook(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func isDpkgOwned(t testing.TB, path string) bool {
	_, err := runErr("dpkg", "-S", path)
	return err == nil
}

func TestMaintainerScriptsShellcheck(t *testing.T) {
	requireTools(t, "shellcheck")
	scripts, err := filepath.Glob(filepath.Join(repoRoot(t), "packaging/scripts/*/*"))
	if err != nil || len(scripts) != 6 {
		t.Fatalf("maintainer scripts: %v %v", scripts, err)
	}
	run(t, "shellcheck", append([]string{"-s", "sh"}, scripts...)...)
}
