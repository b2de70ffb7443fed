package hostinfo

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// Stat is one named node statistic (virNodeCPUStats/virNodeMemoryStats).
type Stat struct {
	Field string
	Value uint64
}

// clockTicks is USER_HZ, the unit of /proc/stat; it is 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// CPUStatsCount is how many CPU statistics Linux reports.
const CPUStatsCount = 4

// CPUStats reports kernel, user, idle and iowait time in nanoseconds for
// one CPU, or for all of them when cpu is -1, from /proc/stat the way
// libvirt sums them.
func CPUStats(cpu int) ([]Stat, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return nil, virterror.New(virterror.SystemError, virterror.FromNone, "cannot open /proc/stat: %v", err)
	}
	defer f.Close()
	want := "cpu"
	if cpu >= 0 {
		want = "cpu" + strconv.Itoa(cpu)
	}
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 6 || fields[0] != want {
			continue
		}
		var v [10]uint64
		for i := 1; i < len(fields) && i <= len(v); i++ {
			v[i-1], _ = strconv.ParseUint(fields[i], 10, 64)
		}
		const ns = 1e9 / clockTicks
		usr, nice, sys, idle, iowait, irq, softirq := v[0], v[1], v[2], v[3], v[4], v[5], v[6]
		return []Stat{
			{"kernel", (sys + irq + softirq) * ns},
			{"user", (usr + nice) * ns},
			{"idle", idle * ns},
			{"iowait", iowait * ns},
		}, nil
	}
	return nil, virterror.New(virterror.InvalidArg, virterror.FromNone, "Invalid cpuNum in virHostCPUGetStatsLinux")
}

// MemoryStatsCount is how many memory statistics Linux reports for the
// whole host (-1) or for one NUMA cell.
func MemoryStatsCount(cell int) int {
	if cell == -1 {
		return 4
	}
	return 2
}

// MemoryStats reports total, free, buffers and cached memory in KiB for
// the host (cell -1), or total and free for one NUMA cell.
func MemoryStats(cell int) ([]Stat, error) {
	path := "/proc/meminfo"
	if cell != -1 {
		if cell < 0 || int32(cell) >= numaNodes() {
			return nil, virterror.New(virterror.InvalidArg, virterror.FromNone, "cellNum in virHostMemGetStats must be less than or equal to %d", numaNodes()-1)
		}
		path = fmt.Sprintf("/sys/devices/system/node/node%d/meminfo", cell)
		if _, err := os.Stat(path); err != nil {
			path = "/proc/meminfo"
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, virterror.New(virterror.SystemError, virterror.FromNone, "cannot open %s: %v", path, err)
	}
	defer f.Close()
	names := map[string]string{"MemTotal:": "total", "MemFree:": "free", "Buffers:": "buffers", "Cached:": "cached"}
	var out []Stat
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 4 && fields[0] == "Node" {
			fields = fields[2:] // "Node N MemTotal: 123 kB"
		}
		if len(fields) < 2 {
			continue
		}
		name, ok := names[fields[0]]
		if !ok || (cell != -1 && name != "total" && name != "free") {
			continue
		}
		v, _ := strconv.ParseUint(fields[1], 10, 64)
		out = append(out, Stat{name, v})
	}
	return out, nil
}

// CellsFreeMemory returns the free memory in bytes of up to max NUMA cells
// from start.
func CellsFreeMemory(start, max int) ([]uint64, error) {
	n := int(numaNodes())
	if start < 0 || start >= n {
		return nil, virterror.New(virterror.InvalidArg, virterror.FromNone, "start cell %d out of range (0-%d)", start, n-1)
	}
	var out []uint64
	for cell := start; cell < n && len(out) < max; cell++ {
		st, err := MemoryStats(cell)
		if err != nil {
			return nil, err
		}
		for _, s := range st {
			if s.Field == "free" {
				out = append(out, s.Value*1024)
			}
		}
	}
	return out, nil
}

// CPUMap returns a bitmap of the present CPUs with the online ones set,
// the number online and the number present (virNodeGetCPUMap).
func CPUMap() (bitmap []byte, online, present int) {
	read := func(p string) []int {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		return parseCPUList(string(b))
	}
	on := read("/sys/devices/system/cpu/online")
	pres := read("/sys/devices/system/cpu/present")
	if len(pres) == 0 {
		pres = on
	}
	present = 0
	for _, c := range pres {
		present = max(present, c+1)
	}
	bitmap = make([]byte, (present+7)/8)
	for _, c := range on {
		if c < present {
			bitmap[c/8] |= 1 << (c % 8)
			online++
		}
	}
	return bitmap, online, present
}
