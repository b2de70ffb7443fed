// Package controller runs one container under a per-domain controller
// process: the daemon re-executes its own binary, which creates the
// namespaces, cgroups, console and network devices, execs the container's
// init and supervises it. The controller outlives daemon restarts; the
// daemon finds it again through the files it keeps in the state directory.
package controller

// Spec is everything the controller needs to start a container. The LXC
// driver derives it from the domain XML; it is plain data so that it can be
// handed to the re-executed controller as JSON.
type Spec struct {
	Name string `json:"name"`
	UUID string `json:"uuid"` // canonical 8-4-4-4-12 form

	// Init is the program exec'd as PID 1, with its arguments, extra
	// environment ("NAME=value"), working directory and credentials
	// (user/group names or "+N" numeric ids, as in <inituser>).
	Init      string   `json:"init"`
	InitArgs  []string `json:"init_args,omitempty"`
	InitEnv   []string `json:"init_env,omitempty"`
	InitDir   string   `json:"init_dir,omitempty"`
	InitUser  string   `json:"init_user,omitempty"`
	InitGroup string   `json:"init_group,omitempty"`
	Cmdline   string   `json:"cmdline,omitempty"` // LIBVIRT_LXC_CMDLINE

	// Filesystems in document order. One with Target "/" is the root;
	// without one the host root is used, as libvirt does.
	Filesystems []Filesystem `json:"filesystems,omitempty"`

	// IDMap non-empty means a user namespace.
	UIDMap []IDMap `json:"uid_map,omitempty"`
	GIDMap []IDMap `json:"gid_map,omitempty"`

	// Resources. Zero means "not set" for every field.
	MemoryKiB        uint64 `json:"memory_kib,omitempty"`          // <memory>: used as the limit when no hard_limit
	HardLimitKiB     uint64 `json:"hard_limit_kib,omitempty"`      // <memtune><hard_limit>
	SoftLimitKiB     uint64 `json:"soft_limit_kib,omitempty"`      // <memtune><soft_limit>
	SwapHardLimitKiB uint64 `json:"swap_hard_limit_kib,omitempty"` // <memtune><swap_hard_limit>
	CPUShares        uint64 `json:"cpu_shares,omitempty"`
	CPUPeriod        uint64 `json:"cpu_period,omitempty"`
	CPUQuota         int64  `json:"cpu_quota,omitempty"`
	PidsLimit        int64  `json:"pids_limit,omitempty"`
	Partition        string `json:"partition,omitempty"` // cgroup partition, default "/machine"
	// <blkiotune>: proportional weight and per-device settings.
	BlkioWeight  uint64        `json:"blkio_weight,omitempty"`
	BlkioDevices []BlkioDevice `json:"blkio_devices,omitempty"`

	// Network. No interfaces and PrivNet false = share the host's netns.
	PrivNet    bool        `json:"privnet,omitempty"`
	Interfaces []Interface `json:"interfaces,omitempty"`

	// Consoles is the number of <console type='pty'> devices (>= 1).
	Consoles int `json:"consoles"`

	// Capabilities of the container's root, from <features><capabilities
	// policy=…><NAME state='on|off'/>: CapPolicy "" or "default" drops
	// libvirt's default set (sys_module, sys_time, mknod, audit_control,
	// mac_admin), "allow" keeps everything, "deny" drops everything; then
	// CapsOn/CapsOff (libvirt's lower-case names, e.g. "sys_time") override.
	CapPolicy string   `json:"cap_policy,omitempty"`
	CapsOn    []string `json:"caps_on,omitempty"`
	CapsOff   []string `json:"caps_off,omitempty"`
}

// Filesystem is one <filesystem>.
type Filesystem struct {
	Type     string `json:"type"` // "mount" (bind a host dir), "bind" (bind inside the container), "ram" (tmpfs)
	Source   string `json:"source,omitempty"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readonly,omitempty"`
	UsageKiB uint64 `json:"usage_kib,omitempty"` // ram only
}

// IDMap is one <uid>/<gid> line of <idmap>.
type IDMap struct {
	Start  uint32 `json:"start"`
	Target uint32 `json:"target"`
	Count  uint32 `json:"count"`
}

// Interface is one <interface type='bridge'|'ethernet'>.
type Interface struct {
	Type     string   `json:"type"`                // "bridge" or "ethernet"
	Bridge   string   `json:"bridge,omitempty"`    // bridge only
	HostDev  string   `json:"host_dev,omitempty"`  // <target dev>; "" = the controller picks vnetN
	GuestDev string   `json:"guest_dev,omitempty"` // <guest dev>; "" = ethN by position
	MAC      string   `json:"mac"`
	IPs      []IPAddr `json:"ips,omitempty"`
	Routes   []Route  `json:"routes,omitempty"`
	LinkDown bool     `json:"link_down,omitempty"` // <link state='down'/>
}

// IPAddr is an <ip address prefix [peer]>.
type IPAddr struct {
	Address string `json:"address"`
	Prefix  int    `json:"prefix"`
	Peer    string `json:"peer,omitempty"`
}

// Route is a <route address prefix gateway>.
type Route struct {
	Address string `json:"address"`
	Prefix  int    `json:"prefix"`
	Gateway string `json:"gateway"`
}

// BlkioDevice is one <blkiotune><device>; zero leaves a setting alone.
type BlkioDevice struct {
	Path      string `json:"path"`
	Weight    uint64 `json:"weight,omitempty"`
	ReadIOPS  uint64 `json:"read_iops,omitempty"`
	WriteIOPS uint64 `json:"write_iops,omitempty"`
	ReadBPS   uint64 `json:"read_bps,omitempty"`
	WriteBPS  uint64 `json:"write_bps,omitempty"`
}
