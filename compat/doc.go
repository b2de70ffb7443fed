// Package compat holds a test-only comparison of virtlxcd with Debian's
// libvirtd 9.0: the same virsh command lines run against both daemons and
// their exit status, stdout and stderr are compared after the volatile
// parts (ids, pts numbers, times, paths) are normalised. It runs only
// under `make compat` (VIRTLXCD_COMPAT=1) and writes REPORT.md.
package compat
