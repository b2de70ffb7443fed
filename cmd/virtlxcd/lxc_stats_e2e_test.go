package main_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/virtlxcd/virtlxcd/internal/daemontest"
	"github.com/virtlxcd/virtlxcd/pkg/rpc"
	"github.com/virtlxcd/virtlxcd/pkg/xdr"
)

// statsNet is a bridge with a host address and a fake libvirt virtual
// network on top of it (the status and lease files libvirt's network
// driver keeps), for the statistics and address tests.
type statsNet struct {
	bridge, network string
	subnet          string // "10.213.N"
}

func newStatsNet(t *testing.T, d *daemontest.Daemon) statsNet {
	t.Helper()
	n := os.Getpid()%250 + 1
	s := statsNet{
		bridge:  fmt.Sprintf("stbr%d", os.Getpid()%100000),
		network: fmt.Sprintf("statsnet%d", os.Getpid()%100000),
		subnet:  fmt.Sprintf("10.213.%d", n),
	}
	for _, args := range [][]string{
		{"link", "add", s.bridge, "type", "bridge"},
		{"addr", "add", s.subnet + ".1/24", "dev", s.bridge},
		{"link", "set", s.bridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			exec.Command("ip", "link", "del", s.bridge).Run()
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", s.bridge).Run() })
	dir := filepath.Join(d.SockDir, "network")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	status := fmt.Sprintf(`<networkstatus>
  <network>
    <name>%s</name>
    <uuid>3e3fce45-4f53-4fa7-bb32-11f34168b82b</uuid>
    <forward mode='nat'/>
    <bridge name='%s' stp='on' delay='0'/>
    <ip address='%s.1' netmask='255.255.255.0'>
      <dhcp><range start='%s.2' end='%s.254'/></dhcp>
    </ip>
  </network>
</networkstatus>
`, s.network, s.bridge, s.subnet, s.subnet, s.subnet)
	if err := os.WriteFile(filepath.Join(dir, s.network+".xml"), []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// writeLeases writes the bridge's lease file as libvirt's lease helper
// keeps it: a current and an expired lease for mac, one for another MAC.
func (s statsNet) writeLeases(t *testing.T, d *daemontest.Daemon, mac string) {
	t.Helper()
	now := time.Now().Unix()
	leases := fmt.Sprintf(`[
  {"ip-address": "%s.10", "mac-address": "%s", "hostname": "guest", "expiry-time": %d},
  {"ip-address": "%s.99", "mac-address": "%s", "expiry-time": %d},
  {"ip-address": "%s.20", "mac-address": "52:54:00:00:00:99", "expiry-time": %d}
]
`, s.subnet, mac, now+3600, s.subnet, mac, now-60, s.subnet, now+3600)
	if err := os.WriteFile(filepath.Join(d.SockDir, "network", s.bridge+".status"), []byte(leases), 0o644); err != nil {
		t.Fatal(err)
	}
}

// virshFields parses "name value" lines (domifstat, domblkstat,
// dommemstat) into a map; the first column (a device name) is dropped
// when there are three.
func virshFields(t *testing.T, out string) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseInt(f[len(f)-1], 10, 64)
		if err != nil {
			t.Fatalf("cannot parse %q in\n%s", line, out)
		}
		m[f[len(f)-2]] = v
	}
	return m
}

func readCgroupUint(t *testing.T, dir, file string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDomainStatistics(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	for _, applet := range []string{"dd", "rm", "sync"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	sn := newStatsNet(t, d)
	const mac = "52:54:00:5e:a7:01"
	name := "e2e-stats"
	xml := strings.Replace(daemontest.DomainXML(name, root, 48, "/bin/sh"), "<console type='pty'/>", fmt.Sprintf(`
    <interface type='network'>
      <mac address='%s'/>
      <source network='%s'/>
      <ip address='%s.10' prefix='24'/>
    </interface>
    <console type='pty'/>`, mac, sn.network, sn.subnet), 1)
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "stats.xml", xml))

	// Statistics of a domain that is not running.
	for _, args := range [][]string{{"domifstat", name, "vnet0"}, {"dommemstat", name}, {"domblkstat", name}, {"cpu-stats", name}, {"domifaddr", name}} {
		if r := d.Virsh(args...); r.Code == 0 || !strings.Contains(r.Stderr, "domain is not running") {
			t.Errorf("%v on a stopped domain: %v", args, r)
		}
	}

	d.MustVirsh(t, "start", name)
	defer d.Virsh("destroy", name)
	id := domID(t, d, name)
	list := d.MustVirsh(t, "domiflist", name)
	m := regexp.MustCompile(`(vnet\d+)\s+network\s+` + sn.network).FindStringSubmatch(list)
	if m == nil {
		t.Fatalf("domiflist:\n%s", list)
	}
	vnet := m[1]

	t.Run("domifstat", func(t *testing.T) {
		const n, size = 60, 1200
		// Unconnected, so that the guest's ICMP errors do not fail the
		// next send.
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		to := &net.UDPAddr{IP: net.ParseIP(sn.subnet + ".10"), Port: 9}
		// The first datagram resolves the guest's MAC; the kernel keeps
		// only a few packets while it waits.
		c.WriteTo([]byte("hello"), to)
		time.Sleep(300 * time.Millisecond)
		before := virshFields(t, d.MustVirsh(t, "domifstat", name, vnet))
		for _, k := range []string{"rx_bytes", "rx_packets", "rx_errs", "rx_drop", "tx_bytes", "tx_packets", "tx_errs", "tx_drop"} {
			if _, ok := before[k]; !ok {
				t.Fatalf("domifstat lacks %s: %v", k, before)
			}
		}
		// Host to guest: UDP to a closed port. The guest receives all of
		// it and answers with a few rate-limited ICMP errors, so what
		// the guest received must show as rx.
		payload := make([]byte, size)
		for i := 0; i < n; i++ {
			if _, err := c.WriteTo(payload, to); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		after := virshFields(t, d.MustVirsh(t, "domifstat", name, mac))
		rx := after["rx_bytes"] - before["rx_bytes"]
		tx := after["tx_bytes"] - before["tx_bytes"]
		t.Logf("after %d UDP datagrams of %d bytes: guest rx +%d bytes +%d packets, tx +%d bytes", n, size, rx, after["rx_packets"]-before["rx_packets"], tx)
		if rx < n*size || after["rx_packets"]-before["rx_packets"] < n {
			t.Errorf("guest rx grew by %d bytes, %d packets; want at least %d, %d", rx, after["rx_packets"]-before["rx_packets"], n*size, n)
		}
		if tx >= rx/2 {
			t.Errorf("guest tx grew by %d bytes, as much as rx (%d): counters not seen from the guest", tx, rx)
		}
		// The host end counts the other way round.
		hostRx, _ := os.ReadFile(filepath.Join("/sys/class/net", vnet, "statistics", "rx_bytes"))
		if v, _ := strconv.ParseInt(strings.TrimSpace(string(hostRx)), 10, 64); v < after["tx_bytes"] {
			t.Errorf("host end rx_bytes %d < guest tx_bytes %d", v, after["tx_bytes"])
		}
		if r := d.Virsh("domifstat", name, "nosuch0"); r.Code == 0 || !strings.Contains(r.Stderr, "invalid argument: 'nosuch0' is not a known interface") {
			t.Errorf("unknown interface: %v", r)
		}
		// Read-only connections may read statistics.
		if r := d.VirshRO("domifstat", name, vnet); r.Code != 0 {
			t.Errorf("domifstat on ro: %v", r)
		}
	})

	t.Run("domifaddr", func(t *testing.T) {
		// The UDP traffic above resolved the guest in the host's ARP
		// table.
		out := d.MustVirsh(t, "domifaddr", name, "--source", "arp")
		if !regexp.MustCompile(vnet + `\s+` + mac + `\s+ipv4\s+` + regexp.QuoteMeta(sn.subnet+".10") + `/0`).MatchString(out) {
			t.Errorf("domifaddr --source arp:\n%s", out)
		}
		out = d.MustVirsh(t, "domifaddr", name)
		if strings.Contains(out, mac) {
			t.Errorf("leases reported without a lease file:\n%s", out)
		}
		sn.writeLeases(t, d, mac)
		out = d.MustVirsh(t, "domifaddr", name, "--source", "lease")
		if !regexp.MustCompile(vnet+`\s+`+mac+`\s+ipv4\s+`+regexp.QuoteMeta(sn.subnet+".10")+`/24`).MatchString(out) ||
			strings.Contains(out, sn.subnet+".99") || strings.Contains(out, sn.subnet+".20") {
			t.Errorf("domifaddr --source lease:\n%s", out)
		}
		if r := d.Virsh("domifaddr", name, "--source", "agent"); r.Code == 0 || !strings.Contains(r.Stderr, "Unknown IP address data source 1") {
			t.Errorf("agent source: %v", r)
		}
	})

	t.Run("domblkstat", func(t *testing.T) {
		blkio := fmt.Sprintf("/sys/fs/cgroup/blkio/machine/lxc-%d-%s.libvirt-lxc", id, name)
		if _, err := os.Stat(blkio); err != nil {
			t.Skipf("no blkio hierarchy: %v", err)
		}
		before := virshFields(t, d.MustVirsh(t, "domblkstat", name))
		for _, k := range []string{"rd_req", "rd_bytes", "wr_req", "wr_bytes"} {
			if _, ok := before[k]; !ok {
				t.Fatalf("domblkstat lacks %s: %v", k, before)
			}
		}
		// Direct I/O from inside is charged to the container's cgroup;
		// a root in memory does no block I/O at all.
		var fs unix.Statfs_t
		if err := unix.Statfs(root, &fs); err != nil || fs.Type == unix.TMPFS_MAGIC {
			t.Skipf("root filesystem %s is in memory (%v)", root, err)
		}
		l := dialGoLibvirt(t, d.RW)
		consoleRun(t, l, name, "dd if=/dev/zero of=/tmp/blk bs=64k count=64 oflag=direct 2>/dev/null; dd if=/tmp/blk of=/dev/null bs=64k iflag=direct 2>/dev/null; rm /tmp/blk; echo io-$((2*3))-done", "io-6-done")
		after := virshFields(t, d.MustVirsh(t, "domblkstat", name))
		t.Logf("after 4 MiB written and read with O_DIRECT: %v -> %v", before, after)
		if after["wr_bytes"]-before["wr_bytes"] < 4<<20 || after["wr_req"] <= before["wr_req"] {
			t.Errorf("write counters did not grow by 4 MiB: %v -> %v", before, after)
		}
		if after["rd_bytes"]-before["rd_bytes"] < 4<<20 || after["rd_req"] <= before["rd_req"] {
			t.Errorf("read counters did not grow by 4 MiB: %v -> %v", before, after)
		}
		if r := d.Virsh("domblkstat", name, "vda"); r.Code == 0 || !strings.Contains(r.Stderr, "invalid path: vda") {
			t.Errorf("unknown disk: %v", r)
		}
	})

	t.Run("dommemstat", func(t *testing.T) {
		st := virshFields(t, d.MustVirsh(t, "dommemstat", name))
		if st["actual"] != 48*1024 {
			t.Errorf("actual = %d, want %d", st["actual"], 48*1024)
		}
		memDir := cgroupMemDir(id, name)
		usage := readCgroupUint(t, memDir, "memory.usage_in_bytes") >> 10
		memsw := readCgroupUint(t, memDir, "memory.memsw.usage_in_bytes") >> 10
		// Usage moves a little between the two reads.
		if st["rss"] <= 0 || abs(st["rss"]-usage) > 2048 {
			t.Errorf("rss = %d KiB, cgroup usage %d KiB", st["rss"], usage)
		}
		if abs(st["swap_in"]-memsw) > 2048 {
			t.Errorf("swap_in = %d KiB, cgroup memsw usage %d KiB", st["swap_in"], memsw)
		}
	})

	t.Run("cpu-stats", func(t *testing.T) {
		total := func() map[string]float64 {
			out := d.MustVirsh(t, "cpu-stats", name, "--total")
			m := map[string]float64{}
			for _, mm := range regexp.MustCompile(`(\w+_time)\s+([\d.]+) seconds`).FindAllStringSubmatch(out, -1) {
				m[mm[1]], _ = strconv.ParseFloat(mm[2], 64)
			}
			if len(m) != 3 {
				t.Fatalf("cpu-stats --total:\n%s", out)
			}
			return m
		}
		before := total()
		l := dialGoLibvirt(t, d.RW)
		start := time.Now()
		consoleRun(t, l, name, "i=0; while [ $i -lt 800000 ]; do i=$((i+1)); done; echo burnt-$((6*7))", "burnt-42")
		burn := time.Since(start)
		after := total()
		t.Logf("guest loop took %v; cpu-stats total %v -> %v", burn, before, after)
		// The loop takes about 0.7 s of CPU here, whatever else runs.
		if after["cpu_time"]-before["cpu_time"] < 0.3 {
			t.Errorf("cpu_time grew by %.3fs only", after["cpu_time"]-before["cpu_time"])
		}
		if after["user_time"] <= before["user_time"] {
			t.Errorf("user_time did not grow")
		}
		// Per CPU: one entry for each present CPU, summing to the total.
		out := d.MustVirsh(t, "cpu-stats", name)
		per := regexp.MustCompile(`CPU(\d+):\s+cpu_time\s+([\d.]+) seconds`).FindAllStringSubmatch(out, -1)
		b, _ := os.ReadFile("/sys/devices/system/cpu/present")
		if len(per) == 0 || !strings.Contains(out, "Total:") {
			t.Fatalf("cpu-stats:\n%s", out)
		}
		sum := 0.0
		for _, p := range per {
			v, _ := strconv.ParseFloat(p[2], 64)
			sum += v
		}
		tot := regexp.MustCompile(`Total:\s+cpu_time\s+([\d.]+) seconds`).FindStringSubmatch(out)
		totV, _ := strconv.ParseFloat(tot[1], 64)
		if sum < totV*0.95 || sum > totV*1.05+0.01 {
			t.Errorf("per-CPU sum %.3f vs total %.3f (present CPUs %s):\n%s", sum, totV, strings.TrimSpace(string(b)), out)
		}
		one := d.MustVirsh(t, "cpu-stats", name, "--start", "1", "--count", "1")
		if strings.Contains(one, "CPU0:") || (len(per) > 1 && !strings.Contains(one, "CPU1:")) {
			t.Errorf("cpu-stats --start 1 --count 1:\n%s", one)
		}
		// virsh checks the range itself; the driver's own check answers
		// other clients.
		dom, err := l.DomainLookupByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.DomainGetCPUStats(dom, 1, 4096, 1, 0); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("start_cpu 4096 larger than maximum of %d", len(per)-1)) {
			t.Errorf("cpu stats beyond the last CPU: %v", err)
		}
		// The two-step protocol: how many CPUs, how many statistics each.
		if _, n, err := l.DomainGetCPUStats(dom, 0, 0, 0, 0); err != nil || int(n) != len(per) {
			t.Errorf("number of CPUs = %d, %v; virsh listed %d", n, err, len(per))
		}
		if _, n, err := l.DomainGetCPUStats(dom, 0, 0, 1, 0); err != nil || n != 1 {
			t.Errorf("statistics per CPU = %d, %v", n, err)
		}
		if _, n, err := l.DomainGetCPUStats(dom, 0, -1, 1, 0); err != nil || n != 3 {
			t.Errorf("total statistics = %d, %v", n, err)
		}
	})

	// libvirt's LXC driver has no bulk statistics, job info, control info
	// or guest time.
	for _, args := range [][]string{{"domstats", name}, {"domjobinfo", name}, {"domcontrol", name}, {"domtime", name}} {
		if r := d.Virsh(args...); r.Code == 0 || !strings.Contains(r.Stderr, "this function is not supported by the connection driver") {
			t.Errorf("%v: %v", args, r)
		}
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func TestNodeMemoryTuneAndPages(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	const ksm = "/sys/kernel/mm/ksm"
	if _, err := os.Stat(ksm); err != nil {
		t.Skipf("no KSM: %v", err)
	}
	out := d.MustVirsh(t, "node-memory-tune")
	for _, f := range []string{"pages_to_scan", "sleep_millisecs", "pages_shared", "pages_sharing", "pages_unshared", "pages_volatile", "full_scans", "merge_across_nodes"} {
		want, err := os.ReadFile(filepath.Join(ksm, f))
		if err != nil {
			continue
		}
		// Counters can move between the two reads; the knobs cannot.
		re := regexp.MustCompile(`shm_` + f + `\s+(\d+)`)
		mm := re.FindStringSubmatch(out)
		if mm == nil {
			t.Errorf("node-memory-tune lacks shm_%s:\n%s", f, out)
			continue
		}
		if f == "pages_to_scan" || f == "sleep_millisecs" || f == "merge_across_nodes" {
			if mm[1] != strings.TrimSpace(string(want)) {
				t.Errorf("shm_%s = %s, kernel has %s", f, mm[1], want)
			}
		}
	}

	orig := strings.TrimSpace(string(must(os.ReadFile(filepath.Join(ksm, "pages_to_scan")))))
	n, _ := strconv.Atoi(orig)
	t.Cleanup(func() { os.WriteFile(filepath.Join(ksm, "pages_to_scan"), []byte(orig), 0) })
	d.MustVirsh(t, "node-memory-tune", "--shm-pages-to-scan", strconv.Itoa(n+7))
	if got := strings.TrimSpace(string(must(os.ReadFile(filepath.Join(ksm, "pages_to_scan"))))); got != strconv.Itoa(n+7) {
		t.Errorf("pages_to_scan = %s after setting %d", got, n+7)
	}
	if r := d.VirshRO("node-memory-tune", "--shm-pages-to-scan", orig); r.Code == 0 || !strings.Contains(r.Stderr, "read only access prevents virNodeSetMemoryParameters") {
		t.Errorf("set on ro: %v", r)
	}
	d.MustVirsh(t, "node-memory-tune", "--shm-pages-to-scan", orig)

	// Free pages: base pages from the node's free memory, huge pages from
	// the pool.
	out = d.MustVirsh(t, "freepages", "--cellno", "0", "--pagesize", "4")
	mm := regexp.MustCompile(`4KiB: (\d+)`).FindStringSubmatch(out)
	if mm == nil {
		t.Fatalf("freepages 4KiB: %q", out)
	}
	free4, _ := strconv.ParseInt(mm[1], 10, 64)
	nodeFree := nodeMemFreeKiB(t, 0) / 4
	if abs(free4-nodeFree) > nodeFree/10+1024 {
		t.Errorf("freepages 4KiB = %d, node0 has %d free 4 KiB pages", free4, nodeFree)
	}
	huge := "/sys/devices/system/node/node0/hugepages/hugepages-2048kB"
	if _, err := os.Stat(huge); err != nil {
		t.Skipf("no 2 MiB huge pages: %v", err)
	}
	out = d.MustVirsh(t, "freepages", "--cellno", "0", "--pagesize", "2M")
	if want := strings.TrimSpace(string(must(os.ReadFile(filepath.Join(huge, "free_hugepages"))))); !strings.Contains(out, "2048KiB: "+want) {
		t.Errorf("freepages 2M: %q, kernel %s", out, want)
	}
	// --all takes the page sizes and cells from the capabilities.
	all := d.MustVirsh(t, "freepages", "--all")
	if want := strings.TrimSpace(string(must(os.ReadFile(filepath.Join(huge, "free_hugepages"))))); !strings.Contains(all, "Node 0:\n4KiB: ") || !strings.Contains(all, "\n2048KiB: "+want+"\n") {
		t.Errorf("freepages --all:\n%s", all)
	}
	if r := d.Virsh("freepages", "--cellno", "64", "--pagesize", "4"); r.Code == 0 || !strings.Contains(r.Stderr, "start cell 64 out of range") {
		t.Errorf("freepages on a missing cell: %v", r)
	}
	if r := d.Virsh("freepages", "--cellno", "0", "--pagesize", "8"); r.Code == 0 || !strings.Contains(r.Stderr, "page size 8 is not available on node 0") {
		t.Errorf("freepages of an unknown size: %v", r)
	}

	// Allocating: grow the 2 MiB pool of node 0 by one page, then put it
	// back.
	nr := filepath.Join(huge, "nr_hugepages")
	origNr := strings.TrimSpace(string(must(os.ReadFile(nr))))
	t.Cleanup(func() { os.WriteFile(nr, []byte(origNr), 0) })
	k, _ := strconv.Atoi(origNr)
	r := d.Virsh("allocpages", "--pagesize", "2M", "--pagecount", "1", "--cellno", "0", "--add")
	switch {
	case r.Code == 0:
		if got := strings.TrimSpace(string(must(os.ReadFile(nr)))); got != strconv.Itoa(k+1) {
			t.Errorf("nr_hugepages = %s after adding one to %d", got, k)
		}
	case strings.Contains(r.Stderr, "Unable to allocate"):
		t.Logf("the kernel found no free 2 MiB page: %v", r)
	default:
		t.Errorf("allocpages --add: %v", r)
	}
	d.MustVirsh(t, "allocpages", "--pagesize", "2M", "--pagecount", origNr, "--cellno", "0")
	if got := strings.TrimSpace(string(must(os.ReadFile(nr)))); got != origNr {
		t.Errorf("nr_hugepages = %s after setting it back to %s", got, origNr)
	}
	if r := d.Virsh("allocpages", "--pagesize", "4", "--pagecount", "1", "--cellno", "0"); r.Code == 0 || !strings.Contains(r.Stderr, "system pages pool can't be modified") {
		t.Errorf("allocpages of base pages: %v", r)
	}
	if r := d.VirshRO("allocpages", "--pagesize", "2M", "--pagecount", origNr, "--cellno", "0"); r.Code == 0 || !strings.Contains(r.Stderr, "read only access prevents virNodeAllocPages") {
		t.Errorf("allocpages on ro: %v", r)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func nodeMemFreeKiB(t *testing.T, node int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/sys/devices/system/node/node%d/meminfo", node))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[2] == "MemFree:" {
			v, _ := strconv.ParseInt(f[3], 10, 64)
			return v
		}
	}
	t.Fatalf("no MemFree in node meminfo")
	return 0
}

// legacyClient is an old libvirt client: it registers for events with
// the pre-callback procedures and receives the old event messages.
type legacyClient struct {
	*rawConn
	serial uint32
}

func dialLegacy(t *testing.T, sock string) *legacyClient {
	t.Helper()
	lc := &legacyClient{rawConn: rawDial(t, sock)}
	e := xdr.NewEncoder(nil)
	e.OptString(nil)
	e.Uint32(0)
	if _, err := lc.do(1, e.Bytes()); err != nil {
		t.Fatalf("CONNECT_OPEN: %v", err)
	}
	return lc
}

// do makes a call and returns the reply payload; event messages that
// arrive meanwhile are an error (none is expected while calling).
func (lc *legacyClient) do(proc int32, args []byte) ([]byte, error) {
	lc.serial++
	lc.call(remoteProg, 1, proc, lc.serial, args)
	for {
		h, payload, err := lc.read()
		if err != nil {
			return nil, err
		}
		if h.Type == rpc.TypeMessage {
			continue
		}
		if h.Status == rpc.StatusError {
			e := rpc.DecodeError(xdr.NewDecoder(payload))
			return nil, fmt.Errorf("%s", e.Message)
		}
		return payload, nil
	}
}

func eventIDArg(id int32) []byte {
	e := xdr.NewEncoder(nil)
	e.Int32(id)
	return e.Bytes()
}

type legacyEvent struct {
	proc          int32
	dom           string
	event, detail int32
}

// next waits for the next event message.
func (lc *legacyClient) next(timeout time.Duration) (legacyEvent, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		h, payload, err := lc.read()
		if err != nil {
			return legacyEvent{}, err
		}
		if h.Type != rpc.TypeMessage {
			continue
		}
		dec := xdr.NewDecoder(payload)
		ev := legacyEvent{proc: h.Proc, dom: dec.String()}
		var uuid [16]byte
		dec.FixedOpaque(uuid[:])
		dec.Int32()
		if h.Proc == 107 {
			ev.event, ev.detail = dec.Int32(), dec.Int32()
		}
		if dec.Err() != nil || dec.Remaining() != 0 {
			return ev, fmt.Errorf("event %d: bad payload (%v, %d bytes left)", h.Proc, dec.Err(), dec.Remaining())
		}
		return ev, nil
	}
	return legacyEvent{}, fmt.Errorf("no event within %v", timeout)
}

func TestLegacyDomainEvents(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	name := "e2e-legacy"
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "l.xml", daemontest.DomainXML(name, root, 32, "/bin/sh")))

	any := dialLegacy(t, d.RW)
	if _, err := any.do(167, eventIDArg(0)); err != nil {
		t.Fatalf("REGISTER_ANY lifecycle: %v", err)
	}
	if _, err := any.do(167, eventIDArg(1)); err != nil {
		t.Fatalf("REGISTER_ANY reboot: %v", err)
	}
	if _, err := any.do(167, eventIDArg(0)); err == nil || err.Error() != "invalid argument: event callback already tracked" {
		t.Errorf("second REGISTER_ANY lifecycle: %v", err)
	}
	if _, err := any.do(167, eventIDArg(16)); err == nil || !strings.Contains(err.Error(), "unsupported event ID 16") {
		t.Errorf("REGISTER_ANY of a callback-only event: %v", err)
	}
	old := dialLegacy(t, d.RO)
	if _, err := old.do(105, nil); err != nil {
		t.Fatalf("REGISTER on ro: %v", err)
	}
	if _, err := old.do(105, nil); err == nil || !strings.Contains(err.Error(), "event callback already tracked") {
		t.Errorf("second REGISTER: %v", err)
	}

	d.MustVirsh(t, "start", name)
	// Containers outlive the daemon: a failing test must not leave one.
	defer d.Virsh("destroy", name)
	for _, c := range []*legacyClient{any, old} {
		ev, err := c.next(10 * time.Second)
		if err != nil || ev.proc != 107 || ev.dom != name || ev.event != 2 || ev.detail != 0 {
			t.Errorf("start: event %+v, %v; want DOMAIN_EVENT_LIFECYCLE started booted", ev, err)
		}
	}
	// A reboot from inside: reboot(2) in the container's PID namespace
	// ends its init with SIGHUP and the domain restarts.
	d.Virsh("lxc-enter-namespace", name, "--noseclabel", "/bin/reboot", "-f")
	for {
		// The restart may be reported (stopped, started) around it.
		ev, err := any.next(10 * time.Second)
		if err != nil {
			t.Fatalf("reboot: %v; want DOMAIN_EVENT_REBOOT", err)
		}
		if ev.proc == 169 {
			if ev.dom != name {
				t.Errorf("reboot event for %q", ev.dom)
			}
			break
		}
	}
	waitState(t, d, name, "running")

	// Deregistered: no more lifecycle events on that connection.
	if _, err := old.do(106, nil); err != nil {
		t.Errorf("DEREGISTER: %v", err)
	}
	if _, err := old.do(106, nil); err == nil || !strings.Contains(err.Error(), "domain event 0 not registered") {
		t.Errorf("second DEREGISTER: %v", err)
	}
	if _, err := any.do(168, eventIDArg(1)); err != nil {
		t.Errorf("DEREGISTER_ANY reboot: %v", err)
	}
	if _, err := any.do(168, eventIDArg(1)); err == nil || !strings.Contains(err.Error(), "domain event 1 not registered") {
		t.Errorf("second DEREGISTER_ANY reboot: %v", err)
	}

	d.MustVirsh(t, "destroy", name)
	// A reboot restarts the container (stopped, started) before the
	// destroy; skip to the destroy.
	for {
		ev, err := any.next(10 * time.Second)
		if err != nil {
			t.Fatalf("waiting for the destroy: %v", err)
		}
		if ev.proc == 169 {
			t.Errorf("reboot event after DEREGISTER_ANY")
		}
		if ev.proc == 107 && ev.event == 5 {
			if ev.detail != 1 {
				t.Errorf("destroy: detail %d, want 1 (destroyed)", ev.detail)
			}
			break
		}
	}
	if h, _, err := old.read(); err == nil {
		t.Errorf("deregistered connection got message %d", h.Proc)
	}
	d.MustVirsh(t, "undefine", name)
}
