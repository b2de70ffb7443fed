package compat

// baseline is the count before the fixes: the same command lines against
// the tree at 7b35603 (this harness, none of its fixes).
const baseline = "Before the fixes (the same command lines against the tree at commit 7b35603, which has this harness and none of its fixes): 55 of 541 differed (measured before the transient domain got a uuid of its own, which made its creation fail on both sides), 45 of which are fixed now (listed below; a run fails if one comes back)."

// notes classifies the differences that stay, by step key. Steps marked
// with crashes() are added as intended when the run compares them.
var notes = map[string]note{
	"running: virsh domifaddr {A}":                {"intended", "libvirt answers the lease source through its network driver, which a daemon with only the LXC driver (libvirt's own virtlxcd, or this libvirtd) cannot reach without virtnetworkd; ours answers from the domain's own interfaces, an empty table here, which is what a full libvirt installation prints for a domain without interfaces."},
	"paused: virsh domifaddr {A}":                 {"intended", "as for the running domain: the lease source needs libvirt's network driver."},
	"running: virsh domhostname {A}":              {"intended", "libvirt 9.0's LXC driver reads the hostname from the network driver's DHCP leases, which this libvirtd cannot reach; ours answers the guest's hostname."},
	"paused: virsh domhostname {A}":               {"intended", "as for the running domain: libvirt asks the network driver."},
	"transient: virsh destroy --graceful {C}":     {"intended", "ours takes VIR_DOMAIN_DESTROY_GRACEFUL (SIGTERM only, no SIGKILL), which libvirt 9.0's LXC driver refuses; kept as an extension."},
	"transient: virsh destroy {C}":                {"intended", "follows from the graceful destroy above, which already ended ours' transient domain."},
	"transient: virsh dumpxml --inactive {C}":     {"left", "libvirt formats a running transient domain's definition with the INACTIVE flag and keeps the console's alias; ours strips every live-only part, the alias included. Left: StripLive also cleans user-supplied aliases at define time, so the fix needs a separate inactive view for transient domains."},
	"wait until domstate reads shut off (20 s)":   {"intended", "libvirtd 9.0 answers \"is being shutdown\", yet its busybox init, which exits on SIGTERM, is still running 20 s later on this host (also seen by hand outside this run). libvirt signals the init only when its initctl probe, run in the container's mount namespace, finds no pipe, so on this host the probe must report one the guest root does not have; ours writes to a pipe that exists in the guest and otherwise sends SIGTERM, so the guest shuts down."},
	"after-shutdown: virsh domstate --reason {A}": {"intended", "follows from the shutdown above: libvirtd's domain had to be destroyed to realign the two daemons, so its reason reads 'destroyed'."},
}

