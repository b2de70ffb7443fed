package compat

import (
	"testing"
	"time"

	"github.com/virtlxcd/virtlxcd/internal/daemontest"
	"github.com/virtlxcd/virtlxcd/internal/libvirtdtest"
)

// side is one daemon of the comparison.
type side struct {
	name   string
	rw, ro string
	logs   func() string
}

func startLibvirtd(t *testing.T) *side {
	t.Helper()
	lv := libvirtdtest.Start(t, "virtlxcd-compat-libvirtd-")
	s := &side{name: "libvirtd", rw: lv.RW, ro: lv.RO, logs: lv.Logs}
	// The socket answers before the drivers are loaded.
	for i := 0; i < 100; i++ {
		if r := s.virsh(modeRW, "version"); r.Code == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

func startVirtlxcd(t *testing.T) *side {
	t.Helper()
	d := daemontest.Start(t, daemontest.Options{})
	return &side{name: "virtlxcd", rw: d.RW, ro: d.RO, logs: d.Output}
}
