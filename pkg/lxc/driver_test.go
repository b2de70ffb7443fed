package lxc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/domxml"
	"github.com/virtlxcd/virtlxcd/pkg/paths"
	"github.com/virtlxcd/virtlxcd/pkg/remote"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

var _ remote.Driver = (*Driver)(nil)

// ctXML is a minimal container definition; name and uuid vary per test so
// that tests in other packages running at the same time never collide.
func ctXML(name, extra string) string {
	return fmt.Sprintf(`<domain type='lxc'>
  <name>%s</name>%s
  <memory unit='MiB'>64</memory>
  <os><type>exe</type><init>/bin/sh</init></os>
  <devices><console type='pty'/></devices>
</domain>`, name, extra)
}

// testPaths relocates every driver directory below a temp dir.
func testPaths(t *testing.T) paths.Paths {
	return paths.Under(t.TempDir())
}

func benchPaths(b *testing.B) paths.Paths {
	return paths.Under(b.TempDir())
}

func newTestDriver(t *testing.T, p paths.Paths) *Driver {
	t.Helper()
	d, err := New(Config{Paths: p, Exe: testExe(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func testExe(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// recorder collects events delivered to a subscriber.
type recorder struct {
	mu  sync.Mutex
	evs []domain.Event
	ch  chan struct{}
}

func record(d *Driver) (*recorder, func()) {
	r := &recorder{ch: make(chan struct{}, 1000)}
	cancel := d.Subscribe(func(ev domain.Event) {
		r.mu.Lock()
		r.evs = append(r.evs, ev)
		r.mu.Unlock()
		r.ch <- struct{}{}
	})
	return r, cancel
}

// wait returns the next event of name matching want, failing after a few
// seconds.
func (r *recorder) wait(t *testing.T, name string, id, event, detail int32) domain.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		for i, ev := range r.evs {
			if ev.Dom.Name == name && ev.ID == id && (id != domain.EventIDLifecycle || (ev.Event == event && ev.Detail == detail)) {
				r.evs = append(r.evs[:i:i], r.evs[i+1:]...)
				r.mu.Unlock()
				return ev
			}
		}
		got := append([]domain.Event(nil), r.evs...)
		r.mu.Unlock()
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("no event %d/%d/%d for %s; got %+v", id, event, detail, name, got)
		}
	}
}

func wantErr(t *testing.T, err error, code virterror.Code, dom virterror.Domain, msg string) {
	t.Helper()
	ve, ok := err.(*virterror.Error)
	if !ok {
		t.Fatalf("error %v (%T) is not a libvirt error", err, err)
	}
	if ve.Code != code || ve.Domain != dom || ve.Message != msg {
		t.Fatalf("got %d/%d %q, want %d/%d %q", ve.Code, ve.Domain, ve.Message, code, dom, msg)
	}
}

func TestOpen(t *testing.T) {
	d := newTestDriver(t, testPaths(t))
	for _, ok := range []string{"", "lxc:///system", "lxc:///", "lxc://", "lxc:///system?foo=bar"} {
		if err := d.Open(ok); err != nil {
			t.Errorf("Open(%q): %v", ok, err)
		}
	}
	wantErr(t, d.Open("lxc:///session"), virterror.InternalError, virterror.FromLXC,
		"internal error: Unexpected LXC URI path '/session', try lxc:///system")
	wantErr(t, d.Open("qemu:///system"), virterror.NoConnect, virterror.FromNone,
		"no connection driver available for qemu:///system")
	if d.Type() != "LXC" {
		t.Errorf("type %q", d.Type())
	}
}

func TestDefineLookupUndefine(t *testing.T) {
	p := testPaths(t)
	d := newTestDriver(t, p)
	rec, cancel := record(d)
	defer cancel()
	name := "def-" + t.Name()
	ref, err := d.DefineXML(ctXML(name, ""), 0)
	if err != nil {
		t.Fatal(err)
	}
	if ref.ID != -1 || ref.Name != name {
		t.Fatalf("ref %+v", ref)
	}
	rec.wait(t, name, domain.EventIDLifecycle, domain.EventDefined, domain.DetailDefinedAdded)

	for _, look := range []func() (domain.Ref, error){
		func() (domain.Ref, error) { return d.LookupByName(name) },
		func() (domain.Ref, error) { return d.LookupByUUID(ref.UUID) },
	} {
		got, err := look()
		if err != nil || got != ref {
			t.Errorf("lookup: %+v %v", got, err)
		}
	}
	_, err = d.LookupByName("nope")
	wantErr(t, err, virterror.NoDomain, virterror.FromLXC, "Domain not found: No domain with matching name 'nope'")
	_, err = d.LookupByUUID([16]byte{1})
	wantErr(t, err, virterror.NoDomain, virterror.FromLXC, "Domain not found: No domain with matching uuid '01000000-0000-0000-0000-000000000000'")
	_, err = d.LookupByID(12345)
	wantErr(t, err, virterror.NoDomain, virterror.FromLXC, "Domain not found: No domain with matching id 12345")

	st, reason, err := d.GetState(ref, 0)
	if err != nil || st != domain.Shutoff || reason != domain.ShutoffUnknown {
		t.Errorf("state %d %d %v", st, reason, err)
	}
	info, err := d.GetInfo(ref)
	if err != nil || info.State != domain.Shutoff || info.MaxMemKiB != 65536 || info.MemoryKiB != 65536 || info.NrVirtCPU != 1 || info.CPUTimeNs != 0 {
		t.Errorf("info %+v %v", info, err)
	}
	if os, err := d.GetOSType(ref); err != nil || os != "exe" {
		t.Errorf("os type %q %v", os, err)
	}
	if on, err := d.IsPersistent(ref); err != nil || !on {
		t.Errorf("persistent %v %v", on, err)
	}
	if on, err := d.IsActive(ref); err != nil || on {
		t.Errorf("active %v %v", on, err)
	}

	// Same name, other uuid; same uuid, other name.
	_, err = d.DefineXML(ctXML(name, ""), 0)
	wantErr(t, err, virterror.OperationFailed, virterror.FromDomain,
		fmt.Sprintf("operation failed: domain '%s' already exists with uuid %s", name, domxml.FormatUUID(ref.UUID)))
	_, err = d.DefineXML(ctXML("other-"+name, "<uuid>"+domxml.FormatUUID(ref.UUID)+"</uuid>"), 0)
	wantErr(t, err, virterror.OperationFailed, virterror.FromDomain,
		fmt.Sprintf("operation failed: domain '%s' is already defined with uuid %s", name, domxml.FormatUUID(ref.UUID)))

	// Redefinition with the uuid updates.
	if _, err := d.DefineXML(ctXML(name, "<uuid>"+domxml.FormatUUID(ref.UUID)+"</uuid><vcpu>3</vcpu>"), 0); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, name, domain.EventIDLifecycle, domain.EventDefined, domain.DetailDefinedUpdated)
	x, err := d.GetXMLDesc(ref, 0)
	if err != nil || !strings.Contains(x, "<vcpu placement='static'>3</vcpu>") || !strings.Contains(x, "<emulator>"+testExe(t)+"</emulator>") {
		t.Errorf("xml after update: %v\n%s", err, x)
	}
	cfg, err := os.ReadFile(filepath.Join(p.LXCConfigDir, name+".xml"))
	if err != nil || !strings.Contains(string(cfg), "<vcpu placement='static'>3</vcpu>") {
		t.Errorf("config file: %v\n%s", err, cfg)
	}

	// Operations that need a running domain.
	for _, op := range []func() error{
		func() error { return d.Destroy(ref, 0) },
		func() error { return d.Shutdown(ref, 0) },
		func() error { return d.Reboot(ref, 0) },
		func() error { _, err := d.OpenConsole(ref, "", 0); return err },
		func() error { _, err := d.GetHostname(ref, 0); return err },
		func() error { return d.SetMemoryFlags(ref, 1024, domain.AffectLive) },
	} {
		wantErr(t, op(), virterror.OperationInvalid, virterror.FromDomain, "Requested operation is not valid: domain is not running")
	}
	wantErr(t, d.Shutdown(ref, 1), virterror.InvalidArg, virterror.FromLXC,
		"unsupported flags (0x1) in function lxcDomainShutdownFlags")

	if err := d.Undefine(ref, 0); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, name, domain.EventIDLifecycle, domain.EventUndefined, domain.DetailUndefinedRemoved)
	if _, err := os.Stat(filepath.Join(p.LXCConfigDir, name+".xml")); !os.IsNotExist(err) {
		t.Errorf("config file still there: %v", err)
	}
	_, err = d.GetXMLDesc(ref, 0)
	wantErr(t, err, virterror.NoDomain, virterror.FromLXC,
		fmt.Sprintf("Domain not found: no domain with matching uuid '%s' (%s)", domxml.FormatUUID(ref.UUID), name))
}

