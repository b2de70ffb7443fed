package verify

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// unitFile is a parsed systemd unit: section -> key -> values in order.
type unitFile map[string]map[string][]string

func parseUnit(t testing.TB, name string) unitFile {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), "units", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: cannot parse %q", name, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// words splits every value of a key into its space-separated words.
func (u unitFile) words(section, key string) []string {
	var w []string
	for _, v := range u[section][key] {
		w = append(w, strings.Fields(v)...)
	}
	return w
}

func (u unitFile) one(section, key string) string {
	if v := u[section][key]; len(v) == 1 {
		return v[0]
	}
	return fmt.Sprintf("%q", u[section][key])
}

func TestServiceUnit(t *testing.T) {
	u := parseUnit(t, "virtlxcd.service")
	for _, c := range []struct{ section, key, want string }{
		{"Service", "Type", "notify"},
		{"Service", "KillMode", "process"},
		{"Service", "Restart", "on-failure"},
		{"Service", "Environment", `VIRTLXCD_ARGS="--timeout 120"`},
		{"Service", "ExecStart", "/usr/sbin/virtlxcd $VIRTLXCD_ARGS"},
		{"Service", "ExecReload", "/bin/kill -HUP $MAINPID"},
		{"Service", "LimitNOFILE", "1024:524288"},
		{"Service", "TasksMax", "32768"},
		{"Service", "LimitMEMLOCK", "64M"},
		{"Unit", "Conflicts", "libvirtd.service"},
		{"Unit", "Before", "libvirt-guests.service"},
		{"Install", "WantedBy", "multi-user.target"},
	} {
		if got := u.one(c.section, c.key); got != c.want {
			t.Errorf("[%s] %s=%s, want %s", c.section, c.key, got, c.want)
		}
	}
	envFiles := u["Service"]["EnvironmentFile"]
	if !slices.Equal(envFiles, []string{"-/etc/sysconfig/virtlxcd", "-/etc/default/virtlxcd"}) {
		t.Errorf("EnvironmentFile=%q", envFiles)
	}
	// Masking the sockets (traditional mode) must leave the service
	// startable: Wants= only, never a hard dependency on them.
	wants := u.words("Unit", "Wants")
	for _, s := range socketUnits {
		if !slices.Contains(wants, s) {
			t.Errorf("service does not Wants=%s", s)
		}
		if !slices.Contains(u.words("Unit", "After"), s) {
			t.Errorf("service is not After=%s", s)
		}
		if !slices.Contains(u.words("Install", "Also"), s) {
			t.Errorf("service has no Also=%s", s)
		}
		for _, hard := range []string{"Requires", "BindsTo", "Requisite", "PartOf"} {
			if slices.Contains(u.words("Unit", hard), s) {
				t.Errorf("service has %s=%s: masking the socket would stop it from starting", hard, s)
			}
		}
	}
	if !slices.Contains(wants, "systemd-machined.service") {
		t.Error("service does not want systemd-machined.service")
	}
}

func TestSocketUnits(t *testing.T) {
	for _, c := range []struct {
		unit, listen, mode string
		bound              bool
	}{
		{"virtlxcd.socket", "/run/libvirt/virtlxcd-sock", "0600", false},
		{"virtlxcd-ro.socket", "/run/libvirt/virtlxcd-sock-ro", "0666", true},
		{"virtlxcd-admin.socket", "/run/libvirt/virtlxcd-admin-sock", "0600", true},
	} {
		t.Run(c.unit, func(t *testing.T) {
			u := parseUnit(t, c.unit)
			for key, want := range map[string]string{
				"ListenStream": c.listen, "SocketMode": c.mode,
				"Service": "virtlxcd.service", "RemoveOnStop": "yes",
			} {
				if got := u.one("Socket", key); got != want {
					t.Errorf("%s=%s, want %s", key, got, want)
				}
			}
			// The daemon claims descriptors by the default name, the
			// unit's own name.
			if v, ok := u["Socket"]["FileDescriptorName"]; ok {
				t.Errorf("FileDescriptorName=%q: the daemon expects %s", v, c.unit)
			}
			if c.bound && (!slices.Contains(u.words("Unit", "BindsTo"), "virtlxcd.socket") ||
				!slices.Contains(u.words("Unit", "After"), "virtlxcd.socket")) {
				t.Error("not bound to and ordered after virtlxcd.socket")
			}
			if u.one("Install", "WantedBy") != "sockets.target" {
				t.Errorf("WantedBy=%s", u.one("Install", "WantedBy"))
			}
		})
	}
}

