package main_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/virtlxcd/virtlxcd/internal/daemontest"
)

// compatCase is one virsh command line whose answer must read as Debian's
// libvirtd 9.0 answers it. The wanted texts come from `make compat`
// (compat/REPORT.md), which runs the same command lines against libvirtd;
// CI has no libvirtd, so these cases guard each difference fixed there.
type compatCase struct {
	name   string
	args   []string // {XML:key} is the path of compatXML()[key]
	code   int
	stdout string // must be contained ("" = not checked)
	stderr string // must be contained ("" = must be empty)
}

// compatHostArch is the architecture libvirt names in capability errors.
func compatHostArch() string {
	if runtime.GOARCH == "amd64" {
		return "x86_64"
	}
	return runtime.GOARCH
}

func compatXML(root string) map[string]string {
	good := daemontest.DomainXML("e2e-compat", root, 96, "/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done")
	good = strings.Replace(good, "<name>e2e-compat</name>", "<name>e2e-compat</name><uuid>4c7a1f0e-2b9d-4e55-8a31-6f0c2d9e7b01</uuid>", 1)
	other := strings.ReplaceAll(good, "e2e-compat", "e2e-compat-b")
	other = strings.Replace(other, "4c7a1f0e-2b9d-4e55-8a31-6f0c2d9e7b01", "4c7a1f0e-2b9d-4e55-8a31-6f0c2d9e7b02", 1)
	return map[string]string{
		"good":       good,
		"empty":      "",
		"not-xml":    "this is not xml\n",
		"truncated":  "<domain type='lxc'>\n  <name>x</name>\n",
		"mismatch":   "<domain type='lxc'>\n  <name>x</nam>\n</domain>\n",
		"bad-attr":   "<domain type='lxc>\n  <name>x</name>\n</domain>\n",
		"bad-start":  "<domain type='lxc'>\n  <1name>x</name>\n</domain>\n",
		"line5":      "<domain type='lxc'>\n  <name>x</name>\n  <memory>1024</memory>\n  <os><type>exe</type>\n  <init>/bin/sh</ini>\n</domain>\n",
		"no-type":    "<domain>\n  <name>x</name>\n</domain>\n",
		"not-domain": "<network><name>x</name></network>\n",
		"kvm":        strings.Replace(other, "type='lxc'", "type='kvm'", 1),
		"os-hvm":     strings.Replace(other, "<type>exe</type>", "<type>hvm</type>", 1),
		"no-init":    strings.Replace(other, "<init>/bin/sh</init>", "", 1),
		"bad-mem":    strings.Replace(other, "<memory unit='MiB'>96", "<memory unit='MiB'>lots", 1),
		"graphics":   strings.Replace(other, "<console type='pty'/>", "<console type='pty'/><graphics type='vnc'/>", 1),
	}
}

func runCompatCases(t *testing.T, d *daemontest.Daemon, files map[string]string, cases []compatCase) {
	t.Helper()
	for _, c := range cases {
		args := make([]string, len(c.args))
		for i, a := range c.args {
			if strings.HasPrefix(a, "{XML:") {
				a = files[strings.TrimSuffix(strings.TrimPrefix(a, "{XML:"), "}")]
			}
			args[i] = a
		}
		r := daemontest.Run("virsh", append([]string{"-c", d.URI()}, args...)...)
		if r.Code != c.code || !strings.Contains(r.Stdout, c.stdout) ||
			(c.stderr == "" && r.Stderr != "") || !strings.Contains(r.Stderr, c.stderr) {
			t.Errorf("%s: virsh %s:\n%v\nwant exit %d, stdout containing %q, stderr containing %q",
				c.name, strings.Join(args, " "), r, c.code, c.stdout, c.stderr)
		}
	}
}