// fixed are differences this audit removed, by step key, with what was
// wrong: a run in which one differs again fails.
var fixed = map[string]string{
	"inactive: virsh domstats --state {A}":                            "the refusal names virDomainListGetStats when domains are listed",
	"running: virsh domstats --state {A}":                             "the refusal names virDomainListGetStats when domains are listed",
	"paused: virsh domstats --state {A}":                              "the refusal names virDomainListGetStats when domains are listed",
	"bad-attr: virsh define {F:bad-attr}":                             "libxml2's wording and dash marker for a '<' inside an attribute value",
	"bad-mem: virsh define {F:bad-mem}":                               "XML error naming the XPath ./memory[1] and the value, not a Go strconv error",
	"bad-start: virsh define {F:bad-start}":                           "libxml2's wording (StartTag: invalid element name) and marker",
	"bad-value: virsh define {F:bad-value}":                           "libxml2's wording (AttValue) and marker for an unquoted attribute value",
	"described: virsh dumpxml {A}":                                    "metadata indented as libvirt lays it out",
	"empty: virsh define {F:empty}":                                   "'(null)' context line for an empty document",
	"graphics: virsh define {F:graphics}":                             "refused: LXC has no default video model",
	"inactive: virsh (ro socket, no -r) domifaddr --source agent {A}": "agent source refused on a read-only connection before the state check",
	"inactive: virsh (ro socket, no -r) dumpxml --inactive {A}":       "no default <resource> partition in the next-boot definition; &apos; in text",
	"inactive: virsh -r (ro socket) dumpxml {A}":                      "no default <resource> partition in an inactive definition; &apos; in text",
	"inactive: virsh dumpxml --inactive {A}":                          "no default <resource> partition in the next-boot definition; &apos; in text",
	"inactive: virsh dumpxml --migratable {A}":                        "--migratable formats the live definition (id, live devices)",
	"inactive: virsh dumpxml --security-info {A}":                     "no default <resource> partition in an inactive definition; &apos; in text",
	"inactive: virsh dumpxml --update-cpu {A}":                        "unsupported flags message without the 'invalid argument:' prefix",
	"inactive: virsh dumpxml {A}":                                     "no default <resource> partition in an inactive definition; &apos; in text",
	"inactive: virsh start --paused {A}":                              "unsupported flags message without the 'invalid argument:' prefix",
	"inactive: virsh undefine --nvram {A}":                            "unsupported flags message without the 'invalid argument:' prefix",
	"init-empty: virsh define {F:init-empty}":                         "an empty <init> is refused: libvirt 9.0 has no default init for containers",
	"kvm: virsh define {F:kvm}":                                       "capabilities error lists ostype, arch and domaintype, trailing space included",
	"line5: virsh define {F:line5}":                                   "dash marker up to the parser cursor",
	"mismatch: virsh define {F:mismatch}":                             "dash marker up to the parser cursor",
	"no-init: virsh define {F:no-init}":                               "a missing <init> is refused: libvirt 9.0 has no default init for containers",
	"no-type: virsh define {F:no-type}":                               "INTERNAL_ERROR, not XML_ERROR",
	"not-domain: virsh define {F:not-domain}":                         "libvirt's wording for a wrong root element",
	"not-xml: virsh define {F:not-xml}":                               "'Start tag expected' on line 1 with the source line, not 'Premature end of data' on line 2",
	"os-hvm: virsh define {F:os-hvm}":                                 "capabilities error for ostype hvm lists arch and domaintype only",
	"paused: virsh (ro socket, no -r) domifaddr --source agent {A}":   "agent source refused on a read-only connection before the state check",
	"paused: virsh (ro socket, no -r) dumpxml --inactive {A}":         "no default <resource> partition in the next-boot definition; &apos; in text",
	"paused: virsh -r (ro socket) dumpxml {A}":                        "live definition: metadata indented, &apos; in text, no filesystem alias",
	"paused: virsh dumpxml --inactive {A}":                            "no default <resource> partition in the next-boot definition; &apos; in text",
	"paused: virsh dumpxml --security-info {A}":                       "live definition: metadata indented, &apos; in text, no filesystem alias",
	"paused: virsh dumpxml {A}":                                       "live definition: metadata indented, &apos; in text, no filesystem alias",
	"qemu: virsh define {F:qemu}":                                     "capabilities error lists ostype, arch and domaintype, trailing space included",
	"running: virsh (ro socket, no -r) domifaddr --source agent {A}":  "agent source refused on a read-only connection before the state check",
	"running: virsh (ro socket, no -r) dumpxml --inactive {A}":        "no default <resource> partition in the next-boot definition; &apos; in text",
	"running: virsh -r (ro socket) dumpxml {A}":                       "live definition: metadata indented, &apos; in text, no filesystem alias",
	"running: virsh dumpxml --inactive {A}":                           "no default <resource> partition in the next-boot definition; &apos; in text",
	"running: virsh dumpxml --security-info {A}":                      "live definition: metadata indented, &apos; in text, no filesystem alias",
	"running: virsh dumpxml {A}":                                      "live definition: metadata indented, &apos; in text, no filesystem alias",
	"running: virsh reboot --mode acpi {A}":                           "unsupported flags message without the 'invalid argument:' prefix",
	"running: virsh shutdown --mode acpi {A}":                         "unsupported flags message without the 'invalid argument:' prefix",
	"trunc-nonl: virsh define {F:trunc-nonl}":                         "context is the last line with a marker when the document does not end in a newline",
}