// TestSocketActivation hands the daemon three listening sockets named like
// the socket units, as systemd does, on paths where the daemon would never
// create sockets itself: clients served there prove that the descriptors
// reached it and were claimed by their names.
func TestSocketActivation(t *testing.T) {
	requireRoot(t)
	requireTools(t, "systemd-socket-activate", "virsh", "virt-admin")
	bin := filepath.Join(binaries(t), "virtlxcd")
	prefix, err := os.MkdirTemp("", "virtlxcd-act-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(prefix) })
	act := filepath.Join(prefix, "activation")
	if err := os.MkdirAll(act, 0o755); err != nil {
		t.Fatal(err)
	}

	args := []string{}
	var names []string
	paths := map[string]string{}
	for _, unit := range socketUnits {
		listen := parseUnit(t, unit).one("Socket", "ListenStream")
		paths[unit] = filepath.Join(act, filepath.Base(listen))
		args = append(args, "--listen="+paths[unit])
		names = append(names, unit)
	}
	args = append(args, "--fdname="+strings.Join(names, ":"),
		"-E", "VIRTLXCD_PREFIX="+prefix, "-E", "PATH="+os.Getenv("PATH"), bin, "--verbose")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	daemon := exec.CommandContext(ctx, "systemd-socket-activate", args...)
	var log strings.Builder
	daemon.Stdout, daemon.Stderr = &log, &log
	daemon.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var exitErr error
	go func() { exitErr = daemon.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(daemon.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			syscall.Kill(-daemon.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	// systemd-socket-activate binds before it execs the daemon.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.Dial("unix", paths["virtlxcd-admin.socket"])
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("activation sockets never listened: %v\n%s", err, log.String())
		}
	}

	client := func(name string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		return string(out), err
	}
	uri := func(scheme, unit string) string { return scheme + "+unix:///system?socket=" + paths[unit] }

	if out, err := client("virsh", "-c", uri("lxc", "virtlxcd.socket"), "uri"); err != nil {
		t.Errorf("virsh on the read-write descriptor: %v\n%s", err, out)
	}
	if out, err := client("virsh", "-r", "-c", uri("lxc", "virtlxcd-ro.socket"), "list", "--all"); err != nil {
		t.Errorf("virsh -r on the read-only descriptor: %v\n%s", err, out)
	}
	// The read-only descriptor must really be served read-only.
	xml := filepath.Join(prefix, "guest.xml")
	def := "<domain type='lxc'><name>virtlxcd-pkgtest-ro</name><memory>65536</memory>" +
		"<os><type>exe</type><init>/bin/sh</init></os></domain>\n"
	if err := os.WriteFile(xml, []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := client("virsh", "-c", uri("lxc", "virtlxcd-ro.socket"), "define", xml); err == nil ||
		!strings.Contains(strings.ToLower(out), "read only") && !strings.Contains(strings.ToLower(out), "read-only") {
		t.Errorf("a write call on the read-only descriptor was not refused as read-only: %v\n%s", err, out)
	}
	if out, err := client("virt-admin", "-c", uri("virtlxcd", "virtlxcd-admin.socket"), "srv-list"); err != nil || !strings.Contains(out, "virtlxcd") {
		t.Errorf("virt-admin on the admin descriptor: %v\n%s", err, out)
	}
	// In activation mode the daemon creates no sockets of its own.
	for _, s := range []string{"virtlxcd-sock", "virtlxcd-sock-ro", "virtlxcd-admin-sock"} {
		if p := filepath.Join(prefix, "run/libvirt", s); exists(p) {
			t.Errorf("the daemon created %s although systemd passed its sockets", p)
		}
	}
	select {
	case <-done:
		t.Fatalf("daemon exited early: %v\n%s", exitErr, log.String())
	default:
	}
	if t.Failed() {
		t.Logf("daemon log:\n%s", log.String())
	}
}