// TestCompatDefineErrors: XML errors name the position the way libxml2
// does for libvirt (line, source line, a dash per byte before the cursor),
// and semantic refusals use libvirt's codes and words.
func TestCompatDefineErrors(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	files := map[string]string{}
	for k, v := range compatXML(root) {
		files[k] = daemontest.WriteFile(t, k+".xml", v)
	}
	arch := compatHostArch()
	runCompatCases(t, d, files, []compatCase{
		{"empty", []string{"define", "{XML:empty}"}, 1, "",
			"error: (domain_definition):1: Document is empty\n(null)\n^\n"},
		{"not xml", []string{"define", "{XML:not-xml}"}, 1, "",
			"error: (domain_definition):1: Start tag expected, '<' not found\nthis is not xml\n^\n"},
		{"truncated", []string{"define", "{XML:truncated}"}, 1, "",
			"error: (domain_definition):3: Premature end of data in tag domain line 1\n(null)\n^\n"},
		{"mismatch", []string{"define", "{XML:mismatch}"}, 1, "",
			"error: (domain_definition):2: Opening and ending tag mismatch: name line 2 and nam\n  <name>x</nam>\n---------------^\n"},
		{"attribute", []string{"define", "{XML:bad-attr}"}, 1, "",
			"error: (domain_definition):2: Unescaped '<' not allowed in attributes values\n  <name>x</name>\n--^\n"},
		{"element name", []string{"define", "{XML:bad-start}"}, 1, "",
			"error: (domain_definition):2: StartTag: invalid element name\n  <1name>x</name>\n---^\n"},
		{"line 5", []string{"define", "{XML:line5}"}, 1, "",
			"error: (domain_definition):5: Opening and ending tag mismatch: init line 5 and ini\n  <init>/bin/sh</ini>\n---------------------^\n"},
		{"no type", []string{"define", "{XML:no-type}"}, 1, "", "error: internal error: missing domain type attribute\n"},
		{"root", []string{"define", "{XML:not-domain}"}, 1, "", "error: XML error: expecting root element of 'domain', not 'network'\n"},
		{"kvm", []string{"define", "{XML:kvm}"}, 1, "",
			"error: invalid argument: could not find capabilities for ostype=exe arch=" + arch + " domaintype=kvm \n"},
		{"hvm", []string{"define", "{XML:os-hvm}"}, 1, "",
			"error: invalid argument: could not find capabilities for arch=" + arch + " domaintype=lxc \n"},
		{"no init", []string{"define", "{XML:no-init}"}, 1, "", "error: XML error: init binary must be specified\n"},
		{"memory", []string{"define", "{XML:bad-mem}"}, 1, "", "error: XML error: Invalid value 'lots' for element or attribute './memory[1]'\n"},
		{"graphics", []string{"define", "{XML:graphics}"}, 1, "", "error: internal error: missing video model and cannot determine default\n"},
		{"define", []string{"define", "{XML:good}"}, 0, "Domain 'e2e-compat' defined", ""},
		{"flags", []string{"dumpxml", "--update-cpu", "e2e-compat"}, 1, "",
			"error: unsupported flags (0x4) in function lxcDomainGetXMLDesc\n"},
		{"undefine flags", []string{"undefine", "--nvram", "e2e-compat"}, 1, "",
			"error: unsupported flags (0x4) in function lxcDomainUndefineFlags\n"},
		{"start flags", []string{"start", "--paused", "e2e-compat"}, 1, "",
			"error: unsupported flags (0x1) in function lxcDomainCreateWithFiles\n"},
		{"undefine", []string{"undefine", "e2e-compat"}, 0, "Domain 'e2e-compat' has been undefined", ""},
	})
}

