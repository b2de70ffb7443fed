package controller

import (
	"sort"
	"testing"
	"time"
)

// BenchmarkStartDestroy measures Start (until the init runs) and a forced
// Destroy (until the controller is gone and everything is removed) of a
// busybox container. Run with -benchtime=20x for the n=20 medians.
func BenchmarkStartDestroy(b *testing.B) {
	e := newEnv(b)
	var starts, destroys []time.Duration
	for i := 0; i < b.N; i++ {
		spec := e.spec("/bin/sleep", "1000")
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
		e.assertGone(spec.Name, c.CgroupPath(), nil)
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
