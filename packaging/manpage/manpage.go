// Package manpage renders virtlxcd's reStructuredText manual pages to
// man(8) roff with docutils' rst2man, stamped with the project's version,
// and compresses them the way distributions ship them.
package manpage

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/virtlxcd/virtlxcd/packaging/internal/atomicfile"
)

// VersionMark is replaced by the version in the source before rendering, so
// that the page footer names the same release as the binary and package.
const VersionMark = "@VERSION@"

// Render converts the page at src with `rst2man --strict`, which turns
// every docutils warning into a failure.
func Render(src, version string) ([]byte, error) {
	text, err := os.ReadFile(src)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", src, err)
	}
	text = bytes.ReplaceAll(text, []byte(VersionMark), []byte(version))
	cmd := exec.Command("rst2man", "--strict", "--no-generator", "--no-datestamp")
	cmd.Stdin = bytes.NewReader(text)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("render %s: rst2man: %w: %s", src, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// Gzip compresses like `gzip -9n`: no file name and no time stamp in the
// header, so equal pages give equal bytes.
func Gzip(roff []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(roff); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Build renders src into outDir as NAME.8 and NAME.8.gz, NAME being the
// source's base name without .rst, and returns the two paths.
func Build(src, version, outDir string) (roffPath, gzPath string, err error) {
	roff, err := Render(src, version)
	if err != nil {
		return "", "", err
	}
	gz, err := Gzip(roff)
	if err != nil {
		return "", "", fmt.Errorf("compress %s: %w", src, err)
	}
	name := strings.TrimSuffix(filepath.Base(src), ".rst")
	roffPath = filepath.Join(outDir, name+".8")
	gzPath = roffPath + ".gz"
	if err := atomicfile.WriteBytes(roffPath, 0o644, roff); err != nil {
		return "", "", err
	}
	if err := atomicfile.WriteBytes(gzPath, 0o644, gz); err != nil {
		return "", "", err
	}
	return roffPath, gzPath, nil
}

// Gunzip undoes Gzip; tests use it to read pages back out of packages.
func Gunzip(r io.Reader) ([]byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}
