package verify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtlxcd/virtlxcd/migrate/sandbox"
)

// manager is how one package format is installed, upgraded and removed.
type manager struct {
	name             string
	install, upgrade string // shell commands, %s = package path
	remove, purge    string
	packages         func(builds) (prev, cur string)
	conffileNote     string // where the packaged conffile goes when the admin's is kept
}

var managers = []manager{
	{
		name:    "deb",
		install: "dpkg -i %s",
		// dpkg would ask about the edited conffile; keep the admin's.
		upgrade:      "dpkg -i --force-confdef --force-confold %s",
		remove:       "dpkg -r virtlxcd",
		purge:        "dpkg -P virtlxcd",
		packages:     func(b builds) (string, string) { return b.Previous.Deb, b.Current.Deb },
		conffileNote: "/etc/libvirt/virtlxcd.conf.dpkg-dist",
	},
	{
		// --nodeps: this Debian root has systemd, but not as an RPM.
		name:         "rpm",
		install:      "rpm -i --nodeps %s",
		upgrade:      "rpm -U --nodeps %s",
		remove:       "rpm -e --nodeps virtlxcd",
		packages:     func(b builds) (string, string) { return b.Previous.RPM, b.Current.RPM },
		conffileNote: "/etc/libvirt/virtlxcd.conf.rpmnew",
	},
}

// TestUnderRunningSystemd installs, upgrades and removes each package on a
// host where systemd runs: the sandbox of migrate/sandbox boots a real
// systemd as PID 1 of private namespaces on an overlay of this machine's
// root, so dpkg and the maintainer scripts work on a throwaway copy of it
// and talk to that systemd. This is where the scripts' "systemd is running"
// branches run: sockets started on install, the service socket-activated by
// virsh, restarted (not stopped) on upgrade while a controller process in
// its cgroup survives, everything stopped on removal.
func TestUnderRunningSystemd(t *testing.T) {
	requireRoot(t)
	b := packages(t)
	for _, m := range managers {
		t.Run(m.name, func(t *testing.T) {
			prev, cur := m.packages(b)
			lifecycleUnderSystemd(t, m, prev, cur)
		})
	}
}

