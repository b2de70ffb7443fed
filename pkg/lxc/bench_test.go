package lxc

import (
	"fmt"
	"os"
	goruntime "runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/virtlxcd/virtlxcd/pkg/domain"
)

// populate defines n domains in d.
func populate(b *testing.B, d *Driver, n int) []domain.Ref {
	b.Helper()
	refs := make([]domain.Ref, n)
	for i := range refs {
		ref, err := d.DefineXML(ctXML(fmt.Sprintf("bench%05d", i), ""), 0)
		if err != nil {
			b.Fatal(err)
		}
		refs[i] = ref
	}
	return refs
}

func benchDriver(b *testing.B) *Driver {
	p := benchPaths(b)
	d, err := New(Config{Paths: p, Exe: "/proc/self/exe"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

func BenchmarkDefine(b *testing.B) {
	for _, n := range []int{200, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			d := benchDriver(b)
			populate(b, d, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := d.DefineXML(ctXML(fmt.Sprintf("extra%d", i), ""), 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLookupByName(b *testing.B) {
	for _, n := range []int{200, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			d := benchDriver(b)
			refs := populate(b, d, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := d.LookupByName(refs[i%n].Name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkListAll(b *testing.B) {
	for _, n := range []int{200, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			d := benchDriver(b)
			populate(b, d, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				refs, err := d.ListAllDomains(domain.ListActive | domain.ListInactive)
				if err != nil || len(refs) != n {
					b.Fatal(len(refs), err)
				}
			}
		})
	}
}

// BenchmarkStartDestroy reports the median start and destroy latency of a
// busybox container over the iterations.
func BenchmarkStartDestroy(b *testing.B) {
	if !canRunContainers() {
		b.Skip("needs root and busybox")
	}
	d := benchDriver(b)
	ref, err := d.DefineXML(rootXML("benchct", makeRootfs(b), initScript), 0)
	if err != nil {
		b.Fatal(err)
	}
	var starts, destroys []time.Duration
	var rss []int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		run, err := d.Create(ref, 0)
		if err != nil {
			b.Fatal(err)
		}
		starts = append(starts, time.Since(t0))
		rss = append(rss, rssKiB(int(run.ID)))
		t1 := time.Now()
		if err := d.Destroy(ref, 0); err != nil {
			b.Fatal(err)
		}
		destroys = append(destroys, time.Since(t1))
	}
	b.ReportMetric(float64(median(starts).Microseconds())/1000, "start-ms")
	b.ReportMetric(float64(median(destroys).Microseconds())/1000, "destroy-ms")
	b.ReportMetric(float64(slices.Max(starts).Microseconds())/1000, "start-max-ms")
	b.ReportMetric(float64(slices.Max(destroys).Microseconds())/1000, "destroy-max-ms")
	sort.Ints(rss)
	b.ReportMetric(float64(rss[len(rss)/2]), "controller-rss-KiB")
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// rssKiB reads VmRSS of a process.
func rssKiB(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// BenchmarkHeapPerDomain reports how much Go heap the driver holds per
// defined domain, to size the daemon with many domains.
func BenchmarkHeapPerDomain(b *testing.B) {
	const n = 10000
	for i := 0; i < b.N; i++ {
		goruntime.GC()
		var before, after goruntime.MemStats
		goruntime.ReadMemStats(&before)
		d := benchDriver(b)
		populate(b, d, n)
		goruntime.GC()
		goruntime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/domain")
		d.Close()
	}
}
