package controller

import (
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// BenchmarkStartDestroy measures Start (until the init runs) and a forced
// Destroy (until the controller is gone and everything is removed) of a
// busybox container. Run with -benchtime=20x for the n=20 medians.
func BenchmarkStartDestroy(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchStartDestroy(b, func(*env, *Spec) {}) })
	b.Run("userns", func(b *testing.B) {
		benchStartDestroy(b, func(e *env, s *Spec) {
			s.UIDMap = []IDMap{{Start: 0, Target: 100000, Count: 65536}}
			s.GIDMap = s.UIDMap
			s.PrivNet = true
		})
	})
	b.Run("bridge", func(b *testing.B) {
		br := fmt.Sprintf("vbb%d", os.Getpid()%1000000)
		la := netlink.NewLinkAttrs()
		la.Name = br
		bridge := &netlink.Bridge{LinkAttrs: la}
		if err := netlink.LinkAdd(bridge); err != nil {
			b.Fatal(err)
		}
		defer netlink.LinkDel(bridge)
		benchStartDestroy(b, func(e *env, s *Spec) {
			s.Interfaces = []Interface{{Type: "bridge", Bridge: br, MAC: "52:54:00:12:34:56",
				IPs: []IPAddr{{Address: "10.218.0.2", Prefix: 24}}}}
		})
	})
}

func benchStartDestroy(b *testing.B, change func(*env, *Spec)) {
	e := newEnv(b)
	chownTree(b, e.root, 100000, 100000) // harmless without a user namespace
	var starts, destroys []time.Duration
	for i := 0; i < b.N; i++ {
		spec := e.spec("/bin/sleep", "1000")
		change(e, spec)
		t0 := time.Now()
		c, err := Start(e.exe, e.dirs, spec)
		if err != nil {
			b.Fatalf("start: %v\n%s", err, e.log(spec.Name))
		}
		t1 := time.Now()
		if err := c.Destroy(false); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		c.Close()
		starts, destroys = append(starts, t1.Sub(t0)), append(destroys, t2.Sub(t1))
		e.assertGone(spec.Name, c.CgroupPath(), c.st.Links)
	}
	b.ReportMetric(median(starts), "start-ms")
	b.ReportMetric(median(destroys), "destroy-ms")
	b.ReportMetric(0, "ns/op")
}

func median(d []time.Duration) float64 {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[len(s)/2]) / float64(time.Millisecond)
}
