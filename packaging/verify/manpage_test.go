package verify

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/virtlxcd/virtlxcd/packaging/manpage"
)

// renderPage renders one page into a temp dir; it skips when the page is
// another engineer's and not written yet.
func renderPage(t *testing.T, src string) string {
	t.Helper()
	requireTools(t, "rst2man")
	path := filepath.Join(repoRoot(t), src)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s is not written yet", src)
	}
	roff, _, err := manpage.Build(path, projectVersion(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return roff
}

func TestManPagesLint(t *testing.T) {
	requireTools(t, "groff", "mandoc")
	for _, src := range manSources {
		t.Run(filepath.Base(src), func(t *testing.T) {
			roff := renderPage(t, src)
			// groff -ww turns on every warning; -z discards the output.
			if out, err := runErr("groff", "-man", "-ww", "-z", roff); err != nil || out != "" {
				t.Errorf("groff: %v\n%s", err, out)
			}
			// rst2man's output draws mandoc style notes (paragraph
			// macros after headings), so only warnings and errors count.
			if out, err := runErr("mandoc", "-T", "lint", "-W", "error", roff); err != nil || out != "" {
				t.Errorf("mandoc: %v\n%s", err, out)
			}
			text := mustRead(t, roff)
			name := strings.ToUpper(strings.TrimSuffix(filepath.Base(src), ".rst"))
			th := regexp.MustCompile(`(?m)^\.TH "` + regexp.QuoteMeta(name) + `" 8 "[^"]+" "[^"]*` + regexp.QuoteMeta(projectVersion(t)) + `"`)
			if !th.MatchString(text) {
				t.Errorf("title line does not carry section 8, a date and version %s:\n%s", projectVersion(t), grepLines(text, ".TH"))
			}
			if strings.Contains(text, manpage.VersionMark) {
				t.Errorf("%s left unsubstituted", manpage.VersionMark)
			}
		})
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The sections virtlxcd(8) must have: those of libvirt's page and ours.
func TestDaemonManPageSections(t *testing.T) {
	text := mustRead(t, renderPage(t, "manpages/virtlxcd.rst"))
	for _, sec := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "SOCKET ACTIVATION", "LIBVIRT-GUESTS ORDERING",
		"OPTIONS", "SIGNALS", "EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"} {
		if !strings.Contains(text, "\n.SH "+sec+"\n") {
			t.Errorf("virtlxcd.8 has no %s section", sec)
		}
	}
	// Every path the daemon uses (pkg/paths) is documented.
	src := mustRead(t, filepath.Join(repoRoot(t), "pkg/paths/paths.go"))
	for _, m := range regexp.MustCompile(`j\("(/[^"]+)"\)`).FindAllStringSubmatch(src, -1) {
		if !strings.Contains(text, strings.ReplaceAll(m[1], "-", "\\-")) {
			t.Errorf("virtlxcd.8 does not mention %s (pkg/paths)", m[1])
		}
	}
}

// optionRE picks -x and --long-name out of an option line.
var optionRE = regexp.MustCompile(`(?:^|[\s,])(--?[A-Za-z][A-Za-z0-9-]*)`)

// helpOptions lists the options a --help text describes: lines whose first
// non-blank character is '-', up to the description.
func helpOptions(help string) []string {
	var opts []string
	for _, line := range strings.Split(help, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "-") {
			continue
		}
		if i := strings.Index(line, "  "); i > 0 {
			line = line[:i]
		}
		for _, m := range optionRE.FindAllStringSubmatch(line, -1) {
			opts = append(opts, m[1])
		}
	}
	slices.Sort(opts)
	return slices.Compact(opts)
}

// manOptions lists the options of the OPTIONS section of an rst page: the
// terms of its option or definition list, which start in the first column
// (plain, **bold** or “literal“) and are followed by an indented body.
func manOptions(rst string) []string {
	var opts []string
	in := false
	lines := strings.Split(rst, "\n")
	for i, line := range lines {
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "===") {
			in = line == "OPTIONS"
			continue
		}
		term := strings.TrimLeft(line, "*`")
		if !in || !strings.HasPrefix(term, "-") || i+1 == len(lines) ||
			!strings.HasPrefix(lines[i+1], " ") || strings.TrimSpace(lines[i+1]) == "" {
			continue
		}
		for _, m := range optionRE.FindAllStringSubmatch(strings.NewReplacer("*", "", "`", "").Replace(line), -1) {
			opts = append(opts, m[1])
		}
	}
	slices.Sort(opts)
	return slices.Compact(opts)
}

func TestHelpOptionsMatchManPage(t *testing.T) {
	cases := []struct{ main, page string }{
		{"cmd/virtlxcd", "manpages/virtlxcd.rst"},
		{"cmd/virtlxcd-migrate", "manpages/virtlxcd-migrate.rst"},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.main), func(t *testing.T) {
			root := repoRoot(t)
			if !hasMain(root, c.main) {
				t.Skipf("%s has no main package yet", c.main)
			}
			page := filepath.Join(root, c.page)
			if _, err := os.Stat(page); err != nil {
				t.Skipf("%s is not written yet", c.page)
			}
			bin := filepath.Join(binaries(t), filepath.Base(c.main))
			// libvirt's daemons print help on stderr; take both streams.
			out, err := exec.Command(bin, "--help").CombinedOutput()
			if err != nil {
				t.Fatalf("%s --help: %v\n%s", bin, err, out)
			}
			help, man := helpOptions(string(out)), manOptions(mustRead(t, page))
			if len(help) == 0 {
				t.Fatalf("no options found in --help:\n%s", out)
			}
			for _, o := range help {
				if !slices.Contains(man, o) {
					t.Errorf("--help prints %s, %s does not document it", o, c.page)
				}
			}
			for _, o := range man {
				if !slices.Contains(help, o) {
					t.Errorf("%s documents %s, --help does not print it", c.page, o)
				}
			}
		})
	}
}

func TestVersionStamped(t *testing.T) {
	bin := filepath.Join(binaries(t), "virtlxcd")
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("virtlxcd --version: %v\n%s", err, out)
	}
	// libvirt prints argv[0] as typed, so only the tail is fixed.
	if want := "virtlxcd (libvirt) " + projectVersion(t) + "\n"; !strings.HasSuffix(string(out), want) {
		t.Errorf("virtlxcd --version printed %q, want it to end in %q", out, want)
	}
}
