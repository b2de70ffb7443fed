package hostinfo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakePools builds node and system huge page trees: pools maps
// "node0/2048" (or "system/2048") to the free and total counts.
func fakePools(t *testing.T, pools map[string][2]int) {
	t.Helper()
	root := t.TempDir()
	nodes, system := filepath.Join(root, "node"), filepath.Join(root, "hugepages")
	for key, v := range pools {
		where, size, _ := strings.Cut(key, "/")
		dir := filepath.Join(system, "hugepages-"+size+"kB")
		if where != "system" {
			dir = filepath.Join(nodes, where, "hugepages", "hugepages-"+size+"kB")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "free_hugepages"), []byte(fmt.Sprintf("%d\n", v[0])), 0o644)
		os.WriteFile(filepath.Join(dir, "nr_hugepages"), []byte(fmt.Sprintf("%d\n", v[1])), 0o644)
	}
	os.MkdirAll(nodes, 0o755)
	oldN, oldS := nodeSysDir, systemHugeDir
	nodeSysDir, systemHugeDir = nodes, system
	t.Cleanup(func() { nodeSysDir, systemHugeDir = oldN, oldS })
}

func TestFreePages(t *testing.T) {
	fakePools(t, map[string][2]int{
		"node0/2048": {3, 4}, "node0/1048576": {1, 1},
		"node1/2048":  {5, 8},
		"system/2048": {8, 12},
	})
	got, err := FreePages([]uint32{2048, 1048576}, 0, 1)
	if err != nil || fmt.Sprint(got) != "[3 1]" {
		t.Errorf("node0 = %v, %v", got, err)
	}
	// Cells in order, sizes within a cell.
	got, err = FreePages([]uint32{2048}, 0, 8)
	if err != nil || fmt.Sprint(got) != "[3 5]" {
		t.Errorf("all cells = %v, %v", got, err)
	}
	got, err = FreePages([]uint32{2048}, -1, 1)
	if err != nil || fmt.Sprint(got) != "[8]" {
		t.Errorf("whole host = %v, %v", got, err)
	}
	for _, tc := range []struct {
		sizes []uint32
		start int
		want  string
	}{
		{[]uint32{2048}, 2, "start cell 2 out of range (0-1)"},
		{[]uint32{1048576}, 1, "page size 1048576 is not available on node 1"},
		{[]uint32{1048576}, -1, "page size 1048576 is not available"},
	} {
		if _, err := FreePages(tc.sizes, tc.start, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("FreePages(%v, %d): %v, want %q", tc.sizes, tc.start, err, tc.want)
		}
	}
	// A gap in the node numbering.
	os.RemoveAll(filepath.Join(nodeSysDir, "node0"))
	if _, err := FreePages([]uint32{2048}, 0, 1); err == nil || !strings.Contains(err.Error(), "NUMA node 0 is not available") {
		t.Errorf("missing node: %v", err)
	}
}

func TestFreePagesWithoutNUMA(t *testing.T) {
	// No node directories: cell 0 is the whole host.
	fakePools(t, map[string][2]int{"system/2048": {6, 9}})
	got, err := FreePages([]uint32{2048}, 0, 1)
	if err != nil || fmt.Sprint(got) != "[6]" {
		t.Errorf("fake cell 0 = %v, %v", got, err)
	}
}

func TestAllocPages(t *testing.T) {
	fakePools(t, map[string][2]int{"node0/2048": {3, 4}, "node1/2048": {0, 2}})
	nr := func(node int) string {
		b, _ := os.ReadFile(filepath.Join(nodeSysDir, fmt.Sprintf("node%d", node), "hugepages", "hugepages-2048kB", "nr_hugepages"))
		return strings.TrimSpace(string(b))
	}
	// Grow both cells by 3.
	n, err := AllocPages([]uint32{2048}, []uint64{3}, 0, 2, true)
	if err != nil || n != 2 || nr(0) != "7" || nr(1) != "5" {
		t.Errorf("add: %d, %v; pools %s %s", n, err, nr(0), nr(1))
	}
	// Set cell 1 to 1.
	n, err = AllocPages([]uint32{2048}, []uint64{1}, 1, 1, false)
	if err != nil || n != 1 || nr(0) != "7" || nr(1) != "1" {
		t.Errorf("set: %d, %v; pools %s %s", n, err, nr(0), nr(1))
	}
	if _, err := AllocPages([]uint32{uint32(os.Getpagesize() / 1024)}, []uint64{1}, 0, 1, false); err == nil || !strings.Contains(err.Error(), "system pages pool can't be modified") {
		t.Errorf("base pages: %v", err)
	}
	if _, err := AllocPages([]uint32{1048576}, []uint64{1}, 0, 1, false); err == nil || !strings.Contains(err.Error(), "page size 1048576 is not available on node 0") {
		t.Errorf("unknown size: %v", err)
	}
}

func TestPageSizesAndCellPages(t *testing.T) {
	fakePools(t, map[string][2]int{
		"system/1048576": {0, 1}, "system/2048": {3, 5},
		"node0/2048": {3, 5}, "node0/1048576": {0, 1},
	})
	base := uint32(os.Getpagesize() / 1024)
	if got := fmt.Sprint(PageSizes()); got != fmt.Sprintf("[%d 2048 1048576]", base) {
		t.Errorf("PageSizes = %s", got)
	}
	info := cellPageInfo(0)
	if len(info) != 3 || info[0].Size != int(base) || info[1].Size != 2048 || info[1].Count != 5 || info[2].Size != 1048576 || info[2].Count != 1 {
		t.Errorf("cell pages = %+v", info)
	}
}
