package verify

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var (
	socketUnits = []string{"virtlxcd.socket", "virtlxcd-ro.socket", "virtlxcd-admin.socket"}
	allUnits    = append(slices.Clone(socketUnits), "virtlxcd.service")
	conffiles   = []string{"/etc/libvirt/virtlxcd.conf", "/etc/libvirt/lxc.conf"}
)

// AdminEdit is what the tests add to a conffile to play the administrator.
const AdminEdit = "# edited by the administrator (virtlxcd-pkgtest)\n"

func appendFile(t testing.TB, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// enablement reports `systemctl is-enabled` for each unit inside root.
func enablement(t testing.TB, root string, units ...string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, u := range units {
		out, _ := runErr("chroot", root, "systemctl", "is-enabled", u)
		got[u] = strings.TrimSpace(out)
	}
	return got
}

func wantEnablement(t testing.TB, root, want string, units ...string) {
	t.Helper()
	for u, state := range enablement(t, root, units...) {
		if state != want {
			t.Errorf("%s is %q in %s, want %q", u, state, root, want)
		}
		link := filepath.Join(root, "etc/systemd/system/sockets.target.wants", u)
		if strings.HasSuffix(u, ".socket") && exists(link) != (want == "enabled") {
			t.Errorf("%s: link present = %v, want %v", link, exists(link), want == "enabled")
		}
	}
}

// verifyUnits runs systemd-analyze verify on the installed units. It exits
// 0 on unknown keys and bad values, so any output at all is a failure.
func verifyUnits(t testing.TB, root string) {
	t.Helper()
	args := append([]string{"verify", "--root=" + root, "--man=no"}, allUnits...)
	out, err := runErr("systemd-analyze", args...)
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: err=%v, output:\n%s", err, out)
	}
}

// packageFiles lists the regular files and directories a package holds.
func debFiles(t testing.TB, deb string) (files, dirs []string) {
	t.Helper()
	for _, line := range strings.Split(run(t, "dpkg-deb", "-c", deb), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		p := strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")
		switch f[0][0] {
		case 'd':
			if p != "" {
				dirs = append(dirs, p)
			}
		case '-':
			files = append(files, p)
		}
	}
	return files, dirs
}

func TestDebInstallUpgradeRemovePurge(t *testing.T) {
	requireRoot(t)
	requireTools(t, "chroot", "tar", "dpkg-deb", "systemd-analyze")
	b := packages(t)
	root := newRoot(t, "deb-root")
	before := snapshot(t, root)

	for _, p := range []string{b.Previous.Deb, b.Current.Deb} {
		run(t, "cp", p, filepath.Join(root, "tmp"))
	}
	apt := func(args ...string) string {
		t.Helper()
		base := []string{"apt-get", "-y", "-q", "--no-install-recommends",
			"-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"}
		return inRoot(t, root, append(base, args...)...)
	}
	inTmp := func(p string) string { return "/tmp/" + filepath.Base(p) }
	version := projectVersion(t)

	// A first install of the previous build, by apt as a user would.
	apt("install", inTmp(b.Previous.Deb))
	files, dirs := debFiles(t, b.Previous.Deb)
	for _, p := range append(files, dirs...) {
		if !exists(filepath.Join(root, p)) {
			t.Errorf("installed package lacks %s", p)
		}
	}
	for _, d := range []string{"/etc/libvirt/lxc", "/etc/libvirt/lxc/autostart", "/var/lib/libvirt/lxc", "/var/log/libvirt/lxc"} {
		if st, err := os.Stat(filepath.Join(root, d)); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, mode %v, want 0700", d, err, st.Mode().Perm())
		}
	}
	got := inRoot(t, root, "dpkg-query", "-W", "-f=${Conffiles}", "virtlxcd")
	for _, c := range append(slices.Clone(conffiles), "/etc/default/virtlxcd") {
		if !strings.Contains(got, " "+c+" ") {
			t.Errorf("dpkg does not list %s as conffile:\n%s", c, got)
		}
	}
	wantEnablement(t, root, "enabled", socketUnits...)
	wantEnablement(t, root, "disabled", "virtlxcd.service")
	verifyUnits(t, root)
	// The tmpfiles.d entry parses and makes the guests' runtime directory.
	if out, err := runErr("systemd-tmpfiles", "--root="+root, "--create", "virtlxcd.conf"); err != nil || out != "" {
		t.Errorf("systemd-tmpfiles: %v\n%s", err, out)
	}
	if st, err := os.Stat(filepath.Join(root, "run/libvirt/lxc")); err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Errorf("/run/libvirt/lxc after systemd-tmpfiles: %v %v", err, st)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Upgrade over an administrator's edit, with a guest running.
	conf := filepath.Join(root, "etc/libvirt/virtlxcd.conf")
	appendFile(t, conf, AdminEdit)
	g := startGuest(t, root, "pkgtest-deb-guest")
	apt("install", inTmp(b.Current.Deb))
	if v := inRoot(t, root, "dpkg-query", "-W", "-f=${Version}", "virtlxcd"); v != version+"-1" {
		t.Errorf("version after upgrade %q, want %q", v, version+"-1")
	}
	if !strings.Contains(mustRead(t, conf), AdminEdit) {
		t.Error("upgrade lost the administrator's edit of virtlxcd.conf")
	}
	if dist := mustRead(t, conf+".dpkg-dist"); strings.Contains(dist, PreviousMark) || strings.Contains(dist, AdminEdit) {
		t.Errorf("virtlxcd.conf.dpkg-dist is not the new packaged file:\n%s", dist)
	}
	g.alive(t)
	wantEnablement(t, root, "enabled", socketUnits...)

	// An administrator's disable survives a reinstall.
	inRoot(t, root, "systemctl", "disable", "virtlxcd.socket")
	wantEnablement(t, root, "disabled", socketUnits...)
	inRoot(t, root, "dpkg", "-i", inTmp(b.Current.Deb))
	wantEnablement(t, root, "disabled", socketUnits...)
	inRoot(t, root, "systemctl", "enable", "virtlxcd.socket")
	wantEnablement(t, root, "enabled", socketUnits...)

	// Remove: the program and units go, sockets are disabled, the
	// administrator's configuration stays, the guest keeps running.
	apt("remove", "virtlxcd")
	for _, p := range files {
		if strings.HasPrefix(p, "/etc/") {
			continue
		}
		if exists(filepath.Join(root, p)) {
			t.Errorf("%s is still there after remove", p)
		}
	}
	for _, c := range conffiles {
		if !exists(filepath.Join(root, c)) {
			t.Errorf("remove deleted conffile %s", c)
		}
	}
	for _, u := range socketUnits {
		if link := filepath.Join(root, "etc/systemd/system/sockets.target.wants", u); exists(link) {
			t.Errorf("%s still enabled after remove", link)
		}
	}
	g.alive(t)

	// Purge, once the guest is gone: nothing of ours may remain.
	g.stop()
	inRoot(t, root, "dpkg", "--purge", "virtlxcd")
	if diff := diffSnapshots(before, snapshot(t, root)); len(diff) > 0 {
		t.Errorf("purge left the root different from before the install:\n%s", strings.Join(diff, "\n"))
	}
}

