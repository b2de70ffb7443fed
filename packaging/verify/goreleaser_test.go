package verify

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type content struct {
	Src      string `yaml:"src"`
	Dst      string `yaml:"dst"`
	Type     string `yaml:"type"`
	Packager string `yaml:"packager"`
	Expand   bool   `yaml:"expand"`
	FileInfo struct {
		Mode int `yaml:"mode"`
	} `yaml:"file_info"`
}

type relations struct {
	Depends      []string          `yaml:"depends"`
	Dependencies []string          `yaml:"dependencies"` // goreleaser's name for depends
	Recommends   []string          `yaml:"recommends"`
	Conflicts    []string          `yaml:"conflicts"`
	Replaces     []string          `yaml:"replaces"`
	Scripts      map[string]string `yaml:"scripts"`
}

// packageFields are the fields both files must agree on.
type packageFields struct {
	Maintainer  string               `yaml:"maintainer"`
	Description string               `yaml:"description"`
	Vendor      string               `yaml:"vendor"`
	Homepage    string               `yaml:"homepage"`
	License     string               `yaml:"license"`
	Changelog   string               `yaml:"changelog"`
	Section     string               `yaml:"section"`
	Priority    string               `yaml:"priority"`
	Contents    []content            `yaml:"contents"`
	Overrides   map[string]relations `yaml:"overrides"`
	RPM         map[string]string    `yaml:"rpm"`
	Deb         struct {
		Compression      string   `yaml:"compression"`
		LintianOverrides []string `yaml:"lintian_overrides"`
	} `yaml:"deb"`
}

type goreleaserConfig struct {
	Builds []struct {
		Main    string   `yaml:"main"`
		Binary  string   `yaml:"binary"`
		Env     []string `yaml:"env"`
		Ldflags []string `yaml:"ldflags"`
	} `yaml:"builds"`
	Nfpms []struct {
		packageFields `yaml:",inline"`
		Formats       []string `yaml:"formats"`
		Bindir        string   `yaml:"bindir"`
		Release       string   `yaml:"release"`
		FileName      string   `yaml:"file_name_template"`
	} `yaml:"nfpms"`
	Checksum map[string]string `yaml:"checksum"`
}

func loadYAML(t testing.TB, rel string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// The release config describes the packages `make packages` builds.
func TestGoreleaserMatchesNfpm(t *testing.T) {
	var nf packageFields
	loadYAML(t, "packaging/nfpm.yaml", &nf)
	var gr goreleaserConfig
	loadYAML(t, ".goreleaser.yaml", &gr)
	if len(gr.Nfpms) != 1 {
		t.Fatalf("want one nfpms entry, got %d", len(gr.Nfpms))
	}
	g := gr.Nfpms[0]

	// nfpm.yaml names the binaries; goreleaser puts its builds in bindir.
	var want []content
	var binaries []string
	for _, c := range nf.Contents {
		switch {
		case strings.HasPrefix(c.Dst, "/usr/sbin/"):
			binaries = append(binaries, filepath.Base(c.Dst))
			if filepath.Dir(c.Dst) != g.Bindir {
				t.Errorf("%s is not in goreleaser's bindir %s", c.Dst, g.Bindir)
			}
		case strings.HasPrefix(c.Dst, "/usr/share/lintian/overrides/"):
			// goreleaser writes it from deb.lintian_overrides.
		default:
			c.Src = strings.Replace(c.Src, "${BUILDDIR}/", "build/", 1)
			c.Expand = false
			want = append(want, c)
		}
	}
	if len(want) < 10 || len(binaries) != 2 {
		t.Fatalf("nfpm.yaml parsed to %d contents and binaries %v", len(want), binaries)
	}
	if !reflect.DeepEqual(g.Contents, want) {
		t.Errorf("contents differ:\ngoreleaser: %+v\nnfpm:       %+v", g.Contents, want)
	}
	var built []string
	for _, b := range gr.Builds {
		built = append(built, b.Binary)
		if b.Main != "./cmd/"+b.Binary {
			t.Errorf("build %s: main %s", b.Binary, b.Main)
		}
		if !slices.Contains(b.Env, "CGO_ENABLED=0") {
			t.Errorf("build %s is not static (CGO_ENABLED=0)", b.Binary)
		}
		if !strings.Contains(strings.Join(b.Ldflags, " "), "pkg/version.Version={{ .Version }}") {
			t.Errorf("build %s does not stamp the version: %q", b.Binary, b.Ldflags)
		}
	}
	slices.Sort(built)
	slices.Sort(binaries)
	if !slices.Equal(built, binaries) {
		t.Errorf("goreleaser builds %v, nfpm.yaml packages %v", built, binaries)
	}

	for _, f := range []struct{ name, gr, nf string }{
		{"maintainer", g.Maintainer, nf.Maintainer}, {"description", g.Description, nf.Description},
		{"vendor", g.Vendor, nf.Vendor}, {"homepage", g.Homepage, nf.Homepage},
		{"license", g.License, nf.License}, {"changelog", g.Changelog, nf.Changelog},
		{"section", g.Section, nf.Section}, {"priority", g.Priority, nf.Priority},
		{"deb compression", g.Deb.Compression, nf.Deb.Compression},
	} {
		if f.gr != f.nf {
			t.Errorf("%s: goreleaser %q, nfpm.yaml %q", f.name, f.gr, f.nf)
		}
	}
	if !reflect.DeepEqual(g.RPM, nf.RPM) {
		t.Errorf("rpm: goreleaser %v, nfpm.yaml %v", g.RPM, nf.RPM)
	}
	for _, format := range []string{"deb", "rpm"} {
		a, b := g.Overrides[format], nf.Overrides[format]
		a.Depends, a.Dependencies = a.Dependencies, nil
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s overrides: goreleaser %+v, nfpm.yaml %+v", format, a, b)
		}
	}
	if !slices.Equal(g.Formats, []string{"deb", "rpm"}) || g.Release != "1" || g.FileName != "{{ .ConventionalFileName }}" {
		t.Errorf("formats %v, release %q, file names %q", g.Formats, g.Release, g.FileName)
	}
	for _, line := range strings.Split(mustRead(t, filepath.Join(repoRoot(t), "packaging/lintian-overrides")), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if tag := strings.TrimPrefix(line, "virtlxcd: "); !slices.Contains(g.Deb.LintianOverrides, tag) {
			t.Errorf("goreleaser's lintian_overrides lack %q", tag)
		}
	}
	if gr.Checksum["algorithm"] != "sha256" {
		t.Errorf("checksum: %v", gr.Checksum)
	}
}

// goreleaser is a 120 MB tool with a 4-minute cold install, so CI does not
// install it; when it is on PATH, its own validation must pass.
func TestGoreleaserCheck(t *testing.T) {
	bin, err := exec.LookPath("goreleaser")
	if err != nil {
		t.Skip("goreleaser is not installed; TestGoreleaserMatchesNfpm checks the config against nfpm.yaml instead")
	}
	cmd := exec.Command(bin, "check")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("goreleaser check: %v\n%s", err, out)
	}
}
