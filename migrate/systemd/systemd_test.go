package systemd_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/virtlxcd/virtlxcd/migrate/sandbox"
	"github.com/virtlxcd/virtlxcd/migrate/systemd"
)

var testUnits = map[string]string{
	"alpha.service": "[Unit]\nDescription=alpha\nAfter=beta.socket\nBindsTo=beta.socket\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\nAlso=beta.socket\n",
	"beta.socket":   "[Unit]\nDescription=beta\n[Socket]\nListenStream=/run/beta.sock\nService=alpha.service\n[Install]\nWantedBy=sockets.target\n",
	"gamma.service": "[Unit]\nDescription=gamma\n[Service]\nType=oneshot\nExecStart=/bin/false\n",
	"delta.service": "[Unit]\nDescription=delta, static\n[Service]\nExecStart=/bin/sleep infinity\n",
}

// TestOnlineAndOfflineAgree performs the same unit operations through
// systemd's D-Bus API in a sandbox and offline on a copy of the same tree,
// and compares what both report, so that offline mode means what systemd
// means; and it checks that a failing job is reported as a failure.
func TestOnlineAndOfflineAgree(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	snap, err := sandbox.SnapshotHost()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Options{Units: testUnits})
	if err != nil {
		t.Fatal(err)
	}
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
	on, err := systemd.Connect(ctx, sb.BusAddress())
	if err != nil {
		t.Fatal(err)
	}
	defer on.Close()
	// The offline manager reads and writes the sandbox's own files, so
	// every operation below is done once by each and then compared.
	root := t.TempDir()
	for n, text := range testUnits {
		if err := os.MkdirAll(root+"/usr/lib/systemd/system", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(root+"/usr/lib/systemd/system/"+n, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	off := &systemd.Offline{Root: root}

	compare := func(step string) {
		t.Helper()
		for n := range testUnits {
			a, err := on.State(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			b, err := off.State(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			if a.LoadState != b.LoadState || a.UnitFileState != b.UnitFileState || a.Masked() != b.Masked() || a.Enabled() != b.Enabled() {
				t.Errorf("%s: %s online %s/%s, offline %s/%s", step, n, a.LoadState, a.UnitFileState, b.LoadState, b.UnitFileState)
			}
		}
	}
	type op struct {
		name string
		f    func(m systemd.Manager) ([]systemd.Change, error)
	}
	ops := []op{
		{"enable alpha", func(m systemd.Manager) ([]systemd.Change, error) { return m.Enable(ctx, "alpha.service") }},
		{"disable beta", func(m systemd.Manager) ([]systemd.Change, error) { return m.Disable(ctx, "beta.socket") }},
		{"mask beta", func(m systemd.Manager) ([]systemd.Change, error) { return m.Mask(ctx, "beta.socket") }},
		{"unmask beta", func(m systemd.Manager) ([]systemd.Change, error) { return m.Unmask(ctx, "beta.socket") }},
		{"enable beta", func(m systemd.Manager) ([]systemd.Change, error) { return m.Enable(ctx, "beta.socket") }},
		{"disable alpha", func(m systemd.Manager) ([]systemd.Change, error) { return m.Disable(ctx, "alpha.service") }},
		{"mask delta", func(m systemd.Manager) ([]systemd.Change, error) { return m.Mask(ctx, "delta.service") }},
	}
	compare("initial")
	for _, o := range ops {
		a, err := o.f(on)
		if err != nil {
			t.Fatalf("online %s: %v", o.name, err)
		}
		if err := on.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		b, err := o.f(off)
		if err != nil {
			t.Fatalf("offline %s: %v", o.name, err)
		}
		// The same links, up to the vendor directory's spelling (/lib or
		// /usr/lib).
		norm := func(ch []systemd.Change) []string {
			var out []string
			for _, c := range ch {
				out = append(out, c.Type+" "+c.Filename+" "+strings.TrimPrefix(strings.TrimPrefix(c.Destination, "/usr"), "/lib/systemd/system/"))
			}
			slices.Sort(out)
			return out
		}
		if na, nb := norm(a), norm(b); !slices.Equal(na, nb) {
			t.Errorf("%s: online changes %q, offline %q", o.name, na, nb)
		}
		compare(o.name)
	}

	// Offline state of the sandbox's own tree agrees too.
	inside := &systemd.Offline{Root: sb.Path("/")}
	for n := range testUnits {
		a, _ := on.State(ctx, n)
		b, err := inside.State(ctx, n)
		if err != nil || a.UnitFileState != b.UnitFileState {
			t.Errorf("%s: online %s, offline on the sandbox root %s (%v)", n, a.UnitFileState, b.UnitFileState, err)
		}
	}
	st, err := on.State(ctx, "alpha.service")
	if err != nil || !slices.Contains(st.BindsTo, "beta.socket") || !slices.Contains(st.After, "beta.socket") {
		t.Fatalf("alpha: %+v %v", st, err)
	}

	// Jobs: a start that works, and one that fails.
	if err := on.Start(ctx, "beta.socket"); err != nil {
		t.Fatal(err)
	}
	if st, _ := on.State(ctx, "beta.socket"); !st.Active() {
		t.Fatalf("beta.socket after start: %+v", st)
	}
	err = on.Start(ctx, "gamma.service")
	if err == nil || !strings.Contains(err.Error(), "job failed") {
		t.Fatalf("failing start reported as %v", err)
	}
	if err := on.Stop(ctx, "beta.socket"); err != nil {
		t.Fatal(err)
	}
	if err := off.Start(ctx, "beta.socket"); err != systemd.ErrOffline {
		t.Fatalf("offline start: %v", err)
	}
}
