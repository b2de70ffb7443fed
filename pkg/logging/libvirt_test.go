package logging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// runVirsh runs libvirt 9.0's client with extra environment settings;
// libvirt applies LIBVIRT_DEBUG / LIBVIRT_LOG_FILTERS / LIBVIRT_LOG_OUTPUTS
// with the same parser its daemons use, and fails its initialisation with
// the parser's message. As root, virsh runs as nobody with a private
// configuration directory so the host's /etc/libvirt is never read.
func runVirsh(t *testing.T, dir string, env ...string) (stderr string, ok bool) {
	t.Helper()
	virsh, err := exec.LookPath("virsh")
	if err != nil {
		t.Skip("virsh (libvirt-clients) is not installed")
	}
	cmd := exec.Command(virsh, "-q", "-c", "test:///default", "uri")
	cmd.Env = append([]string{"HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "XDG_CACHE_HOME=" + dir,
		"XDG_RUNTIME_DIR=" + dir, "PATH=/usr/bin:/bin", "LC_ALL=C"}, env...)
	cmd.Dir = dir
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var out bytes.Buffer
	cmd.Stderr = &out
	err = cmd.Run()
	return out.String(), err == nil
}

func oracleDir(t *testing.T) string {
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var libvirtError = regexp.MustCompile(`(?m)^libvirt: +error : (.*)$`)

// TestSpecsAgainstLibvirt feeds the same filter, output and level specs to
// libvirt and to the Manager and expects the same acceptance and the same
// error text.
func TestSpecsAgainstLibvirt(t *testing.T) {
	dir := oracleDir(t)
	cases := []struct {
		env  string // variable name
		spec string
	}{
		{"LIBVIRT_LOG_FILTERS", "1:rpc 3:+remote"},
		{"LIBVIRT_LOG_FILTERS", "rpc"},
		{"LIBVIRT_LOG_FILTERS", "x:rpc"},
		{"LIBVIRT_LOG_FILTERS", "0:rpc"},
		{"LIBVIRT_LOG_FILTERS", "5:rpc"},
		{"LIBVIRT_LOG_FILTERS", "1:+"},
		{"LIBVIRT_LOG_FILTERS", "1:"},
		{"LIBVIRT_LOG_FILTERS", "1:a:b"},
		{"LIBVIRT_LOG_FILTERS", "  1:a   2:b "},
		{"LIBVIRT_LOG_OUTPUTS", "1:stderr"},
		{"LIBVIRT_LOG_OUTPUTS", "4:stderr 4:journald"},
		{"LIBVIRT_LOG_OUTPUTS", "stderr"},
		{"LIBVIRT_LOG_OUTPUTS", "x:stderr"},
		{"LIBVIRT_LOG_OUTPUTS", "9:stderr"},
		{"LIBVIRT_LOG_OUTPUTS", "1:bogus"},
		{"LIBVIRT_LOG_OUTPUTS", "1:stderr:x"},
		{"LIBVIRT_LOG_OUTPUTS", "1:journald:x"},
		{"LIBVIRT_LOG_OUTPUTS", "1:file"},
		{"LIBVIRT_LOG_OUTPUTS", "1:syslog"},
		{"LIBVIRT_LOG_OUTPUTS", "4:file:" + dir + "/ok.log"},
		{"LIBVIRT_LOG_OUTPUTS", "4:file:/proc/no/such/dir/x.log"},
		{"LIBVIRT_DEBUG", "9"},
		{"LIBVIRT_DEBUG", "warn"},
		{"LIBVIRT_DEBUG", "error"},
		{"LIBVIRT_DEBUG", "4"},
	}
	for _, c := range cases {
		stderr, ok := runVirsh(t, dir, c.env+"="+c.spec)
		theirs := ""
		if m := libvirtError.FindStringSubmatch(stderr); m != nil {
			theirs = m[1]
		} else if !ok {
			t.Fatalf("%s=%q: virsh failed without a libvirt error:\n%s", c.env, c.spec, stderr)
		}

		m, _ := newTestManager(t)
		err := m.SetFromEnv(func(k string) string {
			if k == c.env {
				return c.spec
			}
			return ""
		})
		mine := ""
		if err != nil {
			mine = err.Error()
		}
		// libvirt creates the file from a directory it cannot create;
		// we create missing directories, so compare only the verdict.
		if strings.HasPrefix(c.spec, "4:file:/proc/") {
			if (theirs == "") != (mine == "") {
				t.Errorf("%s=%q: libvirt %q, ours %q", c.env, c.spec, theirs, mine)
			}
			continue
		}
		if theirs != mine {
			t.Errorf("%s=%q:\nlibvirt %q\n   ours %q", c.env, c.spec, theirs, mine)
		}
	}
}

// TestLineShapeMatchesLibvirt checks that libvirt's own stderr log lines
// and ours have the same layout up to the message.
func TestLineShapeMatchesLibvirt(t *testing.T) {
	dir := oracleDir(t)
	stderr, ok := runVirsh(t, dir, "LIBVIRT_DEBUG=1", "LIBVIRT_LOG_OUTPUTS=1:stderr")
	if !ok {
		t.Fatalf("virsh failed:\n%s", stderr)
	}
	prefix := regexp.MustCompile(`^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}\+0000): \d+: (debug|info|warning|error) : `)
	var theirs []string
	for _, line := range strings.Split(stderr, "\n") {
		if m := prefix.FindStringSubmatch(line); m != nil {
			theirs = append(theirs, m[2])
		}
	}
	if len(theirs) < 10 || theirs[0] != "info" || !strings.Contains(stderr, ": info : libvirt version: ") ||
		!strings.Contains(stderr, ": info : hostname: ") {
		t.Fatalf("libvirt's lines did not have the expected shape (%d matched):\n%.2000s", len(theirs), stderr)
	}

	m, buf := newTestManager(t)
	m.SetLevel(1)
	m.SetOutputs("1:stderr")
	m.Logger("daemon").Debug("x")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %q", lines)
	}
	for i, want := range []string{"info", "info", "debug"} {
		mm := prefix.FindStringSubmatch(lines[i])
		if mm == nil || mm[2] != want {
			t.Errorf("our line %q does not have libvirt's layout", lines[i])
		}
	}
}
