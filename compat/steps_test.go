package compat

import (
	"fmt"
	"strings"
	"time"
)

// step is one virsh command line of the comparison, or (wait/sleep) a
// pause that is not compared.
type step struct {
	label   string // tells apart repeated command lines
	mode    mode
	args    []string
	numbers bool // mask every number (counters, sizes the host decides)
	wait    string
	sleep   time.Duration
	// bg starts the command in the background; collect (set to the bg
	// step's key) waits for it and compares its output there.
	bg      bool
	collect string
	// force runs without being compared: it brings both daemons to the
	// same state after a step whose outcome differs.
	force bool
	// oursOnly says why the step is not run on libvirtd (it would crash
	// it); it runs on ours and is reported as an intended difference.
	oursOnly string
}

func (s step) cmdline() string {
	pre := map[mode]string{modeRW: "virsh", modeRO: "virsh -r (ro socket)", modeROSock: "virsh (ro socket, no -r)", modeURI: "virsh"}[s.mode]
	return pre + " " + strings.Join(s.args, " ")
}

func (s step) key() string {
	if s.wait != "" {
		return "wait until domstate reads " + s.wait + " (20 s)"
	}
	if s.label != "" {
		return s.label + ": " + s.cmdline()
	}
	return s.cmdline()
}

const (
	uuidA       = "6d1c7a52-4b0e-4f31-9a77-2f5a3c1e0a01"
	uuidC       = "6d1c7a52-4b0e-4f31-9a77-2f5a3c1e0a03"
	uuidT       = "6d1c7a52-4b0e-4f31-9a77-2f5a3c1e0a04"
	uuidUnknown = "6d1c7a52-4b0e-4f31-9a77-2f5a3c1e0aff"
	trapInit    = `trap 'exit 0' TERM; while :; do sleep 1; done`
)

func domXML(name, uuid, root, typ string, extra string) string {
	return fmt.Sprintf(`<domain type='%s'>
  <name>%s</name>
  <uuid>%s</uuid>
  <memory unit='MiB'>96</memory>
  <os><type>exe</type><init>/bin/sh</init><initarg>-c</initarg><initarg>%s</initarg></os>
  <devices>
    <filesystem type='mount'><source dir='%s'/><target dir='/'/></filesystem>
    <console type='pty'/>%s
  </devices>
</domain>
`, typ, name, uuid, strings.ReplaceAll(trapInit, "'", "&apos;"), root, extra)
}

// xmlFiles are the domain XML files the steps refer to as {F:key}.
func xmlFiles(root string) map[string]string {
	good := domXML(nameA, uuidA, root, "lxc", "")
	return map[string]string{
		"a":          good,
		"a-newuuid":  domXML(nameA, uuidC, root, "lxc", ""),
		"b-sameuuid": domXML(nameB, uuidA, root, "lxc", ""),
		"c":          domXML(nameC, uuidT, root, "lxc", ""),
		"kvm":        domXML(nameB, uuidC, root, "kvm", ""),
		"qemu":       domXML(nameB, uuidC, root, "qemu", ""),
		"hostdev":    domXML(nameB, uuidC, root, "lxc", "\n    <hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0' slot='1' function='0'/></source></hostdev>"),
		"graphics":   domXML(nameB, uuidC, root, "lxc", "\n    <graphics type='vnc'/>"),
		"os-hvm":     strings.Replace(domXML(nameB, uuidC, root, "lxc", ""), "<type>exe</type>", "<type>hvm</type>", 1),
		"no-name":    strings.Replace(domXML(nameB, uuidC, root, "lxc", ""), "<name>"+nameB+"</name>", "", 1),
		"bad-uuid":   strings.Replace(domXML(nameB, uuidC, root, "lxc", ""), uuidC, "not-a-uuid", 1),
		"bad-mem":    strings.Replace(domXML(nameB, uuidC, root, "lxc", ""), "<memory unit='MiB'>96", "<memory unit='MiB'>lots", 1),
		"bad-unit":   strings.Replace(domXML(nameB, uuidC, root, "lxc", ""), "unit='MiB'", "unit='parsecs'", 1),
		"no-init":    strings.Replace(domXML(nameB, uuidC, root, "lxc", ""), "<init>/bin/sh</init>", "", 1),
		"init-empty": strings.Replace(domXML(nameB, uuidC, root, "lxc", ""), "<init>/bin/sh</init>", "<init></init>", 1),
		"empty":      "",
		"not-xml":    "this is not xml\n",
		"truncated":  "<domain type='lxc'>\n  <name>x</name>\n",
		"trunc-nonl": "<domain type='lxc'>\n  <name>x</name>\n  <memory>",
		"bad-value":  "<domain type='lxc'>\n  <name x=>x</name>\n</domain>\n",
		"bad-start":  "<domain type='lxc'>\n  <1name>x</name>\n</domain>\n",
		"mismatch":   "<domain type='lxc'>\n  <name>x</nam>\n</domain>\n",
		"bad-attr":   "<domain type='lxc>\n  <name>x</name>\n</domain>\n",
		"no-type":    "<domain>\n  <name>x</name>\n</domain>\n",
		"not-domain": "<network><name>x</name></network>\n",
		"line5":      "<domain type='lxc'>\n  <name>x</name>\n  <memory>1024</memory>\n  <os><type>exe</type>\n  <init>/bin/sh</ini>\n</domain>\n",
	}
}