func lifecycleUnderSystemd(t *testing.T, m manager, prev, cur string) {
	snap, err := sandbox.SnapshotHost()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	guest := fmt.Sprintf("pkgtest-%s-%d", m.name, os.Getpid())
	sb, err := sandbox.Start(ctx, sandbox.Options{
		// The host's v1 controllers too: a real guest needs them here.
		HybridCgroups: true,
		Files: []sandbox.File{
			{Path: "/root/virtlxcd-pkgtest/prev." + m.name, HostPath: prev, Mode: 0o644},
			{Path: "/root/virtlxcd-pkgtest/cur." + m.name, HostPath: cur, Mode: 0o644},
			{Path: "/root/virtlxcd-pkgtest/guest.xml", Content: []byte(guestXML(guest, "/srv/virtlxcd-pkgtest-guest")), Mode: 0o644},
			{Path: "/srv/virtlxcd-pkgtest-guest/bin/busybox", HostPath: "/bin/busybox", Mode: 0o755},
			// There is no journal in the sandbox; keep the daemon's output
			// for failure reports.
			{Path: "/etc/systemd/system/virtlxcd.service.d/output.conf", Mode: 0o644,
				Content: []byte("[Service]\nStandardOutput=append:/run/virtlxcd.out\nStandardError=append:/run/virtlxcd.out\n")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			out, _ := os.ReadFile(sb.Path("/run/virtlxcd.out"))
			glog, _ := os.ReadFile(sb.Path("/var/log/libvirt/lxc/" + guest + ".log"))
			t.Logf("sandbox log:\n%s\n--- daemon output ---\n%s\n--- guest log ---\n%s", tail(sb.Log(), 60), tail(string(out), 40), tail(string(glog), 20))
		}
		if err := sb.Close(); err != nil {
			t.Error(err)
		}
		if err := snap.Compare(); err != nil {
			t.Error(err)
		}
	}()
	sh := func(script string) string {
		t.Helper()
		out, err := sb.Command(ctx, "sh", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("in the sandbox: %s: %v\n%s", script, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	state := func(verb string, units ...string) string {
		t.Helper()
		out, _ := sb.Command(ctx, "systemctl", append([]string{verb}, units...)...).CombinedOutput()
		return strings.Join(strings.Fields(string(out)), " ")
	}
	sockets := strings.Join(socketUnits, " ")
	mainPID := func() string { return sh("systemctl show -p MainPID --value virtlxcd.service") }

	// This machine is a container image whose policy-rc.d forbids starting
	// services from maintainer scripts; a real host has none. Removing it
	// touches only the sandbox's overlay.
	sh("rm -f /usr/sbin/policy-rc.d")

	sh(fmt.Sprintf(m.install, "/root/virtlxcd-pkgtest/prev."+m.name))
	if got := state("is-enabled", socketUnits...); got != "enabled enabled enabled" {
		t.Errorf("sockets after install: is-enabled %q", got)
	}
	if got := state("is-active", socketUnits...); got != "active active active" {
		t.Fatalf("sockets after install: is-active %q", got)
	}
	if got := state("is-active", "virtlxcd.service"); got != "inactive" {
		t.Errorf("service started by the install itself: %q", got)
	}
	for path, mode := range map[string]os.FileMode{
		"/run/libvirt/virtlxcd-sock": 0o600, "/run/libvirt/virtlxcd-sock-ro": 0o666, "/run/libvirt/virtlxcd-admin-sock": 0o600,
	} {
		st, err := os.Stat(sb.Path(path))
		if err != nil || st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want a socket with mode %o", path, err, st.Mode(), mode)
		}
	}

	// The first client starts the daemon.
	if got := sh("virsh -c lxc:///system uri"); got != "lxc:///system" {
		t.Errorf("virsh uri printed %q", got)
	}
	if got := state("is-active", "virtlxcd.service"); got != "active" {
		t.Fatalf("virtlxcd.service after the first virsh call: %q", got)
	}
	firstPID := mainPID()

	// A real guest: busybox in its own namespaces, started by the daemon.
	guestRoot := sb.Path("/srv/virtlxcd-pkgtest-guest")
	for _, d := range []string{"sbin", "proc", "sys", "dev", "tmp", "etc", "run", "root"} {
		if err := os.MkdirAll(filepath.Join(guestRoot, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, app := range []string{"sh", "sleep"} {
		if err := os.Symlink("busybox", filepath.Join(guestRoot, "bin", app)); err != nil {
			t.Fatal(err)
		}
	}
	virsh := func(args ...string) string {
		t.Helper()
		return sh("virsh -q -c lxc:///system " + strings.Join(args, " "))
	}
	// A start sent within the daemon's first second after activation was
	// seen to hang (reported to the daemon's owner); this test is about
	// packages, so let the daemon settle.
	time.Sleep(time.Second)
	virsh("define", "/root/virtlxcd-pkgtest/guest.xml")
	virsh("start", guest)
	guestID := virsh("domid", guest)
	guestRunning := func(when string) {
		t.Helper()
		if got := virsh("domstate", guest); got != "running" {
			t.Errorf("guest %s %s: %q", guest, when, got)
		}
		if got := virsh("domid", guest); got != guestID {
			t.Errorf("guest %s %s: id %s, was %s (restarted)", guest, when, got, guestID)
		}
	}

	// A guest's controller is a child of the daemon in the service's
	// cgroup; this stand-in is a process placed there the same way.
	cgroup := sh("systemctl show -p ControlGroup --value virtlxcd.service")
	controller := sh("sleep 3600 </dev/null >/dev/null 2>&1 & for h in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup; do " +
		"[ -f $h" + cgroup + "/cgroup.procs ] && echo $! >$h" + cgroup + "/cgroup.procs; done; echo $!")
	alive := func(when string) {
		t.Helper()
		out, err := sb.Command(ctx, "cat", "/proc/"+controller+"/cgroup").CombinedOutput()
		if err != nil || !strings.Contains(string(out), cgroup) {
			t.Errorf("controller stand-in %s %s: %v %s", controller, when, err, out)
		}
	}
	alive("before the upgrade")

	sh("echo '" + strings.TrimSpace(AdminEdit) + "' >>/etc/libvirt/virtlxcd.conf")
	sh(fmt.Sprintf(m.upgrade, "/root/virtlxcd-pkgtest/cur."+m.name))
	if got := state("is-active", "virtlxcd.service"); got != "active" {
		t.Errorf("service after upgrade: %q", got)
	}
	if pid := mainPID(); pid == firstPID || pid == "0" {
		t.Errorf("upgrade did not restart the running daemon: MainPID %s before, %s after", firstPID, pid)
	}
	alive("after the upgrade restarted the daemon")
	guestRunning("after the upgrade")
	if got := state("is-active", socketUnits...); got != "active active active" {
		t.Errorf("sockets after upgrade: %q", got)
	}
	if !strings.Contains(sh("cat /etc/libvirt/virtlxcd.conf"), strings.TrimSpace(AdminEdit)) {
		t.Error("upgrade lost the administrator's edit")
	}
	if !exists(sb.Path(m.conffileNote)) {
		t.Errorf("upgrade did not leave the new packaged file as %s", m.conffileNote)
	}
	if got := sh("virsh -c lxc:///system uri"); got != "lxc:///system" {
		t.Errorf("virsh after upgrade printed %q", got)
	}

	sh(m.remove)
	if got := state("is-active", append(socketUnits, "virtlxcd.service")...); got != "inactive inactive inactive inactive" {
		t.Errorf("after remove, is-active %q for %s virtlxcd.service", got, sockets)
	}
	for _, s := range []string{"virtlxcd-sock", "virtlxcd-sock-ro", "virtlxcd-admin-sock"} {
		if exists(sb.Path("/run/libvirt/" + s)) {
			t.Errorf("/run/libvirt/%s left after remove", s)
		}
	}
	for what, pid := range map[string]string{"the controller stand-in": controller, "the guest": guestID} {
		if out, err := sb.Command(ctx, "kill", "-0", pid).CombinedOutput(); err != nil {
			t.Errorf("removing the package killed %s (%s): %v %s", what, pid, err, out)
		}
	}
	if m.purge == "" {
		// RPM has no purge: an edited config file stays as .rpmsave.
		if !exists(sb.Path("/etc/libvirt/virtlxcd.conf.rpmsave")) {
			t.Error("erase did not keep the edited virtlxcd.conf as .rpmsave")
		}
		sh("rm /etc/libvirt/virtlxcd.conf.rpmsave " + m.conffileNote)
	} else {
		sh(m.purge)
	}
	for _, p := range []string{"/etc/libvirt/virtlxcd.conf", "/etc/default/virtlxcd", "/etc/sysconfig/virtlxcd",
		"/usr/sbin/virtlxcd", "/usr/lib/systemd/system/virtlxcd.service", m.conffileNote,
		"/etc/systemd/system/sockets.target.wants/virtlxcd.socket"} {
		if exists(sb.Path(p)) {
			t.Errorf("%s left after removal", p)
		}
	}
}

// guestXML is a minimal LXC domain: busybox's shell looping as init, on
// the given root.
func guestXML(name, root string) string {
	return fmt.Sprintf(`<domain type='lxc'>
  <name>%s</name>
  <memory unit='MiB'>64</memory>
  <os><type>exe</type><init>/bin/sh</init><initarg>-c</initarg><initarg>while :; do sleep 1; done</initarg></os>
  <devices>
    <filesystem type='mount'><source dir='%s'/><target dir='/'/></filesystem>
    <console type='pty'/>
  </devices>
</domain>
`, name, root)
}
