package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
)

// initVariants are the guest inits and pacing of the start/destroy
// workload. libvirt destroys with SIGTERM, a grace period, then SIGKILL: an
// init that ignores SIGTERM (a shell as PID 1 without a trap) shows the full
// grace period, one that exits on SIGTERM the polling granularity. The
// trapping init gets a moment (untimed) to install its trap before the
// destroy, and the next start follows an idle pause, as a start usually
// does outside a benchmark loop; the plain variant runs back to back.
var initVariants = []struct {
	key, startLabel, destroyLabel, script string
	pause                                 time.Duration
}{
	{"plain", "start, back to back", "destroy, init ignores SIGTERM",
		`while :; do sleep 0.1; done`, 0},
	{"trap", "start after 100 ms idle", "destroy, init exits on SIGTERM",
		`trap 'echo >>` + termLog + `; exit 0' TERM; while :; do sleep 0.1; done`, 100 * time.Millisecond},
}

// termLog, in the guest's root, gets a line each time the trapping init
// handles SIGTERM: libvirt's destroy sends SIGTERM first and SIGKILL only
// after a grace period, and the table shows whether ours does the same.
const termLog = "/sigterm.log"

// scaleSizes are the numbers of defined domains of issue 3.
var scaleSizes = []int{200, 10000}

// populateClients define the domains of the scale workload in parallel.
const populateClients = 4

// BenchmarkDomains is issue 3: container start and destroy through the
// API, define/list/lookup with many defined domains, and the size of the
// daemon and of one controller.
func BenchmarkDomains(b *testing.B) {
	pair := startPair(b)
	root := busyboxRoot(b)
	rep := newReport("Domains: busybox start/destroy, define/list/lookup at scale, RSS")
	conns := map[string]*libvirt.Libvirt{}
	for _, d := range pair {
		l := connect(b, d)
		b.Cleanup(func() { l.Disconnect() })
		conns[d.name] = l
	}

	rep.declare("ctl-rss", "controller RSS after start (median)", "MB", info)
	for _, v := range initVariants {
		rep.declare("start-"+v.key, v.startLabel+" (median)", "ms", oursAtMost(10))
		rep.declare("destroy-"+v.key, v.destroyLabel+" (median)", "ms", oursAtMost(10))
		if strings.Contains(v.script, termLog) {
			rep.declare("sigterm", "  destroys whose init ran its SIGTERM trap", "%", sameAsLibvirtd)
		}
		for _, d := range pair {
			log := filepath.Join(root, termLog)
			os.Remove(log)
			n := benchStartDestroy(b, rep, d, conns[d.name], v.key, domainXML(runTag+"-"+v.key, root, v.script), v.pause)
			if strings.Contains(v.script, termLog) && n > 0 {
				data, _ := os.ReadFile(log)
				rep.set("sigterm", d.name, 100*float64(strings.Count(string(data), "\n"))/float64(n))
			}
		}
	}
	rep.declare("rss-idle", "daemon RSS, no domains defined", "MB", info)
	for _, d := range pair {
		rep.set("rss-idle", d.name, d.rssMB())
	}

	have := map[string]int{}
	for _, n := range scaleSizes {
		for _, d := range pair {
			from := have[d.name]
			t0, c0 := time.Now(), d.cpu()
			populate(b, d, root, from, n)
			rate := float64(n-from) / time.Since(t0).Seconds()
			cpu := (d.cpu() - c0) / time.Duration(n-from)
			have[d.name] = n
			key := fmt.Sprintf("populate-%d", n)
			rep.declare(key, fmt.Sprintf("define %d→%d, %d clients", from, n, populateClients), "defines/s", info)
			rep.set(key, d.name, rate)
			// CPU time comes in 10 ms ticks: too coarse for a few hundred defines.
			if n-from >= 1000 {
				rep.declare(key+"-cpu", "  daemon CPU per define", "µs", info)
				rep.set(key+"-cpu", d.name, us(cpu))
			}
		}
		scaleWorkloads(b, rep, pair, conns, root, n)
		key := fmt.Sprintf("rss-%d", n)
		rep.declare(key, fmt.Sprintf("daemon RSS, %d domains defined", n), "MB", info)
		for _, d := range pair {
			rep.set(key, d.name, d.rssMB())
		}
	}
	rep.print(os.Stdout)
}

// benchStartDestroy defines one domain and times DomainCreateWithFlags and
// DomainDestroy over b.N start/destroy cycles (each timed from the client,
// round trip included).
//
// It returns the number of destroys done.
func benchStartDestroy(b *testing.B, rep *report, d *daemon, l *libvirt.Libvirt, key, xml string, pause time.Duration) int {
	dom, err := l.DomainDefineXML(xml)
	if err != nil {
		b.Fatalf("%s: define: %v", d.name, err)
	}
	defer l.DomainUndefine(dom)
	var starts, destroys []time.Duration
	var ctlRSS []int
	b.Run("start-destroy/"+key+"/"+d.name, func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			run, err := l.DomainCreateWithFlags(dom, 0)
			starts = append(starts, time.Since(t0))
			if err != nil {
				b.Fatalf("%s: start: %v\n%s", d.name, err, d.logs())
			}
			b.StopTimer()
			if run.ID <= 0 {
				if run, err = l.DomainLookupByName(dom.Name); err != nil {
					b.Fatal(err)
				}
			}
			ctlRSS = append(ctlRSS, rssKiB(int(run.ID)))
			time.Sleep(pause)
			b.StartTimer()
			t1 := time.Now()
			if err := l.DomainDestroy(dom); err != nil {
				b.Fatalf("%s: destroy: %v", d.name, err)
			}
			destroys = append(destroys, time.Since(t1))
			if pause > 0 {
				b.StopTimer()
				time.Sleep(pause)
				b.StartTimer()
			}
		}
		b.ReportMetric(ms(median(starts)), "start-ms")
		b.ReportMetric(ms(median(destroys)), "destroy-ms")
	})
	rep.set("start-"+key, d.name, ms(median(starts)))
	rep.set("destroy-"+key, d.name, ms(median(destroys)))
	rep.set("ctl-rss", d.name, float64(medianInt(ctlRSS))*1024/1e6)
	return len(destroys)
}

