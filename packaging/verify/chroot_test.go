package verify

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// The Debian tree the install tests start from: what a minimal bookworm
// system with systemd looks like before our package arrives. procps
// brings /bin/kill, which the service's ExecReload= names.
const (
	suite       = "bookworm"
	mirror      = "http://deb.debian.org/debian"
	cacheDir    = "/var/cache/virtlxcd-test"
	bootInclude = "systemd,procps"
)

var baseTarballPath = filepath.Join(cacheDir, "debootstrap-"+suite+"-minbase-"+strings.ReplaceAll(bootInclude, ",", "+")+".tar.gz")

var baseTarball onceResult[string]

// debianBase returns the cached debootstrap tarball, making it on the first
// run (30–55 s). A lock keeps concurrent test runs from building it twice.
func debianBase(t testing.TB) string {
	requireRoot(t)
	return baseTarball.get(t, func() (string, string, error) {
		if _, err := exec.LookPath("debootstrap"); err != nil {
			return "", "", fmt.Errorf("debootstrap is not installed: %w", err)
		}
		if err := os.MkdirAll(cacheDir, 0o755); err != nil {
			return "", "", err
		}
		lock, err := os.OpenFile(filepath.Join(cacheDir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return "", "", err
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			return "", "", err
		}
		if _, err := os.Stat(baseTarballPath); err == nil {
			return baseTarballPath, "", nil
		}
		tree, err := os.MkdirTemp(cacheDir, "tree-")
		if err != nil {
			return "", "", err
		}
		defer func() {
			unmountBelow(tree)
			os.RemoveAll(tree)
		}()
		debs := filepath.Join(cacheDir, "debs")
		if err := os.MkdirAll(debs, 0o755); err != nil {
			return "", "", err
		}
		out, err := runErr("debootstrap", "--variant=minbase", "--include="+bootInclude,
			"--cache-dir="+debs, suite, tree, mirror)
		if err != nil {
			return "", "", fmt.Errorf("debootstrap: %v\n%s", err, tail(out, 30))
		}
		unmountBelow(tree)
		tmp := baseTarballPath + ".tmp"
		if out, err := runErr("tar", "--numeric-owner", "-C", tree, "-czf", tmp, "."); err != nil {
			os.Remove(tmp)
			return "", "", fmt.Errorf("tar: %v\n%s", err, out)
		}
		if err := os.Rename(tmp, baseTarballPath); err != nil {
			return "", "", err
		}
		return baseTarballPath, "", nil
	})
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// unmountBelow lazily unmounts whatever is mounted at or below dir
// (debootstrap mounts /proc and /sys in its target), deepest first.
func unmountBelow(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, p := range points {
		syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

// newRoot unpacks a fresh copy of the Debian tree for one test.
func newRoot(t *testing.T, name string) string {
	t.Helper()
	tarball := debianBase(t)
	root := filepath.Join(work, name)
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unmountBelow(root)
		os.RemoveAll(root)
	})
	run(t, "tar", "--numeric-owner", "-C", root, "-xzf", tarball)
	return root
}

// inRoot runs a command chrooted into root.
func inRoot(t testing.TB, root string, args ...string) string {
	t.Helper()
	return run(t, "chroot", append([]string{root}, args...)...)
}

// snapshot lists every path in a root with its type and mode, leaving out
// the package managers' own records and caches, which change with any
// install and are not ours.
func snapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	skip := []string{
		"/var/lib/dpkg", "/var/lib/apt", "/var/cache/apt", "/var/cache/debconf",
		"/var/log/apt", "/var/log/dpkg.log", "/var/log/alternatives.log",
		"/var/lib/rpm", "/root/.rpmdb", "/var/lib/rpm-state", "/tmp", "/proc", "/sys", "/dev",
	}
	files := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(path, root), "/")
		for _, s := range skip {
			if rel == s || strings.HasPrefix(rel, s+"/") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files[rel] = info.Mode().String()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// diffSnapshots reports what appeared in, vanished from or changed type in
// the root between two snapshots.
func diffSnapshots(before, after map[string]string) []string {
	var diff []string
	for p, m := range after {
		if b, ok := before[p]; !ok {
			diff = append(diff, "left behind: "+p+" "+m)
		} else if b != m {
			diff = append(diff, "changed: "+p+" "+b+" -> "+m)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			diff = append(diff, "removed: "+p)
		}
	}
	slices.Sort(diff)
	return diff
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func mustRead(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// guest stands in for a running container inside a test root: a process
// in its own session with a state file in /run/libvirt/lxc, the two things
// of a guest a maintainer script could destroy.
type guest struct {
	cmd   *exec.Cmd
	state string
}

func startGuest(t *testing.T, root, name string) *guest {
	t.Helper()
	dir := filepath.Join(root, "run/libvirt/lxc")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, name+".xml")
	if err := os.WriteFile(state, []byte("<domstatus state='running'/>\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("chroot", root, "sleep", "3600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &guest{cmd: cmd, state: state}
	t.Cleanup(g.stop)
	return g
}

func (g *guest) alive(t testing.TB) {
	t.Helper()
	if err := g.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("guest process %d is gone: %v", g.cmd.Process.Pid, err)
	}
	if !exists(g.state) {
		t.Fatalf("guest state %s is gone", g.state)
	}
}

// stop ends the guest the way the daemon would: process gone, state removed.
func (g *guest) stop() {
	if g.cmd.ProcessState == nil {
		g.cmd.Process.Kill()
		g.cmd.Wait()
	}
	if err := os.Remove(g.state); err != nil && !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintln(os.Stderr, "remove guest state:", err)
	}
}
