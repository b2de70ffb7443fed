package main_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/virtlxcd/virtlxcd/internal/daemontest"
)

// hostPaths are the host's libvirt locations; the tests must leave them
// exactly as they found them (every daemon runs below a temp prefix).
var hostPaths = []string{"/etc/libvirt/lxc", "/etc/libvirt/virtlxcd.conf", "/run/libvirt", "/run/virtlxcd.pid", "/var/log/libvirt/lxc"}

func TestMain(m *testing.M) {
	before := map[string]bool{}
	for _, p := range hostPaths {
		_, err := os.Lstat(p)
		before[p] = err == nil
	}
	code := m.Run()
	daemontest.RemoveBinary()
	for _, p := range hostPaths {
		_, err := os.Lstat(p)
		if now := err == nil; now != before[p] {
			fmt.Fprintf(os.Stderr, "FAIL: the tests changed the host: %s existed=%v before, %v after\n", p, before[p], now)
			code = 1
		}
	}
	os.Exit(code)
}