// scaleWorkloads runs define, list and lookup with n domains defined, each
// in rounds with the daemons taking turns.
func scaleWorkloads(b *testing.B, rep *report, pair []*daemon, conns map[string]*libvirt.Libvirt, root string, n int) {
	listGoal := ratioAtMost(0.5)
	if n >= 10000 {
		listGoal = both(listGoal, oursAtMost(20))
	}
	extra := 0 // names of the define workload, unique over all its runs
	workloads := []struct {
		key, label, unit string
		run              func(b *testing.B, d *daemon, l *libvirt.Libvirt)
	}{
		{"define", "define, %d defined", "defines/s", func(b *testing.B, d *daemon, l *libvirt.Libvirt) {
			var doms []libvirt.Domain
			for i := 0; i < b.N; i++ {
				dom, err := l.DomainDefineXML(domainXML(fmt.Sprintf("%s-x%d", runTag, extra), root, ""))
				if err != nil {
					b.Fatalf("%s: define: %v", d.name, err)
				}
				extra++
				doms = append(doms, dom)
			}
			// Back to exactly n for the next workloads.
			b.StopTimer()
			for _, dom := range doms {
				if err := l.DomainUndefine(dom); err != nil {
					b.Fatalf("%s: undefine: %v", d.name, err)
				}
			}
		}},
		{"list", "list all, %d defined", "lists/s", func(b *testing.B, d *daemon, l *libvirt.Libvirt) {
			for i := 0; i < b.N; i++ {
				doms, _, err := l.ConnectListAllDomains(1, 0)
				if err != nil || len(doms) != n {
					b.Fatalf("%s: list: %d domains, %v", d.name, len(doms), err)
				}
			}
		}},
		{"lookup", "lookup by name, %d defined", "lookups/s", func(b *testing.B, d *daemon, l *libvirt.Libvirt) {
			for i := 0; i < b.N; i++ {
				name := scaleName(i % n)
				if dom, err := l.DomainLookupByName(name); err != nil || dom.Name != name {
					b.Fatalf("%s: lookup %s: %+v %v", d.name, name, dom, err)
				}
			}
		}},
	}
	for _, w := range workloads {
		key := fmt.Sprintf("%s-%d", w.key, n)
		rep.declare(key, fmt.Sprintf(w.label, n), w.unit, ratioAtLeast(2))
		if w.key == "list" {
			rep.declare("listms-"+fmt.Sprint(n), fmt.Sprintf(w.label, n), "ms/list", listGoal)
		}
		if w.key != "define" { // its untimed undefines would count
			rep.declareCost(key)
		}
		for range rounds {
			for _, d := range pair {
				v, c, ran := throughput(b, fmt.Sprintf("%s/%d/%s", w.key, n, d.name), d, func(b *testing.B) { w.run(b, d, conns[d.name]) })
				if !ran {
					continue
				}
				rep.best(key, d.name, v, true)
				if w.key != "define" {
					rep.bestCost(key, d.name, c)
				}
				if w.key == "list" && v > 0 {
					rep.best("listms-"+fmt.Sprint(n), d.name, 1000/v, false)
				}
			}
		}
	}
}

func scaleName(i int) string { return fmt.Sprintf("%s-d%05d", runTag, i) }

// populate defines domains from..n-1 of the scale set over several
// connections.
func populate(b *testing.B, d *daemon, root string, from, n int) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, populateClients)
	for c := 0; c < populateClients; c++ {
		l := connect(b, d)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer l.Disconnect()
			for i := from + c; i < n; i += populateClients {
				if _, err := l.DomainDefineXML(domainXML(scaleName(i), root, "")); err != nil {
					errs <- fmt.Errorf("%s: define %s: %w", d.name, scaleName(i), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// domainXML is the same busybox guest for both daemons. libvirt wants the
// emulator (its controller binary); virtlxcd ignores the element.
func domainXML(name, root, script string) string {
	args := ""
	if script != "" {
		args = "<initarg>-c</initarg><initarg>" + xmlEscape(script) + "</initarg>"
	}
	return fmt.Sprintf(`<domain type='lxc'>
  <name>%s</name>
  <memory unit='MiB'>96</memory>
  <os><type>exe</type><init>/bin/sh</init>%s</os>
  <devices>
    <emulator>%s</emulator>
    <filesystem type='mount'><source dir='%s'/><target dir='/'/></filesystem>
    <console type='pty'/>
  </devices>
</domain>`, name, args, libvirtLXC, root)
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", `"`, "&quot;").Replace(s)
}

// busyboxRoot is a throwaway root with Debian's static busybox.
func busyboxRoot(b *testing.B) string {
	b.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		b.Skipf("busybox-static is not installed: %v", err)
	}
	root, err := os.MkdirTemp("", "virtlxcd-bench-root-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(root) })
	b.Cleanup(emergencyDir(root))
	for _, dir := range []string{"bin", "proc", "sys", "dev", "tmp", "etc", "run", "root"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), bb, 0o755); err != nil {
		b.Fatal(err)
	}
	for _, app := range []string{"sh", "sleep", "true"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", app)); err != nil {
			b.Fatal(err)
		}
	}
	return root
}