// TestCompatDumpXML: the documents dumpxml prints lay out as libvirt's:
// quotes named (&apos;), metadata indented, the default partition only
// in the live definition, no filesystem alias, --migratable the live
// definition.
func TestCompatDumpXML(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	files := map[string]string{"good": daemontest.WriteFile(t, "good.xml", compatXML(root)["good"])}
	meta := "<metadata>\n    <cmp:v xmlns:cmp=\"http://example.org/compat\" a=\"1\"/>\n  </metadata>\n"
	t.Cleanup(func() { d.Virsh("destroy", "e2e-compat"); d.Virsh("undefine", "e2e-compat") })
	runCompatCases(t, d, files, []compatCase{
		{"define", []string{"define", "{XML:good}"}, 0, "Domain 'e2e-compat' defined", ""},
		{"metadata", []string{"metadata", "e2e-compat", "http://example.org/compat", "--key", "cmp", "--set", "<v a='1'/>", "--config"}, 0, "Metadata modified", ""},
		{"quotes", []string{"dumpxml", "e2e-compat"}, 0, "<initarg>trap &apos;exit 0&apos; TERM; while :; do sleep 1; done</initarg>", ""},
		{"metadata layout", []string{"dumpxml", "e2e-compat"}, 0, meta, ""},
		{"start", []string{"start", "e2e-compat"}, 0, "Domain 'e2e-compat' started", ""},
		{"live partition", []string{"dumpxml", "e2e-compat"}, 0, "  <resource>\n    <partition>/machine</partition>\n  </resource>\n", ""},
		{"live metadata", []string{"dumpxml", "e2e-compat"}, 0, meta, ""},
		{"migratable is live", []string{"dumpxml", "--migratable", "e2e-compat"}, 0, "<domain type='lxc' id='", ""},
	})
	for _, args := range [][]string{{"dumpxml", "--inactive", "e2e-compat"}, {"dumpxml", "e2e-compat"}} {
		out := d.MustVirsh(t, args...)
		if strings.Contains(out, "<alias name='fs0'/>") {
			t.Errorf("%v: filesystem alias libvirt does not show:\n%s", args, out)
		}
		if args[1] == "--inactive" && strings.Contains(out, "<resource>") {
			t.Errorf("%v: the default partition is live-only in libvirt:\n%s", args, out)
		}
	}
	d.MustVirsh(t, "destroy", "e2e-compat")
	if out := d.MustVirsh(t, "dumpxml", "e2e-compat"); strings.Contains(out, "<resource>") {
		t.Errorf("inactive dumpxml has the default partition:\n%s", out)
	}
}

// TestCompatReadOnlyAgentAddresses: asking the guest agent for addresses
// needs a writable connection, checked before the domain's state (libvirt's
// public API does so); the lease source stays allowed.
func TestCompatReadOnlyAgentAddresses(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	d.MustVirsh(t, "define", daemontest.WriteFile(t, "good.xml", compatXML(root)["good"]))
	t.Cleanup(func() { d.Virsh("undefine", "e2e-compat") })
	r := daemontest.Run("virsh", "-c", d.ROURI(), "domifaddr", "--source", "agent", "e2e-compat")
	if r.Code != 1 || !strings.Contains(r.Stderr, "error: operation forbidden: read only access prevents virDomainInterfaceAddresses\n") {
		t.Errorf("agent source on the read-only socket: %v", r)
	}
	r = daemontest.Run("virsh", "-c", d.ROURI(), "domifaddr", "e2e-compat")
	if r.Code != 1 || !strings.Contains(r.Stderr, "error: Requested operation is not valid: domain is not running\n") {
		t.Errorf("lease source on the read-only socket: %v", r)
	}
}

// TestCompatDomainStats: domstats is unsupported as in libvirt's LXC
// driver, and the refusal names the API virsh called.
func TestCompatDomainStats(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	root := daemontest.BusyboxRoot(t)
	files := map[string]string{"good": daemontest.WriteFile(t, "good.xml", compatXML(root)["good"])}
	t.Cleanup(func() { d.Virsh("undefine", "e2e-compat") })
	runCompatCases(t, d, files, []compatCase{
		{"define", []string{"define", "{XML:good}"}, 0, "Domain 'e2e-compat' defined", ""},
		{"one domain", []string{"domstats", "--state", "e2e-compat"}, 1, "",
			"error: this function is not supported by the connection driver: virDomainListGetStats\n"},
		{"all domains", []string{"domstats", "--state"}, 1, "",
			"error: this function is not supported by the connection driver: virConnectGetAllDomainStats\n"},
	})
}
