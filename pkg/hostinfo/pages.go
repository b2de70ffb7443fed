package hostinfo

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// Where the kernel keeps the huge page pools: per NUMA node and for the
// whole system. Variables so that tests can point them at copies.
var (
	nodeSysDir      = "/sys/devices/system/node"
	systemHugeDir   = "/sys/kernel/mm/hugepages"
	presentCPUsFile = "/sys/devices/system/cpu/present"
)

// PresentCPUs lists the present CPUs and returns one more than the highest
// (the size of libvirt's present-CPU bitmap).
func PresentCPUs() (present map[int]bool, size int, err error) {
	b, err := os.ReadFile(presentCPUsFile)
	if err != nil {
		return nil, 0, virterror.New(virterror.SystemError, virterror.FromNone, "unable to read %s: %v", presentCPUsFile, unwrapPath(err))
	}
	present = map[int]bool{}
	for _, c := range parseCPUList(string(b)) {
		present[c] = true
		size = max(size, c+1)
	}
	return present, size, nil
}

// highestCell returns the highest NUMA node id, and false when the kernel
// exposes no nodes: then libvirt treats the host as one fake cell 0 and
// reads the system-wide pools.
func highestCell() (int, bool) {
	m, _ := filepath.Glob(filepath.Join(nodeSysDir, "node[0-9]*"))
	last := -1
	for _, p := range m {
		if n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(p), "node")); err == nil {
			last = max(last, n)
		}
	}
	if last < 0 {
		return 0, false
	}
	return last, true
}

// cellRange applies libvirt's rules for the cells a pages call covers: it
// returns the first and last cell (-1 = the whole system).
func cellRange(startCell int, cellCount uint32) (int, int, error) {
	lastCell, numa := highestCell()
	if !numa && lastCell == 0 && startCell == 0 && cellCount == 1 {
		startCell = -1
	}
	if startCell > lastCell {
		return 0, 0, virterror.New(virterror.InternalError, virterror.FromNone, "start cell %d out of range (0-%d)", startCell, lastCell)
	}
	return startCell, min(lastCell, startCell+int(cellCount)-1), nil
}

// hugePath is the file of a huge page pool; it fails as libvirt does when
// the pool does not exist.
func hugePath(cell int, sizeKiB uint32, file string) (string, error) {
	var path string
	if cell == -1 {
		path = filepath.Join(systemHugeDir, fmt.Sprintf("hugepages-%dkB", sizeKiB), file)
	} else {
		path = filepath.Join(nodeSysDir, fmt.Sprintf("node%d", cell), "hugepages", fmt.Sprintf("hugepages-%dkB", sizeKiB), file)
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	switch {
	case cell == -1:
		return "", virterror.New(virterror.OperationFailed, virterror.FromNone, "page size %d is not available", sizeKiB)
	case !cellExists(cell):
		return "", virterror.New(virterror.OperationFailed, virterror.FromNone, "NUMA node %d is not available", cell)
	}
	return "", virterror.New(virterror.OperationFailed, virterror.FromNone, "page size %d is not available on node %d", sizeKiB, cell)
}

func cellExists(cell int) bool {
	_, err := os.Stat(filepath.Join(nodeSysDir, fmt.Sprintf("node%d", cell)))
	return err == nil
}

func readCount(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, virterror.New(virterror.SystemError, virterror.FromNone, "Failed to open file '%s': %v", path, unwrapPath(err))
	}
	s := string(b)
	if !strings.HasSuffix(s, "\n") {
		return 0, virterror.New(virterror.InternalError, virterror.FromNone, "unable to parse: %s", s)
	}
	v, err := strconv.ParseUint(strings.TrimSuffix(s, "\n"), 10, 64)
	if err != nil {
		return 0, virterror.New(virterror.InternalError, virterror.FromNone, "unable to parse: %s", s)
	}
	return v, nil
}

// systemPageKiB is the base page size in KiB.
func systemPageKiB() uint32 { return uint32(os.Getpagesize() / 1024) }

// freeBasePages is the number of free base pages of a cell (-1 = host).
func freeBasePages(cell int) (uint64, error) {
	var free uint64
	if cell == -1 {
		free = FreeMemory()
	} else {
		st, err := MemoryStats(cell)
		if err != nil {
			return 0, err
		}
		for _, s := range st {
			if s.Field == "free" {
				free = s.Value * 1024
			}
		}
	}
	return free / uint64(os.Getpagesize()), nil
}

