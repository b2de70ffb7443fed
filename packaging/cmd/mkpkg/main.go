// Command mkpkg renders virtlxcd's man pages and builds its packages; the
// Makefile's `man` and `packages` targets call it.
//
//	mkpkg man -version V -out build manpages/virtlxcd.rst ...
//	mkpkg packages -version V -build build -out dist
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/virtlxcd/virtlxcd/packaging/manpage"
	"github.com/virtlxcd/virtlxcd/packaging/pkgbuild"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: mkpkg man|packages [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "man":
		err = man(os.Args[2:])
	case "packages":
		err = packages(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want man or packages)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkpkg:", err)
		os.Exit(1)
	}
}

func man(args []string) error {
	fs := flag.NewFlagSet("man", flag.ExitOnError)
	version := fs.String("version", "", "version stamped into the pages")
	out := fs.String("out", "build", "output directory")
	fs.Parse(args)
	if *version == "" || fs.NArg() == 0 {
		return fmt.Errorf("man: -version and at least one .rst page are required")
	}
	for _, src := range fs.Args() {
		_, gz, err := manpage.Build(src, *version, *out)
		if err != nil {
			return err
		}
		fmt.Println(gz)
	}
	return nil
}

func packages(args []string) error {
	fs := flag.NewFlagSet("packages", flag.ExitOnError)
	var o pkgbuild.Options
	fs.StringVar(&o.Root, "root", ".", "repository root")
	fs.StringVar(&o.Version, "version", "", "package version (the VERSION file)")
	fs.StringVar(&o.Release, "release", "1", "package release")
	fs.StringVar(&o.BuildDir, "build", "build", "directory with the binaries and man pages")
	fs.StringVar(&o.OutDir, "out", "dist", "output directory")
	fs.Parse(args)
	paths, err := pkgbuild.BuildAll(o)
	if err != nil {
		return err
	}
	for _, p := range paths {
		fmt.Println(p)
	}
	return nil
}
