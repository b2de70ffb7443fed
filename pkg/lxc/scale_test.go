package lxc

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/virtlxcd/virtlxcd/pkg/domain"
)

// TestTenThousandDomains loads 10,000 definitions at driver start and
// checks the read paths stay in memory: listing all of them must take well
// under the 20 ms budget, lookups microseconds. Timings take the best of a
// few rounds so that a busy CI machine does not make the test flaky.
func TestTenThousandDomains(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	const n = 10000
	p := testPaths(t)
	if err := os.MkdirAll(p.LXCConfigDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("many%05d", i)
		if err := os.WriteFile(filepath.Join(p.LXCConfigDir, name+".xml"), []byte(ctXML(name, "")), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now()
	d := newTestDriver(t, p)
	t.Logf("driver start with %d definitions: %v", n, time.Since(t0))
	if got, _ := d.NumOfDefinedDomains(); got != n {
		t.Fatalf("%d domains loaded", got)
	}
	best := func(f func()) time.Duration {
		b := time.Hour
		for i := 0; i < 5; i++ {
			t0 := time.Now()
			f()
			b = min(b, time.Since(t0))
		}
		return b
	}
	list := best(func() {
		refs, err := d.ListAllDomains(domain.ListActive | domain.ListInactive)
		if err != nil || len(refs) != n {
			t.Fatalf("list: %d %v", len(refs), err)
		}
	})
	lookups := best(func() {
		for i := 0; i < n; i++ {
			if _, err := d.LookupByName(fmt.Sprintf("many%05d", i)); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Logf("list of %d: %v; %d lookups by name: %v", n, list, n, lookups)
	if list > 20*time.Millisecond {
		t.Errorf("listing %d domains took %v, budget 20ms", n, list)
	}
	if lookups > 200*time.Millisecond {
		t.Errorf("%d lookups took %v", n, lookups)
	}
}
