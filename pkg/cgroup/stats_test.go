package cgroup

import (
	"fmt"
	"strings"
	"testing"
)

func TestSumKeyed(t *testing.T) {
	// Two devices in blkio.throttle.io_service_bytes; "Total" lines and
	// the per-device Sync/Async split must not be counted again.
	v1 := `8:0 Read 4096
8:0 Write 8192
8:0 Sync 12288
8:0 Async 0
8:0 Discard 0
8:0 Total 12288
253:1 Read 100
253:1 Write 1
253:1 Total 101
Total 12389
`
	got, err := sumKeyed(v1, []string{"Read ", "Write "})
	if err != nil || fmt.Sprint(got) != "[4196 8193]" {
		t.Errorf("v1 = %v, %v", got, err)
	}
	v2 := "8:0 rbytes=1000 wbytes=2000 rios=3 wios=4 dbytes=0 dios=0\n253:0 rbytes=5 wbytes=6 rios=1 wios=1 dbytes=0 dios=0\n"
	got, err = sumKeyed(v2, []string{"rbytes=", "wbytes=", "rios=", "wios="})
	if err != nil || fmt.Sprint(got) != "[1005 2006 4 5]" {
		t.Errorf("v2 = %v, %v", got, err)
	}
	if got, err := sumKeyed("", []string{"Read "}); err != nil || got[0] != 0 {
		t.Errorf("empty = %v, %v", got, err)
	}
	if _, err := sumKeyed("8:0 Read x\n", []string{"Read "}); err == nil {
		t.Errorf("garbage accepted")
	}
	if _, err := sumKeyed("8:0 Read 9223372036854775807\n8:1 Read 1\n", []string{"Read "}); err == nil || !strings.Contains(err.Error(), "overflows") {
		t.Errorf("overflow: %v", err)
	}
}

func TestKeyedUints(t *testing.T) {
	m := keyedUints("user 235060\nsystem 71838\n")
	if m["user"] != 235060 || m["system"] != 71838 || len(m) != 2 {
		t.Errorf("cpuacct.stat = %v", m)
	}
	m = keyedUints("usage_usec 10\nuser_usec 7\nsystem_usec 3\nnr_periods 0\n")
	if m["user_usec"] != 7 || m["system_usec"] != 3 {
		t.Errorf("cpu.stat = %v", m)
	}
}