func TestRPMInstallUpgradeErase(t *testing.T) {
	requireRoot(t)
	requireTools(t, "chroot", "tar", "rpm")
	b := packages(t)
	root := newRoot(t, "rpm-root")
	before := snapshot(t, root)

	rpm := func(args ...string) string {
		t.Helper()
		out := run(t, "rpm", append([]string{"--root=" + root, "--dbpath=/var/lib/rpm"}, args...)...)
		// rpm reports a failing scriptlet but still exits 0.
		if strings.Contains(out, "scriptlet failed") || strings.Contains(out, "error:") {
			t.Fatalf("rpm %s:\n%s", strings.Join(args, " "), out)
		}
		return out
	}
	version := projectVersion(t)
	rpm("--initdb")

	// --nodeps: the Debian root has systemd, but not as an RPM.
	rpm("-i", "--nodeps", b.Previous.RPM)
	for _, p := range strings.Fields(rpm("-ql", "virtlxcd")) {
		if !exists(filepath.Join(root, p)) {
			t.Errorf("installed package lacks %s", p)
		}
	}
	cfg := rpm("-qc", "virtlxcd")
	for _, c := range append(slices.Clone(conffiles), "/etc/sysconfig/virtlxcd") {
		if !strings.Contains(cfg, c+"\n") {
			t.Errorf("rpm does not list %s as config file:\n%s", c, cfg)
		}
	}
	wantEnablement(t, root, "enabled", socketUnits...)
	wantEnablement(t, root, "disabled", "virtlxcd.service")
	if t.Failed() {
		t.FailNow()
	}

	conf := filepath.Join(root, "etc/libvirt/virtlxcd.conf")
	appendFile(t, conf, AdminEdit)
	g := startGuest(t, root, "pkgtest-rpm-guest")
	out := rpm("-U", "--nodeps", b.Current.RPM)
	if v := rpm("-q", "--qf", "%{VERSION}-%{RELEASE}", "virtlxcd"); v != version+"-1" {
		t.Errorf("version after upgrade %q, want %q", v, version+"-1")
	}
	if !strings.Contains(mustRead(t, conf), AdminEdit) {
		t.Errorf("upgrade lost the administrator's edit of virtlxcd.conf:\n%s", out)
	}
	if n := mustRead(t, conf+".rpmnew"); strings.Contains(n, PreviousMark) || strings.Contains(n, AdminEdit) {
		t.Errorf("virtlxcd.conf.rpmnew is not the new packaged file:\n%s", n)
	}
	g.alive(t)
	wantEnablement(t, root, "enabled", socketUnits...)

	// The administrator merges the new file, then erases the package.
	if err := os.Remove(conf + ".rpmnew"); err != nil {
		t.Fatal(err)
	}
	rpm("-e", "--nodeps", "virtlxcd")
	for _, u := range socketUnits {
		if link := filepath.Join(root, "etc/systemd/system/sockets.target.wants", u); exists(link) {
			t.Errorf("%s still enabled after erase", link)
		}
	}
	g.alive(t)
	g.stop()
	// The guest outlived the erase, so %postun had to keep its runtime
	// directory; on a real host /run is a tmpfs and goes at reboot.
	for _, d := range []string{"run/libvirt/lxc", "run/libvirt"} {
		if err := os.Remove(filepath.Join(root, d)); err != nil {
			t.Error(err)
		}
	}

	// RPM keeps an edited config file as .rpmsave (with the directory
	// holding it), and /etc/sysconfig and /usr/share/licenses belong to
	// the system (the filesystem package) on RPM distributions; anything
	// else left over is ours and a bug.
	allowed := []string{
		"left behind: /etc/libvirt drwx------",
		"left behind: /etc/libvirt/virtlxcd.conf.rpmsave -rw-r--r--",
		"left behind: /etc/sysconfig drwxr-xr-x",
		"left behind: /usr/share/licenses drwxr-xr-x",
	}
	diff := diffSnapshots(before, snapshot(t, root))
	if !slices.Equal(diff, allowed) {
		t.Errorf("erase left the root different from before the install:\n%s\nallowed only:\n%s",
			strings.Join(diff, "\n"), strings.Join(allowed, "\n"))
	}
}