func TestDefineErrors(t *testing.T) {
	d := newTestDriver(t, testPaths(t))
	_, err := d.DefineXML("<domain type='lxc'>\n<name>x</name>\n<memory>", 0)
	ve := err.(*virterror.Error)
	if ve.Code != virterror.XMLDetail || ve.Domain != virterror.FromDomain || !strings.HasPrefix(ve.Message, "(domain_definition):3: ") {
		t.Errorf("got %d/%d %q", ve.Code, ve.Domain, ve.Message)
	}
	_, err = d.DefineXML(ctXML("x", ""), 4)
	wantErr(t, err, virterror.InvalidArg, virterror.FromLXC, "unsupported flags (0x4) in function lxcDomainDefineXMLFlags")
	bogus := strings.Replace(ctXML("v", ""), "<console type='pty'/>", "<console type='pty'/><bogus a='1'/>", 1)
	_, err = d.DefineXML(bogus, domain.DefineValidate)
	if !virterror.Is(err, 92) {
		t.Errorf("validate: %v", err)
	}
	_, err = d.CreateXML(bogus, startValidate)
	if !virterror.Is(err, 92) {
		t.Errorf("create validate: %v", err)
	}
	if n, _ := d.NumOfDefinedDomains(); n != 0 {
		t.Errorf("%d domains after failed defines", n)
	}
	if _, err := d.DefineXML(bogus, 0); err != nil {
		t.Errorf("without validation unknown elements are ignored, as libvirt does: %v", err)
	}
}

