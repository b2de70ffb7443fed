// Package pkgbuild makes virtlxcd's .deb and .rpm from packaging/nfpm.yaml,
// with nfpm (the version goreleaser embeds) used as a library so that
// `make packages`, the tests and a goreleaser release build the same thing.
package pkgbuild

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the "deb" packager
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the "rpm" packager

	"github.com/virtlxcd/virtlxcd/packaging/internal/atomicfile"
)

// Formats lists the package formats virtlxcd ships.
var Formats = []string{"deb", "rpm"}

// Options says what to build and from where.
type Options struct {
	// Root is the repository root; relative sources in the configuration
	// are taken from it.
	Root string
	// Config is the nfpm configuration; "" means Root/packaging/nfpm.yaml.
	Config string
	// Version is the release number (the contents of VERSION).
	Version string
	// Release is the package release; "" means "1".
	Release string
	// BuildDir holds the binaries and the compressed man pages.
	BuildDir string
	// OutDir receives the packages.
	OutDir string
}

// Build makes the package of format and returns its path.
func Build(opts Options, format string) (string, error) {
	info, err := load(opts, format)
	if err != nil {
		return "", err
	}
	packager, err := nfpm.Get(format)
	if err != nil {
		return "", fmt.Errorf("%s package: %w", format, err)
	}
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return "", fmt.Errorf("%s package: %w", format, err)
	}
	target := filepath.Join(opts.OutDir, packager.ConventionalFileName(info))
	info.Target = target
	err = atomicfile.Write(target, 0o644, func(w io.Writer) error {
		return packager.Package(info, w)
	})
	if err != nil {
		return "", fmt.Errorf("%s package: %w", format, err)
	}
	return target, nil
}

// BuildAll makes every format in Formats and returns their paths in order.
func BuildAll(opts Options) ([]string, error) {
	var out []string
	for _, f := range Formats {
		p, err := Build(opts, f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Placeholders are the ${NAME}s the configuration may use.
var Placeholders = []string{"VERSION", "RELEASE", "BUILDDIR"}

// load reads the configuration for one format with the placeholders
// filled in and every relative path anchored at the repository root.
func load(opts Options, format string) (*nfpm.Info, error) {
	if opts.Root == "" || opts.Version == "" || opts.BuildDir == "" || opts.OutDir == "" {
		return nil, fmt.Errorf("%s package: root, version, build dir and output dir are required", format)
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("%s package: %w", format, err)
	}
	anchor := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	cfgPath := opts.Config
	if cfgPath == "" {
		cfgPath = filepath.Join(root, "packaging", "nfpm.yaml")
	}
	release := opts.Release
	if release == "" {
		release = "1"
	}
	values := map[string]string{
		"VERSION":  opts.Version,
		"RELEASE":  release,
		"BUILDDIR": anchor(opts.BuildDir),
	}
	var unknown []string
	mapping := func(name string) string {
		v, ok := values[name]
		if !ok && !slices.Contains(unknown, name) {
			unknown = append(unknown, name)
		}
		return v
	}
	cfg, err := nfpm.ParseFileWithEnvMapping(cfgPath, mapping)
	if err != nil {
		return nil, fmt.Errorf("%s package: parse %s: %w", format, cfgPath, err)
	}
	// nfpm also expands its signing variables; only ours count as errors.
	unknown = slices.DeleteFunc(unknown, func(n string) bool { return strings.HasPrefix(n, "NFPM_") })
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%s package: %s uses unknown placeholders %v", format, cfgPath, unknown)
	}
	// nfpm's own Validate would resolve sources against the working
	// directory; PrepareForPackager checks them once they are anchored.
	for f := range cfg.Overrides {
		if !slices.Contains(Formats, f) {
			return nil, fmt.Errorf("%s package: %s overrides unknown format %q", format, cfgPath, f)
		}
	}
	info, err := cfg.Get(format)
	if err != nil {
		return nil, fmt.Errorf("%s package: %w", format, err)
	}
	info.Changelog = anchor(info.Changelog)
	for _, c := range info.Contents {
		c.Source = anchor(c.Source)
	}
	for _, s := range []*string{
		&info.Scripts.PreInstall, &info.Scripts.PostInstall,
		&info.Scripts.PreRemove, &info.Scripts.PostRemove,
		&info.RPM.Scripts.PreTrans, &info.RPM.Scripts.PostTrans,
	} {
		*s = anchor(*s)
	}
	for _, c := range info.Contents {
		if c.Source == "" {
			continue
		}
		if _, err := os.Stat(c.Source); err != nil {
			return nil, fmt.Errorf("%s package: content for %s: %w", format, c.Destination, err)
		}
	}
	return nfpm.WithDefaults(info), nil
}