// FreePages returns, for each cell from startCell (at most cellCount of
// them) and each page size in KiB, the number of free pages of that size
// (virNodeGetFreePages), cell by cell.
func FreePages(sizes []uint32, startCell int, cellCount uint32) ([]uint64, error) {
	first, last, err := cellRange(startCell, cellCount)
	if err != nil {
		return nil, err
	}
	var counts []uint64
	for cell := first; cell <= last; cell++ {
		for _, size := range sizes {
			var n uint64
			if size == systemPageKiB() {
				n, err = freeBasePages(cell)
			} else {
				var path string
				if path, err = hugePath(cell, size, "free_hugepages"); err == nil {
					n, err = readCount(path)
				}
			}
			if err != nil {
				return nil, err
			}
			counts = append(counts, n)
		}
	}
	if len(counts) == 0 {
		return nil, virterror.New(virterror.InternalError, virterror.FromNone, "no suitable info found")
	}
	return counts, nil
}

// AllocPages sizes the huge page pools of each cell from startCell (at
// most cellCount of them): to counts[i] pages of sizes[i] KiB, or by that
// many more with add (virNodeAllocPages). It returns how many pools it
// handled.
func AllocPages(sizes []uint32, counts []uint64, startCell int, cellCount uint32, add bool) (int, error) {
	if len(sizes) != len(counts) {
		return 0, virterror.New(virterror.InvalidArg, virterror.FromNone, "%d page sizes but %d page counts", len(sizes), len(counts))
	}
	first, last, err := cellRange(startCell, cellCount)
	if err != nil {
		return 0, err
	}
	n := 0
	for cell := first; cell <= last; cell++ {
		for i, size := range sizes {
			if err := setPool(cell, size, counts[i], add); err != nil {
				return 0, err
			}
			n++
		}
	}
	return n, nil
}

func setPool(cell int, sizeKiB uint32, count uint64, add bool) error {
	if sizeKiB == systemPageKiB() {
		return virterror.New(virterror.OperationUnsupported, virterror.FromNone, "system pages pool can't be modified")
	}
	path, err := hugePath(cell, sizeKiB, "nr_hugepages")
	if err != nil {
		return err
	}
	cur, err := readCount(path)
	if err != nil {
		return err
	}
	if add {
		if count == 0 {
			return nil
		}
		count += cur
	} else if cur == count {
		return nil
	}
	// The kernel allocates during the write and may fall short; the value
	// read back is what it managed.
	if err := os.WriteFile(path, []byte(strconv.FormatUint(count, 10)+"\n"), 0); err != nil {
		return virterror.New(virterror.SystemError, virterror.FromNone, "Unable to write to: %s: %v", path, unwrapPath(err))
	}
	got, err := readCount(path)
	if err != nil {
		return err
	}
	if got != count {
		return virterror.New(virterror.OperationFailed, virterror.FromNone, "Unable to allocate %d pages. Allocated only %d", count, got)
	}
	return nil
}

// PageSizes lists the page sizes the host offers in KiB: the base page,
// then each huge page size, smallest first.
func PageSizes() []uint32 {
	sizes := []uint32{systemPageKiB()}
	m, _ := filepath.Glob(filepath.Join(systemHugeDir, "hugepages-*kB"))
	var huge []uint32
	for _, p := range m {
		s := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "hugepages-"), "kB")
		if v, err := strconv.ParseUint(s, 10, 32); err == nil {
			huge = append(huge, uint32(v))
		}
	}
	slices.Sort(huge)
	return append(sizes, huge...)
}

// cellPageInfo is the <pages> of a capabilities NUMA cell: for each size,
// the pages of the cell's pool; base pages are the memory the huge page
// pools do not hold.
func cellPageInfo(cell int) []libvirtxml.CapsHostNUMAPageInfo {
	if _, numa := highestCell(); !numa {
		cell = -1
	}
	sizes := PageSizes()
	var hugeKiB uint64
	var out []libvirtxml.CapsHostNUMAPageInfo
	for _, size := range sizes[1:] {
		path, err := hugePath(cell, size, "nr_hugepages")
		if err != nil {
			continue
		}
		n, err := readCount(path)
		if err != nil {
			continue
		}
		hugeKiB += n * uint64(size)
		out = append(out, libvirtxml.CapsHostNUMAPageInfo{Size: int(size), Unit: "KiB", Count: n})
	}
	var totalKiB uint64
	if cell == -1 {
		totalKiB = meminfo("MemTotal")
	} else if st, err := MemoryStats(cell); err == nil {
		for _, s := range st {
			if s.Field == "total" {
				totalKiB = s.Value
			}
		}
	}
	base := libvirtxml.CapsHostNUMAPageInfo{Size: int(sizes[0]), Unit: "KiB"}
	if totalKiB > hugeKiB {
		base.Count = (totalKiB - hugeKiB) / uint64(sizes[0])
	}
	return append([]libvirtxml.CapsHostNUMAPageInfo{base}, out...)
}

func capsPageSizes() []libvirtxml.CapsHostCPUPageSize {
	var out []libvirtxml.CapsHostCPUPageSize
	for _, s := range PageSizes() {
		out = append(out, libvirtxml.CapsHostCPUPageSize{Size: int(s), Unit: "KiB"})
	}
	return out
}
