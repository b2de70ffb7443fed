package hostinfo

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/virtlxcd/virtlxcd/pkg/typedparam"
)

// fakeKSM points ksmDir at a copy holding files, and returns it.
func fakeKSM(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := ksmDir
	ksmDir = dir
	t.Cleanup(func() { ksmDir = old })
	return dir
}

func TestMemoryParams(t *testing.T) {
	// An older kernel: no pages_volatile, no merge_across_nodes.
	fakeKSM(t, map[string]string{
		"pages_to_scan": "100", "sleep_millisecs": "20", "pages_shared": "7",
		"pages_sharing": "12", "pages_unshared": "3", "full_scans": "99",
	})
	params, err := MemoryParams(MemoryParamsCount)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range params {
		switch p.Type {
		case typedparam.ParamUint:
			got = append(got, p.Field+"=u"+itoa(uint64(p.Uint)))
		case typedparam.ParamULLong:
			got = append(got, p.Field+"=ull"+itoa(p.ULLong))
		default:
			t.Errorf("%s has type %v", p.Field, p.Type)
		}
	}
	want := "shm_pages_to_scan=u100 shm_sleep_millisecs=u20 shm_pages_shared=ull7 shm_pages_sharing=ull12 shm_pages_unshared=ull3 shm_full_scans=ull99"
	if strings.Join(got, " ") != want {
		t.Errorf("params:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	// Only the first n are asked for.
	if params, _ := MemoryParams(2); len(params) != 2 || params[1].Field != "shm_sleep_millisecs" {
		t.Errorf("MemoryParams(2) = %v", params)
	}
	// Garbage in a knob is libvirt's parse error.
	os.WriteFile(filepath.Join(ksmDir, "sleep_millisecs"), []byte("x\n"), 0o644)
	if _, err := MemoryParams(2); err == nil || !strings.Contains(err.Error(), "failed to parse sleep_millisecs") {
		t.Errorf("garbage: %v", err)
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func TestSetMemoryParams(t *testing.T) {
	dir := fakeKSM(t, map[string]string{"pages_to_scan": "100", "sleep_millisecs": "20"})
	read := func(f string) string {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		return strings.TrimSpace(string(b))
	}
	if err := SetMemoryParams([]typedparam.Param{
		typedparam.UintParam("shm_pages_to_scan", 250),
		typedparam.UintParam("shm_sleep_millisecs", 5),
	}); err != nil {
		t.Fatal(err)
	}
	if read("pages_to_scan") != "250" || read("sleep_millisecs") != "5" {
		t.Errorf("after set: %s %s", read("pages_to_scan"), read("sleep_millisecs"))
	}
	for _, tc := range []struct {
		params []typedparam.Param
		want   string
	}{
		{[]typedparam.Param{typedparam.UintParam("shm_pages_shared", 1)}, "parameter 'shm_pages_shared' not supported"},
		{[]typedparam.Param{typedparam.ULLongParam("shm_pages_to_scan", 1)}, "invalid type 'ullong' for parameter 'shm_pages_to_scan', expected 'uint'"},
		// The kernel lacks merge_across_nodes: nothing is written, not
		// even the valid parameter before it.
		{[]typedparam.Param{typedparam.UintParam("shm_pages_to_scan", 1), typedparam.UintParam("shm_merge_across_nodes", 0)}, "Parameter 'shm_merge_across_nodes' is not supported by this kernel"},
	} {
		err := SetMemoryParams(tc.params)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.params, err, tc.want)
		}
	}
	if read("pages_to_scan") != "250" {
		t.Errorf("a refused call wrote pages_to_scan = %s", read("pages_to_scan"))
	}
}
