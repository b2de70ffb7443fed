package bench

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// goal is a row's target, judged on both daemons' values.
type goal struct {
	text string
	met  func(lv, ours float64) bool
}

// ratioAtLeast wants ours/libvirtd >= x (throughput rows).
func ratioAtLeast(x float64) goal {
	return goal{fmt.Sprintf("ratio >= %g", x), func(lv, ours float64) bool { return lv > 0 && ours/lv >= x }}
}

// ratioAtMost wants ours/libvirtd <= x (latency rows).
func ratioAtMost(x float64) goal {
	return goal{fmt.Sprintf("ratio <= %g", x), func(lv, ours float64) bool { return lv > 0 && ours > 0 && ours/lv <= x }}
}

// oursAtMost wants our value <= x in the row's unit (latency, size rows).
func oursAtMost(x float64) goal {
	return goal{fmt.Sprintf("ours <= %g", x), func(_, ours float64) bool { return ours > 0 && ours <= x }}
}

// both combines two goals that must hold together.
func both(a, b goal) goal {
	return goal{a.text + ", " + b.text, func(lv, ours float64) bool { return a.met(lv, ours) && b.met(lv, ours) }}
}

// sameAsLibvirtd wants the same value on both (behaviour rows).
var sameAsLibvirtd = goal{"same as libvirtd", func(lv, ours float64) bool { return lv == ours }}

var info = goal{}

// row is one workload in the side-by-side table.
type row struct {
	label, unit string
	goal        goal
	values      map[string]float64 // by daemon name
}

// report collects one benchmark's rows in the order they were declared.
type report struct {
	title string
	mu    sync.Mutex
	rows  []*row
	byKey map[string]*row
}

func newReport(title string) *report {
	return &report{title: title, byKey: map[string]*row{}}
}

func (r *report) declare(key, label, unit string, g goal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byKey[key]; ok {
		return
	}
	rw := &row{label: label, unit: unit, goal: g, values: map[string]float64{}}
	r.rows = append(r.rows, rw)
	r.byKey[key] = rw
}

// set records a value; a later call (Go reruns a benchmark with a larger
// b.N) replaces an earlier one.
func (r *report) set(key, who string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rw, ok := r.byKey[key]
	if !ok {
		panic("report: undeclared row " + key)
	}
	rw.values[who] = v
}

// best records v unless the row already holds a better value for who:
// the larger one when higher is better, else the smaller. Scheduling noise
// from other work on the machine only ever slows a run down, so the best
// of several rounds is the steadiest figure.
func (r *report) best(key, who string, v float64, higher bool) {
	r.mu.Lock()
	old, ok := r.byKey[key].values[who]
	r.mu.Unlock()
	if ok && (higher && old >= v || !higher && old <= v) {
		return
	}
	r.set(key, who, v)
}

// print writes the table as Markdown, so that it can go straight into
// bench/README.md.
func (r *report) print(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(w, "\n### %s\n\n", r.title)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(w, "load average at the end: %s\n\n", strings.Join(strings.Fields(string(load))[:3], " "))
	}
	fmt.Fprintln(w, "| workload | unit | libvirtd | virtlxcd | ours/libvirtd | target | met |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---|---|")
	for _, rw := range r.rows {
		lv, lok := rw.values["libvirtd"]
		ours, ook := rw.values["virtlxcd"]
		ratio, met := "", ""
		if lok && ook && lv > 0 {
			ratio = fmt.Sprintf("%.2f", ours/lv)
		}
		if rw.goal.met != nil {
			met = "no"
			if lok && ook && rw.goal.met(lv, ours) {
				met = "yes"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n",
			rw.label, rw.unit, num(lv, lok), num(ours, ook), ratio, rw.goal.text, met)
	}
	fmt.Fprintln(w)
}

func num(v float64, ok bool) string {
	switch {
	case !ok:
		return "-"
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// rounds is how often each throughput workload runs per daemon, the
// daemons taking turns; the table keeps each daemon's best round.
const rounds = 2

// cost is what one operation took besides wall time: CPU of the daemon
// and of this process (the go-libvirt client), untimed parts included.
type cost struct{ daemon, client time.Duration }

// throughput runs a sub-benchmark and returns the operations per second
// of its final run (the one with the largest b.N) and the CPU per
// operation in that run; ran is false when -bench filtered it out.
func throughput(b *testing.B, name string, d *daemon, f func(b *testing.B)) (perSec float64, c cost, ran bool) {
	b.Run(name, func(b *testing.B) {
		d0, c0 := d.cpu(), selfCPU()
		f(b)
		perSec = perSecond(b)
		n := time.Duration(b.N)
		c = cost{(d.cpu() - d0) / n, (selfCPU() - c0) / n}
		ran = true
	})
	return perSec, c, ran
}

// declareCost adds the two CPU rows that follow a throughput row.
func (r *report) declareCost(key string) {
	r.declare(key+"-cpu", "  daemon CPU per call", "µs", info)
	r.declare(key+"-client", "  client CPU per call", "µs", info)
}

func (r *report) bestCost(key, who string, c cost) {
	r.best(key+"-cpu", who, us(c.daemon), false)
	r.best(key+"-client", who, us(c.client), false)
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// perSecond is b's throughput so far: operations per second of timed work.
func perSecond(b *testing.B) float64 {
	if e := b.Elapsed(); e > 0 {
		return float64(b.N) / e.Seconds()
	}
	return 0
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianInt(xs []int) int {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
