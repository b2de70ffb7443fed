package sandbox

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/virtlxcd/virtlxcd/migrate/systemd"
)

// TestBootAndTeardown boots systemd in the sandbox, drives one unit over
// the sandbox's D-Bus from the host, and proves that the host's systemd
// configuration, runtime directories and /tmp are untouched and that nothing
// of the sandbox is left after Close.
func TestBootAndTeardown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	snap, err := SnapshotHost()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	sb, err := Start(ctx, Options{
		Units: map[string]string{
			"probe.service": "[Unit]\nDescription=probe\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'echo started >/run/probe'\n",
		},
		Files: []File{{Path: "/etc/probe.conf", Content: []byte("x\n")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sandbox booted in %s (PID %d)", time.Since(start).Round(time.Millisecond), sb.PID())
	pidNS := sb.PIDNamespace()
	defer func() {
		if err := sb.Close(); err != nil {
			t.Error(err)
		}
		if err := sb.CheckGone(pidNS); err != nil {
			t.Error(err)
		}
		if err := snap.Compare(); err != nil {
			t.Error(err)
		}
	}()

	conn, err := systemd.Dial(ctx, sb.BusAddress())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch := make(chan string, 1)
	if _, err := conn.StartUnitContext(ctx, "probe.service", "replace", ch); err != nil {
		t.Fatal(err)
	}
	if r := <-ch; r != "done" {
		t.Fatalf("start probe.service: %s", r)
	}
	b, err := os.ReadFile(sb.Path("/run/probe"))
	if err != nil || string(b) != "started\n" {
		t.Fatalf("probe output %q, %v", b, err)
	}
	if _, err := os.Stat("/run/probe"); err == nil {
		t.Fatal("the sandbox wrote to the host's /run")
	}
	if b, err := os.ReadFile(sb.Path("/etc/probe.conf")); err != nil || string(b) != "x\n" {
		t.Fatalf("staged file %q, %v", b, err)
	}

	// Only the harness's units and the test's exist: nothing of the host's.
	out, err := sb.Command(ctx, "systemctl", "list-units", "--all", "--plain", "--no-legend", "--type=service").CombinedOutput()
	if err != nil {
		t.Fatalf("systemctl in the sandbox: %v\n%s", err, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name := strings.Fields(l)[0]
		if name != "dbus.service" && name != "probe.service" {
			t.Errorf("unexpected unit in the sandbox: %s", l)
		}
	}
	// The sandbox's systemd runs in its own cgroup namespace.
	cg, err := os.ReadFile(sb.Path("/proc/1/cgroup"))
	if err != nil || strings.TrimSpace(string(cg)) == "" {
		t.Fatalf("cgroup: %q %v", cg, err)
	}
}

// TestHostSnapshotNoticesLostCanary proves the host check can fail: losing
// the /tmp canary (what systemd-tmpfiles on the host's /tmp would do) is
// reported.
func TestHostSnapshotNoticesLostCanary(t *testing.T) {
	snap, err := SnapshotHost()
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(snap.canary)
	if err := snap.Compare(); err == nil || !strings.Contains(err.Error(), "canary") {
		t.Fatalf("lost canary not reported: %v", err)
	}
}
