// Package bench measures virtlxcd against Debian's libvirtd in one run:
// both daemons are started on private trees, driven by the same
// go-libvirt workload, and a table of ours/libvirtd ratios is printed.
// It holds benchmarks only (run with `make bench`); `go test` alone
// starts nothing. See README.md.
package bench
