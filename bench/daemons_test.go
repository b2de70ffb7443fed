package bench

import (
	"golang.org/x/sys/unix"

	"bytes"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/virtlxcd/virtlxcd/internal/daemontest"
	"github.com/virtlxcd/virtlxcd/internal/libvirtdtest"
)

// Debian's libvirt 9.0 (libvirt-daemon + libvirt-daemon-driver-lxc).
const (
	libvirtLXC = libvirtdtest.LXCController
	lxcURI     = libvirt.ConnectURI("lxc:///system")
)

// runTag prefixes every domain name of this run, so that cgroups and
// processes left by a crashed run are recognisable and concurrent runs
// never share a name.
var runTag = fmt.Sprintf("vbench%d", os.Getpid())

// daemon is one side of the comparison, reached through its read-write
// socket.
type daemon struct {
	name string // "libvirtd" or "virtlxcd"
	sock string
	pid  int
	logs func() string
}

// rssMB is the daemon's resident size in MB (10^6 bytes, as the targets
// are stated).
func (d *daemon) rssMB() float64 { return float64(rssKiB(d.pid)) * 1024 / 1e6 }

// cpu is the CPU time the daemon has used so far, user and system, all
// threads (/proc/PID/stat counts in clock ticks of 10 ms).
func (d *daemon) cpu() time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; fields count from after it.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// startPair starts libvirtd and virtlxcd, in that order, each on a private
// tree; both are stopped, with every domain they run, when b ends.
func startPair(b *testing.B) []*daemon {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	guardSignals()
	sweepAtEnd(b)
	lv := startLibvirtd(b)
	ours := startVirtlxcd(b)
	return []*daemon{lv, ours}
}

func startLibvirtd(b *testing.B) *daemon {
	b.Helper()
	lv := libvirtdtest.Start(b, "virtlxcd-bench-libvirtd-")
	b.Cleanup(emergencyDir(lv.Dir))
	d := &daemon{name: "libvirtd", sock: lv.RW, pid: lv.PID, logs: lv.Logs}
	b.Cleanup(emergencyPID(d.pid))
	settle(b, d)
	return d
}

// builtBinary is the virtlxcd that daemontest built for this process; it
// is removed when the benchmarks end (see TestMain).
var builtBinary string

func startVirtlxcd(b *testing.B) *daemon {
	b.Helper()
	if builtBinary == "" {
		builtBinary = daemontest.Binary(b)
		emergencyDir(filepath.Dir(builtBinary))
	}
	// /run is a tmpfs on real hosts, and libvirtd gets one in its private
	// namespace here; ours gets the same, so status writes cost the same.
	prefix, err := os.MkdirTemp("", "vbench-virtlxcd-")
	if err != nil {
		b.Fatal(err)
	}
	run := filepath.Join(prefix, "run")
	if err := os.MkdirAll(run, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := unix.Mount("tmpfs", run, "tmpfs", 0, "mode=755"); err != nil {
		b.Fatalf("tmpfs on %s: %v", run, err)
	}
	b.Cleanup(func() {
		unix.Unmount(run, unix.MNT_DETACH)
		os.RemoveAll(prefix)
	})
	v := daemontest.Start(b, daemontest.Options{Prefix: prefix})
	d := &daemon{name: "virtlxcd", sock: v.RW, pid: v.Cmd.Process.Pid, logs: v.Output}
	b.Cleanup(emergencyPID(d.pid))
	b.Cleanup(emergencyDir(v.Prefix))
	settle(b, d)
	return d
}

// TestMain removes the binary daemontest built, which outlives the
// benchmarks otherwise. Under plain `go test` nothing was built.
func TestMain(m *testing.M) {
	code := m.Run()
	if builtBinary != "" {
		os.RemoveAll(filepath.Dir(builtBinary))
	}
	os.Exit(code)
}

// settle waits until the daemon answers a full connection (drivers
// initialised) and lets it go idle, so that the first RSS reading is the
// idle size.
func settle(b *testing.B, d *daemon) {
	b.Helper()
	l := connect(b, d)
	if _, err := l.ConnectGetVersion(); err != nil {
		b.Fatalf("%s: get version: %v", d.name, err)
	}
	l.Disconnect()
	time.Sleep(300 * time.Millisecond)
	// Whatever a benchmark leaves running is destroyed before the daemon
	// stops; cleanups run last-in first-out.
	b.Cleanup(func() { destroyAll(b, d) })
}

// connect opens lxc:///system on the daemon's socket.
func connect(b testing.TB, d *daemon) *libvirt.Libvirt {
	b.Helper()
	l, err := dial(d)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func dial(d *daemon) (*libvirt.Libvirt, error) {
	l := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(d.sock), dialers.WithLocalTimeout(5*time.Second)))
	if err := l.ConnectToURI(lxcURI); err != nil {
		return nil, fmt.Errorf("%s: connect %s: %w", d.name, d.sock, err)
	}
	return l, nil
}

