package domstore

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"libvirt.org/go/libvirtxml"
)

func testStore(t *testing.T) Store {
	root := t.TempDir()
	return Store{
		ConfigDir:    filepath.Join(root, "etc/libvirt/lxc"),
		AutostartDir: filepath.Join(root, "etc/libvirt/lxc/autostart"),
		StateDir:     filepath.Join(root, "run/libvirt/lxc"),
	}
}

func TestConfigRoundTrip(t *testing.T) {
	s := testStore(t)
	const doc = "<domain type='lxc'><name>a</name></domain>"
	if err := s.SaveConfig("a", doc); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.ConfigPath("a"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(s.ConfigPath("a"))
	if !strings.HasPrefix(string(data), "<!--\n") || !strings.Contains(string(data), "virsh edit a") || !strings.HasSuffix(string(data), doc+"\n") {
		t.Errorf("file content:\n%s", data)
	}
	if err := s.SetAutostart("a", true); err != nil {
		t.Fatal(err)
	}
	target, err := os.Readlink(s.AutostartPath("a"))
	if err != nil || target != s.ConfigPath("a") {
		t.Errorf("autostart link -> %q, %v", target, err)
	}
	ents, errs := s.LoadConfigs()
	if len(errs) != 0 || len(ents) != 1 || ents[0].Name != "a" || !ents[0].Autostart || !strings.Contains(ents[0].XML, doc) {
		t.Fatalf("loaded %+v %v", ents, errs)
	}
	if err := s.SetAutostart("a", false); err != nil || s.Autostart("a") {
		t.Fatalf("disable autostart: %v", err)
	}
	if err := s.SetAutostart("a", true); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveConfig("a"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{s.ConfigPath("a"), s.AutostartPath("a")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
	// Leftover temp files are ignored, and nothing else is left behind.
	ents, _ = s.LoadConfigs()
	if len(ents) != 0 {
		t.Errorf("configs after removal: %+v", ents)
	}
	left, _ := os.ReadDir(s.ConfigDir)
	for _, e := range left {
		if e.Name() != "autostart" {
			t.Errorf("left in config dir: %s", e.Name())
		}
	}
}

func TestStatusRoundTrip(t *testing.T) {
	s := testStore(t)
	id := 77
	dom := &libvirtxml.Domain{Type: "lxc", ID: &id, Name: "b", UUID: "0ba1b5b2-a0b3-4b0f-9f5e-1c2d3e4f5a6b"}
	if err := s.SaveStatus("b", NewStatus("running", "booted", 77, 78, dom)); err != nil {
		t.Fatal(err)
	}
	// Files the runtime keeps next to ours must not confuse the loader.
	os.WriteFile(filepath.Join(s.StateDir, "b.ctl.json"), []byte("{}"), 0o600)
	os.WriteFile(filepath.Join(s.StateDir, "other.xml"), []byte("<notstatus/>"), 0o600)
	data, _ := os.ReadFile(s.StatusPath("b"))
	if !bytes.Contains(data, []byte(`<domstatus state="running" reason="booted" pid="77">`)) || !bytes.Contains(data, []byte(`<init pid="78">`)) {
		t.Errorf("status file:\n%s", data)
	}
	sts, errs := s.LoadStatuses()
	if len(errs) != 0 || len(sts) != 1 {
		t.Fatalf("statuses %v errs %v", sts, errs)
	}
	st := sts["b"]
	if st.PID != 77 || st.InitPID() != 78 || st.Domain.Name != "b" || *st.Domain.ID != 77 {
		t.Errorf("status %+v", st)
	}
	if err := s.RemoveStatus("b"); err != nil {
		t.Fatal(err)
	}
	if sts, _ := s.LoadStatuses(); len(sts) != 0 {
		t.Errorf("status survived removal")
	}
}

func TestAutostartMarker(t *testing.T) {
	s := testStore(t)
	first, err := s.MarkAutostarted()
	if err != nil || !first {
		t.Fatalf("first: %v %v", first, err)
	}
	again, err := s.MarkAutostarted()
	if err != nil || again {
		t.Fatalf("second: %v %v", again, err)
	}
}

// TestFailedWriteKeepsOldFile fills a tiny tmpfs so that the write of a
// new version fails half way; the previous version must stay intact and
// no temporary file may remain.
func TestFailedWriteKeepsOldFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			exec.Command("umount", "-l", dir).Run()
		}
	})
	path := filepath.Join(dir, "x.xml")
	old := []byte("<domain>old</domain>\n")
	if err := WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 256<<10)
	if err := WriteFile(path, big, 0o600); err == nil {
		t.Fatal("write larger than the filesystem succeeded")
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, old) {
		t.Fatalf("old content lost: %q %v", got, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
}
