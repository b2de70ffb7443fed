package netdev

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const sampleNetDev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  123456     789    0    0    0     0          0         0   123456     789    0    0    0     0       0          0
vnet12: 1000 10 1 2 0 0 0 0 50000 40 3 4 0 0 0 0
  vnet1:   77   1    0    0    0     0          0         0       88    2    0    0    0     0       0          0
`

func TestReadCounters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev")
	if err := os.WriteFile(path, []byte(sampleNetDev), 0o644); err != nil {
		t.Fatal(err)
	}
	old := procNetDev
	procNetDev = path
	defer func() { procNetDev = old }()

	c, err := ReadCounters("vnet12")
	want := Counters{RxBytes: 1000, RxPackets: 10, RxErrs: 1, RxDrop: 2, TxBytes: 50000, TxPackets: 40, TxErrs: 3, TxDrop: 4}
	if err != nil || c != want {
		t.Errorf("vnet12 = %+v, %v", c, err)
	}
	// vnet1 is not a suffix match of vnet12.
	if c, err := ReadCounters("vnet1"); err != nil || c.RxBytes != 77 || c.TxBytes != 88 {
		t.Errorf("vnet1 = %+v, %v", c, err)
	}
	if _, err := ReadCounters("net12"); !errors.Is(err, ErrNoInterface) {
		t.Errorf("net12: %v", err)
	}
	s := want.Swapped()
	if s.RxBytes != 50000 || s.RxPackets != 40 || s.RxErrs != 3 || s.RxDrop != 4 || s.TxBytes != 1000 || s.TxDrop != 2 {
		t.Errorf("swapped = %+v", s)
	}
}
