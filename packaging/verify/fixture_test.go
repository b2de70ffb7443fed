package verify

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtlxcd/virtlxcd/packaging/manpage"
	"github.com/virtlxcd/virtlxcd/packaging/pkgbuild"
)

// work is this run's scratch directory; TestMain removes it.
var work string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "virtlxcd-pkgtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	work = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the directory holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

func projectVersion(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// run executes a command and returns its combined output, failing the
// test when it fails.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := runErr(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CI runs make test as root)")
	}
}

func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (scripts/install-test-deps.sh installs it): %v", tool, err)
		}
	}
}

// onceResult memoises a step shared by several tests, including the
// reason to skip when a piece another engineer writes is not there yet.
type onceResult[T any] struct {
	once sync.Once
	val  T
	skip string
	err  error
}

func (o *onceResult[T]) get(t testing.TB, f func() (T, string, error)) T {
	t.Helper()
	o.once.Do(func() { o.val, o.skip, o.err = f() })
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.skip != "" {
		t.Skip(o.skip)
	}
	return o.val
}

// mainPackages are the binaries the packages ship, by source directory.
var mainPackages = []string{"cmd/virtlxcd", "cmd/virtlxcd-migrate"}

// hasMain says whether dir (relative to the root) holds a main package.
func hasMain(root, dir string) bool {
	cmd := exec.Command("go", "list", "-f", "{{.Name}}", "./"+dir)
	cmd.Dir = root
	out, err := cmd.Output()
	return err == nil && strings.TrimSpace(string(out)) == "main"
}

var builtBinaries onceResult[string]

// binaries builds both commands the way `make build` does, version stamp
// included, and returns the directory holding them.
func binaries(t testing.TB) string {
	return builtBinaries.get(t, func() (string, string, error) {
		root := repoRoot(t)
		for _, dir := range mainPackages {
			if !hasMain(root, dir) {
				return "", fmt.Sprintf("%s has no main package yet: nothing to build, package or run", dir), nil
			}
		}
		dir := filepath.Join(work, "build")
		ldflags := "-s -w -X github.com/virtlxcd/virtlxcd/pkg/version.Version=" + projectVersion(t)
		args := []string{"build", "-trimpath", "-ldflags", ldflags, "-o", dir + "/"}
		for _, p := range mainPackages {
			args = append(args, "./"+p)
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go build: %v\n%s", err, out)
		}
		return dir, "", nil
	})
}

// manSources are the pages the packages ship.
var manSources = []string{"manpages/virtlxcd.rst", "manpages/virtlxcd-migrate.rst"}

var builtPages onceResult[string]

// manPages renders every page into the binaries' directory, as `make man`
// does into build/, and returns that directory.
func manPages(t testing.TB) string {
	dir := binaries(t)
	return builtPages.get(t, func() (string, string, error) {
		root := repoRoot(t)
		for _, src := range manSources {
			if _, err := os.Stat(filepath.Join(root, src)); err != nil {
				return "", src + " is not written yet", nil
			}
		}
		for _, src := range manSources {
			if _, _, err := manpage.Build(filepath.Join(root, src), projectVersion(t), dir); err != nil {
				return "", "", err
			}
		}
		return dir, "", nil
	})
}

// Packages are one build of both formats.
type Packages struct{ Deb, RPM string }

type builds struct{ Current, Previous Packages }

var builtPackages onceResult[builds]

// confInputs are the package inputs written by other engineers.
var confInputs = []string{"pkg/daemonconf/virtlxcd.conf", "pkg/daemonconf/lxc.conf"}

// PreviousMark is appended to virtlxcd.conf in the previous build, so that
// the upgrade really changes a conffile the administrator has edited.
const PreviousMark = "# virtlxcd-pkgtest: previous build\n"

// packages builds the current packages (release 1, the tree as it is) and a
// previous build (release 0, with a different virtlxcd.conf) to upgrade from.
func packages(t testing.TB) builds {
	buildDir := manPages(t)
	return builtPackages.get(t, func() (builds, string, error) {
		root := repoRoot(t)
		for _, in := range confInputs {
			if _, err := os.Stat(filepath.Join(root, in)); err != nil {
				return builds{}, in + " is not written yet", nil
			}
		}
		var b builds
		cur, err := pkgbuild.BuildAll(pkgbuild.Options{
			Root: root, Version: projectVersion(t), Release: "1",
			BuildDir: buildDir, OutDir: filepath.Join(work, "dist"),
		})
		if err != nil {
			return b, "", err
		}
		b.Current = Packages{Deb: cur[0], RPM: cur[1]}

		stage := filepath.Join(work, "prev-root")
		for _, dir := range []string{"units", "packaging", "pkg/daemonconf"} {
			if err := os.CopyFS(filepath.Join(stage, dir), os.DirFS(filepath.Join(root, dir))); err != nil {
				return b, "", fmt.Errorf("stage previous build: %w", err)
			}
		}
		conf := filepath.Join(stage, "pkg/daemonconf/virtlxcd.conf")
		f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return b, "", err
		}
		_, err = f.WriteString(PreviousMark)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return b, "", err
		}
		prev, err := pkgbuild.BuildAll(pkgbuild.Options{
			Root: stage, Version: projectVersion(t), Release: "0",
			BuildDir: buildDir, OutDir: filepath.Join(work, "dist-prev"),
		})
		if err != nil {
			return b, "", err
		}
		b.Previous = Packages{Deb: prev[0], RPM: prev[1]}
		return b, "", nil
	})
}