// destroyAll destroys the daemon's running domains through its API, so
// that each daemon tears its containers down by its own rules.
func destroyAll(b testing.TB, d *daemon) {
	l, err := dial(d)
	if err != nil {
		b.Errorf("cleanup: %v", err)
		return
	}
	defer l.Disconnect()
	doms, _, err := l.ConnectListAllDomains(1, libvirt.ConnectListDomainsActive)
	if err != nil {
		b.Errorf("cleanup: %s: list: %v", d.name, err)
		return
	}
	for _, dom := range doms {
		if err := l.DomainDestroy(dom); err != nil {
			b.Errorf("cleanup: %s: destroy %s: %v", d.name, dom.Name, err)
		}
	}
}

// rssKiB is VmRSS of a process, 0 when it is gone.
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

// Both daemons put a domain's processes in /machine/lxc-<pid>-<name>.libvirt-lxc
// of every hierarchy. The sweep is the safety net behind destroyAll: it
// kills whatever of this run is still there and removes the cgroups,
// plus /machine itself when this run created it.
const cgroupRoot = "/sys/fs/cgroup"

func machineDirs() []string {
	dirs, _ := filepath.Glob(filepath.Join(cgroupRoot, "*", "machine"))
	if fi, err := os.Stat(filepath.Join(cgroupRoot, "machine")); err == nil && fi.IsDir() {
		dirs = append(dirs, filepath.Join(cgroupRoot, "machine"))
	}
	return dirs
}

func sweepAtEnd(b *testing.B) {
	existed := map[string]bool{}
	for _, d := range machineDirs() {
		existed[d] = true
	}
	b.Cleanup(func() {
		if n := sweepCgroups(); n > 0 {
			b.Errorf("cleanup: killed %d processes the daemons left behind", n)
		}
		for _, d := range machineDirs() {
			if !existed[d] {
				os.Remove(d) // fails, harmlessly, while anything else uses it
			}
		}
	})
}

// sweepCgroups kills the processes in this run's domain cgroups, removes
// the cgroups and returns how many processes it had to kill.
func sweepCgroups() int {
	killed := 0
	var leftovers []string
	for _, m := range machineDirs() {
		found, _ := filepath.Glob(filepath.Join(m, "*-"+runTag+"-*"))
		leftovers = append(leftovers, found...)
	}
	for _, cg := range leftovers {
		data, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed++
			}
		}
	}
	for _, cg := range leftovers {
		for try := 0; try < 50; try++ {
			if err := removeTree(cg); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return killed
}

// removeTree removes a cgroup and its children, deepest first (cgroup
// directories only go away with rmdir).
func removeTree(dir string) error {
	var dirs []string
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	var last error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !os.IsNotExist(err) {
			last = err
		}
	}
	return last
}

// On SIGINT/SIGTERM the test binary would die without running cleanups;
// this undoes what the run started before it exits.
var emergency struct {
	sync.Mutex
	once sync.Once
	pids map[int]bool
	dirs map[string]bool
}

func guardSignals() {
	emergency.once.Do(func() {
		emergency.pids = map[int]bool{}
		emergency.dirs = map[string]bool{}
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			sig := <-ch
			emergency.Lock()
			sweepCgroups()
			for pid := range emergency.pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			time.Sleep(200 * time.Millisecond)
			for dir := range emergency.dirs {
				// Trees may hold a tmpfs (our daemon's /run): detach it first.
				unix.Unmount(filepath.Join(dir, "run"), unix.MNT_DETACH)
				os.RemoveAll(dir)
			}
			fmt.Fprintf(os.Stderr, "bench: %v: stopped the daemons and removed their trees\n", sig)
			os.Exit(2)
		}()
	})
}

func emergencyPID(pid int) func() {
	emergency.Lock()
	defer emergency.Unlock()
	emergency.pids[pid] = true
	return func() {
		emergency.Lock()
		defer emergency.Unlock()
		delete(emergency.pids, pid)
	}
}

func emergencyDir(dir string) func() {
	emergency.Lock()
	defer emergency.Unlock()
	emergency.dirs[dir] = true
	return func() {
		emergency.Lock()
		defer emergency.Unlock()
		delete(emergency.dirs, dir)
	}
}
