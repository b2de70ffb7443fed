package lxc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtlxcd/virtlxcd/pkg/domain"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// frozen reports whether the domain's container is frozen, asking the
// cgroup rather than the driver's bookkeeping.
func frozen(t *testing.T, d *Driver, ref domain.Ref) bool {
	t.Helper()
	var c container
	d.view(ref, func(m *dom) error { c = m.cont; return nil })
	if c == nil {
		t.Fatal("not running")
	}
	f, err := c.Frozen()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSuspendResumeAcrossRestart(t *testing.T) {
	needContainers(t)
	p := testPaths(t)
	d := containerDriver(t, p)
	rec, cancel := record(d)
	defer cancel()
	name := uniq(t, "sr")
	ref, err := d.DefineXML(rootXML(name, makeRootfs(t), initScript), 0)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, d.Suspend(ref), 55, 20, "Requested operation is not valid: domain is not running")
	if ref, err = d.Create(ref, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Suspend(ref); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, name, domain.EventIDLifecycle, domain.EventSuspended, domain.DetailSuspendedPaused)
	if st, reason, _ := d.GetState(ref, 0); st != domain.Paused || reason != domain.PausedUser {
		t.Errorf("after suspend: state %d reason %d", st, reason)
	}
	if !frozen(t, d, ref) {
		t.Error("cgroup not frozen after suspend")
	}
	if refs, _ := d.ListAllDomains(domain.ListPaused); len(refs) != 1 || refs[0].Name != name {
		t.Errorf("paused list %+v", refs)
	}
	st, errs := d.store.LoadStatuses()
	if s := st[name]; len(errs) != 0 || s == nil || s.State != "paused" || s.Reason != "user" {
		t.Errorf("status file: %+v %v", s, errs)
	}

	// A new driver finds it paused, in the cgroup and in its books.
	d.Close()
	d2 := containerDriver(t, p)
	rec2, cancel2 := record(d2)
	defer cancel2()
	if st, reason, _ := d2.GetState(ref, 0); st != domain.Paused || reason != domain.PausedUser {
		t.Errorf("after restart: state %d reason %d", st, reason)
	}
	if err := d2.Resume(ref); err != nil {
		t.Fatal(err)
	}
	rec2.wait(t, name, domain.EventIDLifecycle, domain.EventResumed, domain.DetailResumedUnpaused)
	if st, reason, _ := d2.GetState(ref, 0); st != domain.Running || reason != domain.RunningUnpaused {
		t.Errorf("after resume: state %d reason %d", st, reason)
	}
	if frozen(t, d2, ref) {
		t.Error("cgroup still frozen after resume")
	}
	wantErr(t, d2.Resume(ref), 55, 20, "Requested operation is not valid: domain is already running")

	// Destroying a paused domain ends it.
	if err := d2.Suspend(ref); err != nil {
		t.Fatal(err)
	}
	if err := d2.Destroy(ref, 0); err != nil {
		t.Fatal(err)
	}
	if st, reason, _ := d2.GetState(ref, 0); st != domain.Shutoff || reason != domain.ShutoffDestroyed {
		t.Errorf("after destroy: state %d reason %d", st, reason)
	}
	if _, err := os.Stat(d2.store.StatusPath(name)); !os.IsNotExist(err) {
		t.Errorf("status file left: %v", err)
	}
}

func TestMetadataPersists(t *testing.T) {
	p := testPaths(t)
	d := newTestDriver(t, p)
	rec, cancel := record(d)
	defer cancel()
	name := uniq(t, "md")
	ref, err := d.DefineXML(rootXML(name, "/nonexistent", ""), 0)
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	ns := "http://example.org/md/"
	if err := d.SetMetadata(ref, domain.MetadataTitle, str("T"), nil, nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.SetMetadata(ref, domain.MetadataElement, str("<a><b/></a>"), str("x"), str(ns), domain.AffectConfig); err != nil {
		t.Fatal(err)
	}
	ev := rec.wait(t, name, domain.EventIDMetadata, 0, 0)
	if ev.Detail != domain.MetadataTitle {
		t.Errorf("first metadata event %+v", ev)
	}
	if ev = rec.wait(t, name, domain.EventIDMetadata, 0, 0); ev.Detail != domain.MetadataElement || ev.URI != ns {
		t.Errorf("second metadata event %+v", ev)
	}
	wantErr(t, d.SetMetadata(ref, domain.MetadataTitle, str("x"), nil, nil, domain.AffectLive), 55, 20,
		"Requested operation is not valid: domain is not running")
	data, _ := os.ReadFile(filepath.Join(p.LXCConfigDir, name+".xml"))
	if !strings.Contains(string(data), "<title>T</title>") || !strings.Contains(string(data), "<x:a xmlns:x=\""+ns+"\">\n      <x:b/>\n    </x:a>") {
		t.Errorf("config file:\n%s", data)
	}
	// A new driver reads it back.
	d.Close()
	d2 := newTestDriver(t, p)
	if got, err := d2.GetMetadata(ref, domain.MetadataElement, str(ns), 0); err != nil || got != "<a><b/></a>" {
		t.Errorf("element after restart: %q %v", got, err)
	}
	if got, err := d2.GetMetadata(ref, domain.MetadataTitle, nil, domain.AffectConfig); err != nil || got != "T" {
		t.Errorf("title after restart: %q %v", got, err)
	}
	_, err = d2.GetMetadata(ref, domain.MetadataDescription, nil, 0)
	if !virterror.Is(err, virterror.NoDomainMetadata) {
		t.Errorf("missing description: %v", err)
	}
	if err := d2.SetMetadata(ref, domain.MetadataTitle, nil, nil, nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.GetMetadata(ref, domain.MetadataTitle, nil, 0); !virterror.Is(err, virterror.NoDomainMetadata) {
		t.Errorf("title after removal: %v", err)
	}
}
