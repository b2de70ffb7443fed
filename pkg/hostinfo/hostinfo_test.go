package hostinfo

import (
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]uint64{
		"6.18.44-cloud-amd64": 6018044,
		"5.10.0":              5010000,
		"6.1":                 6001000,
		"4.19.0-rc1":          4019000,
		"garbage":             0,
	} {
		if got := ParseVersion(in); got != want {
			t.Errorf("ParseVersion(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestNodeAndCapabilities(t *testing.T) {
	n := Node()
	if n.CPUs < 1 || n.MemoryKiB == 0 || n.Model == "" || n.Nodes*n.Sockets*n.Cores*n.Threads != n.CPUs {
		t.Errorf("node info inconsistent: %+v", n)
	}
	caps, err := Capabilities("0b8fd9b2-1b0b-4d43-8f3c-1d2a9f1f9c11", "/usr/sbin/virtlxcd")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<uuid>0b8fd9b2-1b0b-4d43-8f3c-1d2a9f1f9c11</uuid>", "<os_type>exe</os_type>", `<domain type="lxc">`, "<emulator>/usr/sbin/virtlxcd</emulator>", "<model>none</model>"} {
		if !strings.Contains(caps, want) {
			t.Errorf("capabilities lack %s:\n%s", want, caps)
		}
	}
}

func TestHostUUID(t *testing.T) {
	if got := HostUUID("0b8fd9b2-1b0b-4d43-8f3c-1d2a9f1f9c11", "smbios"); got != "0b8fd9b2-1b0b-4d43-8f3c-1d2a9f1f9c11" {
		t.Errorf("configured host_uuid ignored: %s", got)
	}
	if got := HostUUID("", "machine-id"); len(got) != 36 {
		t.Errorf("host uuid %q", got)
	}
}
