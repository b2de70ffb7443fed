package conf

import (
	"bytes"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// libvirtOracle runs libvirt's own parser: virsh (libvirt-clients) reads
// $XDG_CONFIG_HOME/libvirt/libvirt.conf when it runs unprivileged, before
// it connects, and fails the connection with the parser's exact error.
// As root the test runs virsh as nobody, so the host's
// /etc/libvirt/libvirt.conf is never read.
type libvirtOracle struct {
	dir, path string
	virsh     string
}

func newOracle(t *testing.T) *libvirtOracle {
	t.Helper()
	virsh, err := exec.LookPath("virsh")
	if err != nil {
		t.Skip("virsh (libvirt-clients) is not installed")
	}
	dir := t.TempDir()
	// virsh runs as nobody: it must reach the file and may create its
	// cache directories.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "libvirt"), 0o777); err != nil {
		t.Fatal(err)
	}
	return &libvirtOracle{dir: dir, path: filepath.Join(dir, "libvirt", "libvirt.conf"), virsh: virsh}
}

// check returns "" when libvirt accepts data, else the error message.
func (o *libvirtOracle) check(t *testing.T, data []byte) string {
	t.Helper()
	if err := os.WriteFile(o.path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(o.virsh, "-q", "-c", "test:///default", "uri")
	cmd.Env = []string{"HOME=" + o.dir, "XDG_CONFIG_HOME=" + o.dir, "XDG_CACHE_HOME=" + o.dir,
		"XDG_RUNTIME_DIR=" + o.dir, "PATH=/usr/bin:/bin", "LC_ALL=C"}
	cmd.Dir = o.dir
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		if got := strings.TrimSpace(stdout.String()); got != "test:///default" {
			t.Fatalf("virsh uri printed %q", got)
		}
		return ""
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if msg, ok := strings.CutPrefix(line, "error: "); ok && msg != "failed to connect to the hypervisor" {
			return msg
		}
	}
	t.Fatalf("virsh failed without a configuration error: %v\n%s", err, stderr.String())
	return ""
}

// ours returns "" when Parse accepts data, else its error message.
func (o *libvirtOracle) ours(data []byte) string {
	if _, err := Parse(o.path, data); err != nil {
		return err.Error()
	}
	return ""
}

// TestAgainstLibvirt compares Parse with libvirt 9.0's parser on every
// table input, on inputs built at random from the grammar's pieces, and on
// the typed-getter errors virsh itself triggers for uri_aliases. Where
// this package accepts more than libvirt on purpose (see the package
// documentation), it checks that libvirt indeed rejects the input.
func TestAgainstLibvirt(t *testing.T) {
	o := newOracle(t)
	msg := func(line, text string) string {
		return "configuration file syntax error: " + o.path + ":" + line + ": " + text
	}
	// Inputs where libvirt's answer differs from ours, by design.
	supersets := map[string]string{
		acceptCase(t, "blank lines only"):              msg("4", "expecting a name"),
		acceptCase(t, "list over lines with comments"): msg("1", "expecting a value"),
	}
	overflows := map[string]bool{}
	for _, c := range rejectCases {
		if strings.Contains(c.want, "number out of range") || strings.Contains(c.want, "nested too deeply") {
			overflows[c.in] = true
		}
	}

	compare := func(in []byte) {
		t.Helper()
		theirs, mine := o.check(t, in), o.ours(in)
		if want, ok := supersets[string(in)]; ok {
			if theirs != want || mine != "" {
				t.Errorf("%q: libvirt %q (expected %q), ours %q (expected acceptance)", in, theirs, want, mine)
			}
			return
		}
		if overflows[string(in)] {
			if mine == "" {
				t.Errorf("%q: accepted, want a range error", in)
			}
			return
		}
		if theirs != mine {
			t.Errorf("%q:\nlibvirt %q\n   ours %q", in, theirs, mine)
		}
	}

	for _, c := range acceptCases {
		compare([]byte(c.in))
	}
	for _, c := range rejectCases {
		compare([]byte(c.in))
	}
	compare([]byte(`a = """"""` + "\n")) // with a byte to spare libvirt sees the triple quote
	compare([]byte(`a = """"""`))

	// Typed getters as libvirt's client library applies them.
	for in, want := range map[string]string{
		`uri_aliases = "x=test:///default"`:   "internal error: " + o.path + ": expected a string list for 'uri_aliases' parameter",
		`uri_aliases = 1`:                     "internal error: " + o.path + ": expected a string list for 'uri_aliases' parameter",
		`uri_aliases = [1]`:                   "configuration file syntax error: " + o.path + ": expected a string list for 'uri_aliases' parameter",
		`uri_aliases = ["x=test:///default"]`: "",
	} {
		f, err := Parse(o.path, []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = f.StrictStringList("uri_aliases")
		mine := ""
		if err != nil {
			mine = err.Error()
		}
		if theirs := o.check(t, []byte(in)); theirs != want || mine != want {
			t.Errorf("%q: libvirt %q, ours %q, want %q", in, theirs, mine, want)
		}
	}

	// Random sentences over the grammar's pieces. '#' is left out (a
	// comment inside a list is a deliberate difference).
	pieces := []string{"a", "b_2", "c", " ", "\t", "=", " = ", "\n", "\r\n", ";", ",", "[", "]", "[ ", " ]",
		`"s"`, `'t'`, `"`, `'`, `"""`, `"""m` + "\n" + `l"""`, "0", "17", "-3", "+4", "-", "+", "x", "1a"}
	rng := rand.New(rand.NewSource(20261128))
	for i := 0; i < 200; i++ {
		var b strings.Builder
		if i%2 == 0 {
			b.WriteString("k = ") // half start as a statement, to get deeper
		}
		for n := rng.Intn(10) + 1; n > 0; n-- {
			b.WriteString(pieces[rng.Intn(len(pieces))])
		}
		if rng.Intn(2) == 0 {
			b.WriteString("\n")
		}
		if strings.TrimSpace(b.String()) == "" {
			continue // blank-only files are a deliberate difference
		}
		compare([]byte(b.String()))
	}
}

func acceptCase(t *testing.T, name string) string {
	t.Helper()
	for _, c := range acceptCases {
		if c.name == name {
			return c.in
		}
	}
	t.Fatalf("no accept case %q", name)
	return ""
}