func rw(args ...string) step     { return step{mode: modeRW, args: args} }
func ro(args ...string) step     { return step{mode: modeRO, args: args} }
func roSock(args ...string) step { return step{mode: modeROSock, args: args} }
func uri(args ...string) step    { return step{mode: modeURI, args: args} }
func num(s step) step            { s.numbers = true; return s }
func lbl(l string, s step) step  { s.label = l; return s }

// crashes marks a step that makes libvirtd 9.0 crash: schedinfo of an
// inactive domain (reference notes §3, seen again in this comparison).
func crashes(s step) step {
	s.oursOnly = "libvirtd 9.0 crashes (segfault, the client sees end of file) on scheduler parameters of an inactive domain; ours answers from the definition"
	return s
}

func waitFor(state string) step  { return step{wait: state} }
func bg(args ...string) step     { return step{mode: modeRW, args: args, bg: true} }
func collect(s step) step        { return step{collect: s.key()} }
func force(args ...string) step  { return step{mode: modeRW, args: args, force: true} }
func pause(d time.Duration) step { return step{sleep: d} }

// perDomain are the commands run against A, each in the state the script
// is in when they come: inactive, running and paused.
func perDomain(state string) []step {
	s := []step{
		rw("dominfo", "{A}"),
		rw("domstate", "{A}"),
		rw("domstate", "--reason", "{A}"),
		rw("dumpxml", "{A}"),
		rw("dumpxml", "--inactive", "{A}"),
		rw("dumpxml", "--security-info", "{A}"),
		ro("dumpxml", "--security-info", "{A}"),
		roSock("dumpxml", "--security-info", "{A}"),
		ro("dumpxml", "{A}"),
		rw("list"),
		rw("list", "--all"),
		rw("list", "--inactive"),
		rw("list", "--name", "--all"),
		rw("list", "--uuid", "--all"),
		rw("list", "--all", "--title"),
		rw("list", "--state-running"),
		rw("list", "--state-paused"),
		rw("list", "--state-shutoff"),
		rw("list", "--persistent", "--autostart"),
		rw("list", "--all", "--with-snapshot"),
		ro("list", "--all"),
		rw("memtune", "{A}"),
		rw("domiflist", "{A}"),
		rw("domifaddr", "{A}"),
		num(rw("domblkstat", "{A}")),
		rw("domifstat", "{A}", "eth0"),
		num(rw("dommemstat", "{A}")),
		num(rw("cpu-stats", "{A}")),
		num(rw("cpu-stats", "--total", "{A}")),
		rw("console", "{A}"),
		rw("send-process-signal", "{A}", "1", "SIGUSR2"),
		rw("desc", "{A}"),
		rw("metadata", "{A}", "http://example.org/compat"),
		rw("event", "--event", "lifecycle", "--timeout", "1", "--domain", "{A}"),
		ro("destroy", "{A}"),
		roSock("destroy", "{A}"),
		ro("setmem", "{A}", "65536"),
		roSock("setmem", "{A}", "65536"),
		ro("autostart", "{A}"),
		roSock("autostart", "{A}"),
		ro("undefine", "{A}"),
		roSock("undefine", "{A}"),
		ro("shutdown", "{A}"),
		roSock("shutdown", "{A}"),
		ro("reboot", "{A}"),
		roSock("reboot", "{A}"),
		ro("suspend", "{A}"),
		roSock("suspend", "{A}"),
		ro("start", "{A}"),
		roSock("start", "{A}"),
		ro("memtune", "{A}", "--hard-limit", "100000"),
		roSock("memtune", "{A}", "--hard-limit", "100000"),

		ro("desc", "{A}", "--config", "ro"),
		roSock("desc", "{A}", "--config", "ro"),
		roSock("metadata", "{A}", "http://example.org/ro", "--key", "ro", "--set", "<r/>", "--config"),
		ro("send-process-signal", "{A}", "1", "SIGUSR2"),
		roSock("send-process-signal", "{A}", "1", "SIGUSR2"),
		roSock("console", "{A}"),
		ro("create", "{F:c}"),
		roSock("create", "{F:c}"),
		roSock("setmaxmem", "{A}", "131072", "--config"),
		roSock("domifaddr", "--source", "agent", "{A}"),
		roSock("dumpxml", "--inactive", "{A}"),
		roSock("list", "--all", "--title"),
		roSock("event", "--event", "lifecycle", "--timeout", "1"),
		rw("memtune", "{A}", "--min-guarantee", "1000"),
		rw("dommemstat", "--period", "5", "{A}"),
		rw("metadata", "{A}", "http://example.org/nosuch"),
		rw("domiflist", "--inactive", "{A}"),
		num(rw("domblkstat", "--human", "{A}")),
		num(rw("cpu-stats", "--start", "0", "--count", "1", "{A}")),
		rw("cpu-stats", "--start", "99", "{A}"),
		rw("console", "--force", "{A}"),
		rw("console", "{A}", "--devname", "nosuch"),
		rw("desc", "--live", "{A}"),
		rw("event", "--all", "--timeout", "1"),
		rw("event", "--event", "reboot", "--timeout", "1", "--domain", "{A}"),
		rw("list", "--no-autostart", "--all"),
		rw("list", "--with-managed-save", "--all"),
		rw("list", "--without-snapshot", "--all"),
		rw("list", "--state-other", "--all"),
		rw("list", "--inactive", "--name"),
		rw("dominfo", uuidA),
		rw("domhostname", "{A}"),
		rw("domcontrol", "{A}"),
		rw("domjobinfo", "{A}"),
		rw("vcpucount", "{A}"),
		rw("vcpuinfo", "{A}"),
		rw("domtime", "{A}"),
		rw("domfsinfo", "{A}"),
		rw("domdisplay", "{A}"),
		rw("blkiotune", "{A}"),
		rw("numatune", "{A}"),
		rw("maxvcpus"),
		rw("domblklist", "{A}"),
		rw("domstats", "--state", "{A}"),
		num(rw("dommemstat", "--live", "{A}")),
		rw("domstats", "--state"),
		rw("iothreadinfo", "{A}"),
		rw("managedsave", "{A}"),
		rw("snapshot-list", "{A}"),
		rw("domdirtyrate-calc", "{A}"),
		rw("setvcpus", "{A}", "2", "--config"),
		roSock("dominfo", "{A}"),
		roSock("memtune", "{A}"),
		roSock("domstate", "--reason", "{A}"),
	}
	sched := []step{rw("schedinfo", "{A}"), roSock("schedinfo", "{A}"),
		ro("schedinfo", "{A}", "--set", "cpu_shares=100"), roSock("schedinfo", "{A}", "--set", "cpu_shares=100", "--config")}
	for _, st := range sched {
		if state == "inactive" {
			st = crashes(st)
		}
		s = append(s, st)
	}
	for i := range s {
		s[i].label = state
	}
	return s
}