func TestAutostartAndMemory(t *testing.T) {
	p := testPaths(t)
	d := newTestDriver(t, p)
	name := "as-" + t.Name()
	ref, err := d.DefineXML(ctXML(name, ""), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetAutostart(ref, true); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(p.LXCAutostartDir, name+".xml")
	if target, err := os.Readlink(link); err != nil || target != filepath.Join(p.LXCConfigDir, name+".xml") {
		t.Errorf("autostart link %q %v", target, err)
	}
	if on, _ := d.GetAutostart(ref); !on {
		t.Error("autostart not reported")
	}
	refs, _ := d.ListAllDomains(domain.ListAutostart)
	if len(refs) != 1 || refs[0].Name != name {
		t.Errorf("autostart list %+v", refs)
	}
	if refs, _ := d.ListAllDomains(domain.ListNoAutostart); len(refs) != 0 {
		t.Errorf("no-autostart list %+v", refs)
	}
	if err := d.SetAutostart(ref, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Errorf("link remains: %v", err)
	}

	// Memory of the persistent definition.
	if err := d.SetMemoryFlags(ref, 32768, domain.AffectConfig); err != nil {
		t.Fatal(err)
	}
	if info, _ := d.GetInfo(ref); info.MemoryKiB != 32768 || info.MaxMemKiB != 65536 {
		t.Errorf("info after setmem %+v", info)
	}
	wantErr(t, d.SetMemoryFlags(ref, 1<<20, 0), virterror.InvalidArg, virterror.FromLXC, "invalid argument: Cannot set memory higher than max memory")
	if err := d.SetMemoryFlags(ref, 16384, domain.MemMaximum|domain.AffectConfig); err != nil {
		t.Fatal(err)
	}
	if info, _ := d.GetInfo(ref); info.MemoryKiB != 16384 || info.MaxMemKiB != 16384 {
		t.Errorf("info after setmaxmem %+v", info)
	}
	cfg, _ := os.ReadFile(filepath.Join(p.LXCConfigDir, name+".xml"))
	if !strings.Contains(string(cfg), "<memory unit='KiB'>16384</memory>") {
		t.Errorf("config not saved:\n%s", cfg)
	}
	hard, soft, swap, err := d.MemoryParameters(ref, typedParamStringOkay)
	if err != nil || hard != unlimitedKiB || soft != unlimitedKiB || swap != unlimitedKiB {
		t.Errorf("memory parameters %d %d %d %v", hard, soft, swap, err)
	}
	shares, period, quota, err := d.SchedulerParameters(ref, 0)
	if err != nil || shares != 1024 || period != 100000 || quota != -1 {
		t.Errorf("scheduler parameters %d %d %d %v", shares, period, quota, err)
	}
}

// TestRestartLoadsConfigs checks that a second driver on the same
// directories finds the definitions and autostart flags, that Reload picks
// up files written behind its back, and that autostart runs only once per
// boot (the marker in the state dir).
func TestRestartLoadsConfigs(t *testing.T) {
	p := testPaths(t)
	d := newTestDriver(t, p)
	name := "rl-" + t.Name()
	ref, err := d.DefineXML(ctXML(name, ""), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetAutostart(ref, true); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := os.Stat(filepath.Join(p.LXCStateDir, "autostarted")); err != nil {
		t.Fatalf("autostart marker: %v", err)
	}

	d2 := newTestDriver(t, p)
	got, err := d2.LookupByName(name)
	if err != nil || got != ref {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	if on, _ := d2.GetAutostart(ref); !on {
		t.Error("autostart flag lost")
	}
	if st, _, _ := d2.GetState(ref, 0); st != domain.Shutoff {
		t.Errorf("autostart ran again in the same boot: state %d", st)
	}

	rec, cancel := record(d2)
	defer cancel()
	extra := "hand-" + t.Name()
	if err := os.WriteFile(filepath.Join(p.LXCConfigDir, extra+".xml"), []byte(ctXML(extra, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d2.Reload(); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, extra, domain.EventIDLifecycle, domain.EventDefined, domain.DetailDefinedAdded)
	if n, _ := d2.NumOfDefinedDomains(); n != 2 {
		t.Errorf("%d defined after reload", n)
	}
	names, _ := d2.ListDefinedDomains(10)
	if len(names) != 2 {
		t.Errorf("defined names %v", names)
	}
	if names, _ := d2.ListDefinedDomains(1); len(names) != 1 {
		t.Errorf("max ignored: %v", names)
	}
}

func TestListFilters(t *testing.T) {
	d := newTestDriver(t, testPaths(t))
	for i := 0; i < 3; i++ {
		if _, err := d.DefineXML(ctXML(fmt.Sprintf("lf%d-%s", i, t.Name()), ""), 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		flags uint32
		want  int
	}{
		{0, 3}, {domain.ListActive | domain.ListInactive, 3}, {domain.ListActive, 0}, {domain.ListInactive, 3},
		{domain.ListPersistent, 3}, {domain.ListTransient, 0}, {domain.ListShutoff, 3}, {domain.ListRunning, 0},
		{domain.ListManagedSave, 0}, {domain.ListNoManaged, 3}, {domain.ListSnapshot, 0}, {domain.ListNoSnapshot | domain.ListInactive, 3},
	} {
		refs, err := d.ListAllDomains(tc.flags)
		if err != nil || len(refs) != tc.want {
			t.Errorf("flags %#x: %d domains (%v), want %d", tc.flags, len(refs), err, tc.want)
		}
	}
	_, err := d.ListAllDomains(1 << 20)
	wantErr(t, err, virterror.InvalidArg, virterror.FromLXC, "unsupported flags (0x100000) in function lxcConnectListAllDomains")
}

// TestConcurrentDefine defines from several goroutines while others list
// and look up, and races defines of one name with different uuids: exactly
// one may win, and every loser gets libvirt's "already exists" error.
func TestConcurrentDefine(t *testing.T) {
	d := newTestDriver(t, testPaths(t))
	const writers, each = 4, 50
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				refs, err := d.ListAllDomains(0)
				if err != nil {
					t.Error(err)
					return
				}
				for _, ref := range refs {
					if _, err := d.LookupByUUID(ref.UUID); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	var wwg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wwg.Add(1)
		go func(w int) {
			defer wwg.Done()
			for i := 0; i < each; i++ {
				if _, err := d.DefineXML(ctXML(fmt.Sprintf("cc%d-%d", w, i), ""), 0); err != nil {
					t.Error(err)
				}
			}
		}(w)
	}
	wwg.Wait()
	close(stop)
	wg.Wait()
	if n, _ := d.NumOfDefinedDomains(); n != writers*each {
		t.Fatalf("%d domains, want %d", n, writers*each)
	}

	results := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			_, err := d.DefineXML(ctXML("contested", ""), 0)
			results <- err
		}()
	}
	wins := 0
	for i := 0; i < 8; i++ {
		err := <-results
		if err == nil {
			wins++
		} else if !virterror.Is(err, virterror.OperationFailed) || !strings.Contains(err.Error(), "already exists with uuid") {
			t.Errorf("loser got %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d defines of one name won", wins)
	}

	// One uuid under several names at once: one wins, the others are told
	// whose uuid it is, whatever order their file writes finish in.
	const uuid = "<uuid>6d0ab4a4-6f36-4b5e-9d1a-7b3a2a6f0e11</uuid>"
	for i := 0; i < 8; i++ {
		go func(i int) {
			_, err := d.DefineXML(ctXML(fmt.Sprintf("sameuuid%d", i), uuid), 0)
			results <- err
		}(i)
	}
	wins = 0
	for i := 0; i < 8; i++ {
		err := <-results
		if err == nil {
			wins++
		} else if !virterror.Is(err, virterror.OperationFailed) || !strings.Contains(err.Error(), "is already defined with uuid") {
			t.Errorf("loser got %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d defines of one uuid won", wins)
	}
}
