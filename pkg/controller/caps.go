package controller

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// capNames maps libvirt's capability names (<features><capabilities>) to
// the kernel's numbers.
var capNames = map[string]int{
	"audit_control": unix.CAP_AUDIT_CONTROL, "audit_write": unix.CAP_AUDIT_WRITE,
	"block_suspend": unix.CAP_BLOCK_SUSPEND, "chown": unix.CAP_CHOWN,
	"dac_override": unix.CAP_DAC_OVERRIDE, "dac_read_search": unix.CAP_DAC_READ_SEARCH,
	"fowner": unix.CAP_FOWNER, "fsetid": unix.CAP_FSETID, "ipc_lock": unix.CAP_IPC_LOCK,
	"ipc_owner": unix.CAP_IPC_OWNER, "kill": unix.CAP_KILL, "lease": unix.CAP_LEASE,
	"linux_immutable": unix.CAP_LINUX_IMMUTABLE, "mac_admin": unix.CAP_MAC_ADMIN,
	"mac_override": unix.CAP_MAC_OVERRIDE, "mknod": unix.CAP_MKNOD, "net_admin": unix.CAP_NET_ADMIN,
	"net_bind_service": unix.CAP_NET_BIND_SERVICE, "net_broadcast": unix.CAP_NET_BROADCAST,
	"net_raw": unix.CAP_NET_RAW, "setgid": unix.CAP_SETGID, "setfcap": unix.CAP_SETFCAP,
	"setpcap": unix.CAP_SETPCAP, "setuid": unix.CAP_SETUID, "sys_admin": unix.CAP_SYS_ADMIN,
	"sys_boot": unix.CAP_SYS_BOOT, "sys_chroot": unix.CAP_SYS_CHROOT, "sys_module": unix.CAP_SYS_MODULE,
	"sys_nice": unix.CAP_SYS_NICE, "sys_pacct": unix.CAP_SYS_PACCT, "sys_ptrace": unix.CAP_SYS_PTRACE,
	"sys_rawio": unix.CAP_SYS_RAWIO, "sys_resource": unix.CAP_SYS_RESOURCE, "sys_time": unix.CAP_SYS_TIME,
	"sys_tty_config": unix.CAP_SYS_TTY_CONFIG, "syslog": unix.CAP_SYSLOG, "wake_alarm": unix.CAP_WAKE_ALARM,
}

// defaultCapDrop is what libvirt's default policy takes away: host-wide
// powers that no namespace confines. sys_boot stays: in a pid namespace
// reboot(2) only ends the container.
var defaultCapDrop = []int{unix.CAP_SYS_MODULE, unix.CAP_SYS_TIME, unix.CAP_MKNOD, unix.CAP_AUDIT_CONTROL, unix.CAP_MAC_ADMIN}

// capDropSet computes which capabilities leave the bounding set.
func capDropSet(s *Spec) (map[int]bool, error) {
	last := lastCap()
	drop := map[int]bool{}
	switch s.CapPolicy {
	case "", "default":
		for _, c := range defaultCapDrop {
			drop[c] = true
		}
	case "allow":
	case "deny":
		for c := 0; c <= last; c++ {
			drop[c] = true
		}
	default:
		return nil, fmt.Errorf("unknown capabilities policy %q", s.CapPolicy)
	}
	for _, set := range []struct {
		names []string
		drop  bool
	}{{s.CapsOn, false}, {s.CapsOff, true}} {
		for _, n := range set.names {
			c, ok := capNames[strings.ToLower(n)]
			if !ok {
				return nil, fmt.Errorf("unknown capability %q", n)
			}
			drop[c] = set.drop
		}
	}
	return drop, nil
}

func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return unix.CAP_LAST_CAP
}

// dropCapabilities shrinks the bounding set of the calling thread, which
// must be the one that execs: root's capabilities after exec are the
// bounding set, and nothing can bring a dropped one back.
func dropCapabilities(drop map[int]bool) error {
	for c, d := range drop {
		if !d {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("drop capability %d: %w", c, err)
		}
	}
	return nil
}