func steps() []step {
	var s []step
	// Definitions and their error cases.
	for _, f := range []string{"empty", "not-xml", "truncated", "trunc-nonl", "bad-value", "bad-start", "init-empty", "mismatch", "bad-attr", "no-type", "not-domain", "line5",
		"kvm", "qemu", "hostdev", "graphics", "os-hvm", "no-name", "bad-uuid", "bad-mem", "bad-unit", "no-init"} {
		s = append(s, lbl(f, rw("define", "{F:"+f+"}")))
	}
	s = append(s,
		rw("define", "/nonexistent/compat.xml"),
		ro("define", "{F:a}"),
		roSock("define", "{F:a}"),
		rw("define", "{F:a}"),
		lbl("again", rw("define", "{F:a}")),
		rw("define", "{F:a-newuuid}"),
		rw("define", "{F:b-sameuuid}"),
		rw("define", "--validate", "{F:a}"),
		rw("list", "--all", "--name"),
	)
	// Unknown domains by name, uuid and id.
	for _, cmd := range [][]string{{"dominfo"}, {"start"}, {"destroy"}, {"undefine"}, {"dumpxml"}, {"domstate", "--reason"},
		{"suspend"}, {"resume"}, {"shutdown"}, {"reboot"}, {"autostart"}, {"memtune"}, {"schedinfo"}, {"domiflist"}, {"desc"}} {
		for _, who := range []string{"nosuch-compat", uuidUnknown, "987654"} {
			s = append(s, rw(append(append([]string{}, cmd...), who)...))
		}
	}
	for _, cmd := range [][]string{{"dommemstat"}, {"cpu-stats"}, {"domifaddr"}, {"domblkstat"}, {"domifstat", "{W}", "eth0"},
		{"send-process-signal", "{W}", "1", "SIGUSR2"}, {"metadata", "{W}", "http://example.org/compat"}, {"setmem", "{W}", "65536"},
		{"setmaxmem", "{W}", "65536"}, {"console"}, {"event", "--timeout", "1", "--domain"}, {"dumpxml", "--inactive"}, {"domiflist", "--inactive"}} {
		for _, who := range []string{"nosuch-compat", uuidUnknown} {
			args := append([]string{}, cmd...)
			if i := indexOf(args, "{W}"); i >= 0 {
				args[i] = who
			} else {
				args = append(args, who)
			}
			s = append(s, rw(args...))
		}
	}
	s = append(s, rw("event", "--event", "nosuch", "--timeout", "1"), rw("event", "--timeout", "1", "--event", "lifecycle", "--domain", "987654"))
	s = append(s, rw("domname", "987654"), rw("domname", uuidUnknown), rw("domuuid", "nosuch-compat"), rw("domid", "nosuch-compat"),
		rw("domuuid", "{A}"), rw("domname", uuidA), rw("domid", "{A}"))

	// A, defined and shut off.
	s = append(s, perDomain("inactive")...)
	for _, c := range [][]string{{"destroy"}, {"shutdown"}, {"reboot"}, {"suspend"}, {"resume"},
		{"setmem", "--live", "{A}", "65536"}, {"setmaxmem", "--live", "{A}", "200000"}, {"memtune", "--hard-limit", "100000", "--live"},
		{"domifaddr", "--source", "arp"}, {"send-process-signal", "{A}", "1", "SIGTERM"}} {
		args := append([]string{}, c...)
		if len(c) == 1 || c[0] == "memtune" || c[0] == "domifaddr" {
			args = append(args, "{A}")
		}
		s = append(s, lbl("inactive", rw(args...)))
	}
	s = append(s,
		lbl("inactive", rw("setmem", "{A}", "65536")),
		lbl("inactive", rw("setmem", "--config", "{A}", "65536")),
		lbl("inactive", rw("setmaxmem", "--config", "{A}", "131072")),
		lbl("inactive", rw("setmem", "--config", "{A}", "9999999")),
		lbl("inactive", rw("memtune", "{A}", "--hard-limit", "200000", "--soft-limit", "100000", "--config")),
		lbl("inactive-tuned", rw("memtune", "{A}")),
		lbl("inactive", rw("autostart", "{A}")),
		lbl("autostart", rw("dominfo", "{A}")),
		lbl("autostart", rw("list", "--all", "--autostart")),
		lbl("inactive", rw("autostart", "--disable", "{A}")),
		lbl("inactive", rw("desc", "{A}", "--config", "compat description")),
		lbl("inactive", rw("desc", "{A}", "--config", "--title", "compat title")),
		lbl("described", rw("desc", "{A}")),
		lbl("described", rw("desc", "--title", "{A}")),
		lbl("described", rw("list", "--all", "--title")),
		lbl("inactive", rw("metadata", "{A}", "http://example.org/compat", "--key", "cmp", "--set", "<v a='1'/>", "--config")),
		lbl("described", rw("metadata", "{A}", "http://example.org/compat")),
		lbl("described", rw("dumpxml", "{A}")),
		lbl("inactive", rw("metadata", "{A}", "http://example.org/compat", "--set", "<v/>", "--config")),
		lbl("inactive", rw("metadata", "{A}", "--uri", "http://example.org/other", "--edit")),
		// Flags the LXC driver does not take.
		lbl("inactive", rw("start", "--paused", "{A}")),
		lbl("inactive", rw("start", "--force-boot", "{A}")),
		lbl("inactive", rw("start", "--bypass-cache", "{A}")),
		lbl("inactive", rw("undefine", "--managed-save", "{A}")),
		lbl("transient", rw("list", "--all", "--persistent")),
		lbl("transient", rw("dominfo", "{A}")),
		lbl("transient", rw("define", "{F:a}")),
		lbl("inactive", rw("undefine", "--nvram", "{A}")),
		lbl("inactive", rw("dumpxml", "--update-cpu", "{A}")),
		lbl("inactive", rw("dumpxml", "--migratable", "{A}")),
		lbl("inactive", rw("dumpxml", "--xpath", "/domain/name", "{A}")),
		// Bogus URIs.
		uri("-c", "lxc+unix:///session?socket={SOCK}", "list"),
		uri("-c", "lxc+unix:///bogus?socket={SOCK}", "list"),
		uri("-c", "lxc+unix:///?socket={SOCK}", "list"),
		uri("-c", "qemu+unix:///system?socket={SOCK}", "list"),
		uri("-c", "lxc+unix:///system?socket={SOCK}.nope", "list"),
		uri("-c", "lxc+unix:///system?socket={RO}", "-r", "list", "--all", "--name"),
		uri("-c", "lxc+unix:///system?socket={SOCK}&nosuch=1", "list", "--name"),
	)

	// Lifecycle events of a start, suspend, resume, metadata change and
	// destroy, as a client that listens to every event id sees them.
	watch := bg("event", "--all", "--loop", "--timeout", "8")
	s = append(s,
		force("destroy", "{A}"), // started above by start --force-boot
		watch,
		pause(2*time.Second),
		force("start", "{A}"),
		pause(time.Second),
		force("suspend", "{A}"),
		force("resume", "{A}"),
		force("desc", "{A}", "--live", "events"),
		force("destroy", "{A}"),
		collect(watch),
	)

	// A running.
	s = append(s,
		rw("start", "{A}"),
		lbl("running", rw("start", "{A}")),
		pause(time.Second),
		lbl("running", rw("define", "{F:a}")),
	)
	s = append(s, perDomain("running")...)
	s = append(s,
		lbl("running", rw("setmem", "{A}", "65536")),
		lbl("running", rw("setmem", "--live", "{A}", "999999999")),
		lbl("running", rw("setmaxmem", "{A}", "131072")),
		lbl("running", rw("setmaxmem", "--live", "{A}", "131072")),
		lbl("running-setmem", num(rw("dominfo", "{A}"))),
		lbl("running", rw("memtune", "{A}", "--hard-limit", "300000", "--live")),
		lbl("running-tuned", rw("memtune", "{A}")),
		lbl("running", rw("schedinfo", "{A}", "--set", "cpu_shares=2048", "--live")),
		lbl("running-tuned", rw("schedinfo", "{A}")),
		lbl("running", rw("schedinfo", "{A}", "--set", "nosuch=1")),
		lbl("running", rw("domifstat", "{A}", "vnet999")),
		lbl("running", rw("domblkstat", "{A}", "sda")),
		lbl("running", rw("domifaddr", "--source", "agent", "{A}")),
		lbl("running", rw("send-process-signal", "{A}", "999999", "SIGUSR2")),
		lbl("running", rw("send-process-signal", "{A}", "1", "SIGNOPE")),
		lbl("running", rw("dominfo", "{ID}")),
		lbl("running", rw("domname", "{ID}")),
		lbl("running", rw("domstate", "--reason", "{ID}")),
		lbl("running", rw("shutdown", "--mode", "acpi", "{A}")),
		lbl("running", rw("reboot", "--mode", "acpi", "{A}")),
		lbl("running", rw("resume", "{A}")),
		rw("suspend", "{A}"),
		lbl("paused", rw("suspend", "{A}")),
	)
	s = append(s, perDomain("paused")...)
	s = append(s,
		rw("resume", "{A}"),
		lbl("resumed", rw("domstate", "--reason", "{A}")),
		lbl("resumed", rw("list")),
		pause(500*time.Millisecond),
		rw("shutdown", "{A}"),
		waitFor("shut off"),
		force("destroy", "{A}"),
		lbl("after-shutdown", rw("domstate", "--reason", "{A}")),
		lbl("after-shutdown", rw("list", "--all")),
		lbl("restart", rw("start", "{A}")),
		pause(time.Second),
		rw("reboot", "{A}"),
		pause(2*time.Second),
		lbl("rebooted", rw("domstate", "--reason", "{A}")),
		rw("destroy", "{A}"),
		lbl("after-destroy", rw("domstate", "--reason", "{A}")),
		lbl("after-destroy", rw("destroy", "{A}")),
		// Transient domains.
		rw("create", "{F:c}"),
		lbl("transient", rw("create", "{F:c}")),
		lbl("transient", rw("dominfo", "{C}")),
		lbl("transient", rw("list", "--transient")),
		lbl("transient", rw("autostart", "{C}")),
		lbl("transient", rw("dumpxml", "--inactive", "{C}")),
		lbl("transient", rw("destroy", "--graceful", "{C}")),
		lbl("transient", rw("destroy", "{C}")),
		lbl("gone", rw("dominfo", "{C}")),
		// Undefine.
		rw("undefine", "{A}"),
		lbl("undefined", rw("undefine", "{A}")),
		lbl("undefined", rw("list", "--all")),
	)
	return s
}

func indexOf(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}
