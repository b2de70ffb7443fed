package daemontest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// busyboxApplets are linked into test root filesystems.
var busyboxApplets = []string{
	"sh", "cat", "echo", "hostname", "sleep", "ps", "ls", "mount", "reboot",
	"poweroff", "id", "true", "false", "kill", "grep", "test", "printf", "ip",
}

// BusyboxRoot builds a throwaway root filesystem with Debian's static
// busybox and returns its path; it is removed at test cleanup.
func BusyboxRoot(t testing.TB) string {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("busybox-static not installed: %v", err)
	}
	root, err := os.MkdirTemp("", "virtlxcd-rootfs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	for _, d := range []string{"bin", "sbin", "proc", "sys", "dev", "tmp", "etc", "root", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range busyboxApplets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// DomainXML is a minimal LXC domain: busybox root, a console, memory in
// MiB, and init with its arguments.
func DomainXML(name, root string, memMiB int, init string, args ...string) string {
	var initArgs string
	for _, a := range args {
		initArgs += fmt.Sprintf("<initarg>%s</initarg>", xmlText(a))
	}
	return fmt.Sprintf(`<domain type='lxc'>
  <name>%s</name>
  <memory unit='MiB'>%d</memory>
  <os><type>exe</type><init>%s</init>%s</os>
  <devices>
    <filesystem type='mount'><source dir='%s'/><target dir='/'/></filesystem>
    <console type='pty'/>
  </devices>
</domain>
`, name, memMiB, init, initArgs, root)
}

func xmlText(s string) string {
	out := ""
	for _, r := range s {
		switch r {
		case '<':
			out += "&lt;"
		case '>':
			out += "&gt;"
		case '&':
			out += "&amp;"
		default:
			out += string(r)
		}
	}
	return out
}

// WriteFile writes content to a new file in the test's temp dir.
func WriteFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
