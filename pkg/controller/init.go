package controller

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/opencontainers/cgroups"
	"github.com/virtlxcd/virtlxcd/pkg/ptyrelay"
	"golang.org/x/sys/unix"
)

// initConfig is what the controller sends to the container-side stage.
type initConfig struct {
	Spec Spec   `json:"spec"`
	Root string `json:"root"` // empty directory for a host root to be mounted on
}

// runInit is the container-side stage: PID 1 of the new namespaces, still
// running our code. It builds the container's file system view, hands the
// console masters to the controller, waits for the network, and execs the
// init. Errors go back over the sync socket (fd 3); success closes it.
func runInit() int {
	// Capability drops and credentials are per thread: keep this goroutine
	// on the thread that will exec.
	runtime.LockOSThread()
	fail := func(err error) int {
		_, _ = unix.Write(3, []byte(err.Error()))
		return 1
	}
	buf := make([]byte, 1<<20)
	n, err := unix.Read(3, buf)
	if err != nil || n <= 0 {
		return 1
	}
	var cfg initConfig
	if err := json.Unmarshal(buf[:n], &cfg); err != nil {
		return fail(fmt.Errorf("parse init config: %w", err))
	}
	b := &builder{spec: &cfg.Spec, root: cfg.Root, userns: len(cfg.Spec.UIDMap) > 0}
	unix.Umask(0)
	if err := b.build(); err != nil {
		return fail(err)
	}
	unix.Umask(0o022)
	var fds []int
	for i := range b.masters {
		fds = append(fds, int(b.masters[i].Fd()), int(b.slaves[i].Fd()))
	}
	if err := unix.Sendmsg(3, []byte("ready"), unix.UnixRights(fds...), nil, 0); err != nil {
		return fail(fmt.Errorf("send consoles: %w", err))
	}
	for _, m := range b.masters {
		m.Close()
	}
	n, err = unix.Read(3, buf)
	if err != nil || n <= 0 || string(buf[:n]) != "go" {
		return 1 // the controller gave up
	}
	if err := b.exec(); err != nil {
		return fail(err)
	}
	return 0
}

type builder struct {
	spec    *Spec
	root    string
	userns  bool
	masters []*os.File
	slaves  []*os.File
}

func (b *builder) build() error {
	s := b.spec
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	src, rootRO := "/", false
	for _, fs := range s.Filesystems {
		if fs.Target == "/" {
			if fs.Type != "mount" {
				return fmt.Errorf("root filesystem of type %s is not supported", fs.Type)
			}
			src, rootRO = fs.Source, fs.ReadOnly
		}
	}
	// pivot_root needs the new root to be a mount point; a recursive bind
	// also brings the mounts below the root along. A root directory is
	// bound onto itself: with a user namespace, the mapped root may not
	// be allowed to reach the state directory, but it can reach its own
	// root file system. The host root needs the spare directory.
	if src != "/" {
		b.root = src
	}
	if err := unix.Mount(src, b.root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind root %s: %w", src, err)
	}
	for _, fs := range s.Filesystems {
		if fs.Target == "/" {
			continue
		}
		if err := b.mountFS(fs); err != nil {
			return err
		}
	}
	if err := b.mountProcSys(); err != nil {
		return err
	}
	if err := b.mountDev(); err != nil {
		return err
	}
	if err := b.consoles(consoles(s)); err != nil {
		return err
	}
	if err := unix.Chdir(b.root); err != nil {
		return err
	}
	// Stack the old root under the new one and detach it: no directory
	// for the old root is needed inside the container.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if rootRO {
		if err := unix.Mount("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make root read-only: %w", err)
		}
	}
	if err := unix.Sethostname([]byte(hostname(s.Name))); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	return nil
}

// hostname derives the host name from the domain name as libvirt does:
// only letters, digits and '-' are kept, and a leading '-' is dropped.
func hostname(name string) string {
	var h []byte
	for _, c := range []byte(name) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			h = append(h, c)
		}
	}
	if len(h) > 0 && h[0] == '-' {
		h = h[1:]
	}
	if len(h) > 64 {
		h = h[:64]
	}
	return string(h)
}

// inRoot resolves p inside the new root without following symlinks out
// of it: the guest owns its file system and may have planted links.
func (b *builder) inRoot(p string) (string, error) {
	return securejoin.SecureJoin(b.root, p)
}

func (b *builder) mkdirIn(p string, mode os.FileMode) (string, error) {
	full, err := b.inRoot(p)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(full, mode); err != nil {
		return "", fmt.Errorf("create mount point %s: %w", p, err)
	}
	return full, nil
}

func (b *builder) mountFS(fs Filesystem) error {
	var target string
	var err error
	switch fs.Type {
	case "mount", "bind":
		src := fs.Source
		if fs.Type == "bind" {
			if src, err = b.inRoot(fs.Source); err != nil {
				return err
			}
		}
		st, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("filesystem source %s: %w", fs.Source, err)
		}
		if st.IsDir() {
			target, err = b.mkdirIn(fs.Target, 0o755)
		} else {
			target, err = b.touchIn(fs.Target)
		}
		if err != nil {
			return err
		}
		if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", fs.Source, fs.Target, err)
		}
	case "ram":
		if target, err = b.mkdirIn(fs.Target, 0o755); err != nil {
			return err
		}
		opts := "mode=755"
		if fs.UsageKiB > 0 {
			opts += fmt.Sprintf(",size=%dk", fs.UsageKiB)
		}
		if err := unix.Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return fmt.Errorf("tmpfs on %s: %w", fs.Target, err)
		}
	default:
		return fmt.Errorf("cannot mount filesystem type %s", fs.Type)
	}
	if fs.ReadOnly {
		if err := remountRO(target, 0); err != nil {
			return fmt.Errorf("make %s read-only: %w", fs.Target, err)
		}
	}
	return nil
}

// remountRO makes the mount at target read-only, keeping the flags a
// user namespace locks (changing them would fail with EPERM).
func remountRO(target string, extra uintptr) error {
	var sfs unix.Statfs_t
	if err := unix.Statfs(target, &sfs); err != nil {
		return err
	}
	keep := uintptr(sfs.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_RELATIME | unix.MS_NODIRATIME)
	return unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|keep|extra, "")
}

func (b *builder) touchIn(p string) (string, error) {
	full, err := b.inRoot(p)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return "", err
	}
	f, err := os.OpenFile(full, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return "", fmt.Errorf("create mount point %s: %w", p, err)
	}
	f.Close()
	return full, nil
}

// fresh prepares a mount point for a new instance of a kernel file system:
// with the host root, the recursive bind brought the host's /proc, /sys
// and /dev along, and a second sysfs of the same network namespace cannot
// be stacked on its twin (EBUSY).
func (b *builder) fresh(p string, mode os.FileMode) (string, error) {
	full, err := b.mkdirIn(p, mode)
	if err != nil {
		return "", err
	}
	if err := unix.Unmount(full, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return "", fmt.Errorf("unmount inherited %s: %w", p, err)
	}
	return full, nil
}

func (b *builder) mountProcSys() error {
	proc, err := b.fresh("/proc", 0o555)
	if err != nil {
		return err
	}
	if err := unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	// Most sysctls are host-wide; like libvirt, keep them read-only.
	procSys := filepath.Join(proc, "sys")
	if err := unix.Mount(procSys, procSys, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind /proc/sys: %w", err)
	}
	if err := remountRO(procSys, 0); err != nil {
		return fmt.Errorf("make /proc/sys read-only: %w", err)
	}
	sys, err := b.fresh("/sys", 0o555)
	if err != nil {
		return err
	}
	// sysfs can only be mounted by the owner of the network namespace: a
	// container with a user namespace needs its own network (as libvirt).
	if err := unix.Mount("sysfs", sys, "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		if b.userns && errors.Is(err, unix.EPERM) {
			return errors.New("mount /sys: a user namespace needs a private network (<privnet/> or an interface)")
		}
		return fmt.Errorf("mount /sys: %w", err)
	}
	return b.mountCgroups(filepath.Join(sys, "fs/cgroup"))
}

const cgFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY

// mountCgroups shows the container its own cgroup (the namespace is rooted
// there), read-only, in the host's layout.
func (b *builder) mountCgroups(dir string) error {
	if cgroups.IsCgroup2UnifiedMode() {
		if err := unix.Mount("cgroup2", dir, "cgroup2", cgFlags, ""); err != nil {
			return fmt.Errorf("mount cgroup2: %w", err)
		}
		return nil
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755,size=64k"); err != nil {
		return fmt.Errorf("mount /sys/fs/cgroup: %w", err)
	}
	mounts, err := cgroups.GetCgroupMounts(false)
	if err != nil {
		return fmt.Errorf("list cgroup mounts: %w", err)
	}
	known := kernelControllers()
	for _, m := range mounts {
		name := filepath.Base(m.Mountpoint)
		var opt []string
		for _, ss := range m.Subsystems {
			if !known[ss] {
				// A named hierarchy without controllers (name=systemd).
				opt = append(opt, "none", "name="+ss)
				continue
			}
			opt = append(opt, ss)
		}
		opts := strings.Join(opt, ",")
		t := filepath.Join(dir, name)
		if err := os.Mkdir(t, 0o755); err != nil {
			return err
		}
		// A v1 hierarchy can be mounted again only with the same
		// controller set; a failure hides that one hierarchy but is not
		// worth failing the start for.
		if err := unix.Mount("cgroup", t, "cgroup", cgFlags, opts); err != nil {
			fmt.Fprintf(os.Stderr, "container: mount cgroup %s: %v\n", opts, err)
			os.Remove(t)
		}
	}
	if cgroups.IsCgroup2HybridMode() {
		t := filepath.Join(dir, "unified")
		if err := os.Mkdir(t, 0o755); err != nil {
			return err
		}
		if err := unix.Mount("cgroup2", t, "cgroup2", cgFlags, ""); err != nil {
			return fmt.Errorf("mount cgroup2: %w", err)
		}
	}
	if err := remountRO(dir, 0); err != nil {
		return fmt.Errorf("make /sys/fs/cgroup read-only: %w", err)
	}
	return nil
}

// kernelControllers lists the controllers in /proc/cgroups.
func kernelControllers() map[string]bool {
	out := map[string]bool{}
	b, err := os.ReadFile("/proc/cgroups")
	if err != nil {
		return out
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			out[f[0]] = true
		}
	}
	return out
}

// devNodes are the character devices every container gets.
var devNodes = []struct {
	name         string
	major, minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

var devLinks = [][2]string{
	{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
	{"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"},
}

func (b *builder) mountDev() error {
	dev, err := b.fresh("/dev", 0o755)
	if err != nil {
		return err
	}
	if err := unix.Mount("devfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=64k"); err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	for _, n := range devNodes {
		p := filepath.Join(dev, n.name)
		if !b.userns {
			if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
				return fmt.Errorf("mknod /dev/%s: %w", n.name, err)
			}
			continue
		}
		// mknod is refused in a user namespace; bind the host's node.
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+n.name, p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", n.name, err)
		}
	}
	for _, l := range devLinks {
		if err := os.Symlink(l[0], filepath.Join(dev, l[1])); err != nil {
			return err
		}
	}
	for _, d := range []string{"pts", "shm", "mqueue"} {
		if err := os.Mkdir(filepath.Join(dev, d), 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("shm", filepath.Join(dev, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	if err := unix.Mount("mqueue", filepath.Join(dev, "mqueue"), "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /dev/mqueue: %w", err)
	}
	opts := "newinstance,ptmxmode=0666,mode=0620"
	if !b.userns || mapped(b.spec.GIDMap, 5) {
		opts += ",gid=5"
	}
	if err := unix.Mount("devpts", filepath.Join(dev, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, opts); err != nil {
		return fmt.Errorf("mount /dev/pts: %w", err)
	}
	return nil
}

func mapped(m []IDMap, id uint32) bool {
	for _, e := range m {
		if id >= e.Start && id-e.Start < e.Count {
			return true
		}
	}
	return false
}

// consoles opens n ptys in the container's devpts: pts/0 becomes
// /dev/console and /dev/tty1, pts/i /dev/tty(i+1), as libvirt does.
func (b *builder) consoles(n int) error {
	dev := filepath.Join(b.root, "dev")
	for i := 0; i < n; i++ {
		m, s, err := ptyrelay.OpenPTY(filepath.Join(dev, "pts/ptmx"))
		if err != nil {
			return fmt.Errorf("console %d: %w", i, err)
		}
		b.masters, b.slaves = append(b.masters, m), append(b.slaves, s)
		pts := filepath.Join(dev, strings.TrimPrefix(s.Name(), "/dev/"))
		targets := []string{"tty" + strconv.Itoa(i+1)}
		if i == 0 {
			targets = append(targets, "console")
		}
		for _, t := range targets {
			p := filepath.Join(dev, t)
			if err := os.WriteFile(p, nil, 0o620); err != nil {
				return err
			}
			if err := unix.Mount(pts, p, "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("bind %s on /dev/%s: %w", s.Name(), t, err)
			}
		}
	}
	return nil
}

// exec turns this process into the container's init.
func (b *builder) exec() error {
	s := b.spec
	con := int(b.slaves[0].Fd())
	if err := unix.IoctlSetInt(con, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(con, fd, 0); err != nil {
			return fmt.Errorf("console on fd %d: %w", fd, err)
		}
	}
	if _, err := os.Stat(s.Init); err != nil {
		return fmt.Errorf("cannot find init path '%s' relative to container root: %w", s.Init, err)
	}
	uid, gid, err := credentials(s.InitUser, s.InitGroup)
	if err != nil {
		return err
	}
	if s.InitUser != "" {
		// Job control in the init's shell needs it to own its terminal.
		if err := unix.Fchown(con, uid, -1); err != nil {
			return fmt.Errorf("give the console to %s: %w", s.InitUser, err)
		}
	}
	drop, err := capDropSet(s)
	if err != nil {
		return err
	}
	if err := dropCapabilities(drop); err != nil {
		return err
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid %d: %w", uid, err)
	}
	dir := s.InitDir
	if dir == "" {
		dir = "/"
	}
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("chdir %s: %w", dir, err)
	}
	env := []string{
		"PATH=/bin:/sbin", "TERM=linux", "container=lxc-libvirt", "HOME=/",
		"container_uuid=" + s.UUID, "LIBVIRT_LXC_UUID=" + s.UUID, "LIBVIRT_LXC_NAME=" + s.Name,
	}
	env = append(env, s.InitEnv...)
	if s.Cmdline != "" {
		env = append(env, "LIBVIRT_LXC_CMDLINE="+s.Cmdline)
	}
	// Success closes the sync socket: that is how the controller learns
	// that the init runs.
	unix.CloseOnExec(3)
	argv := append([]string{s.Init}, s.InitArgs...)
	if err := unix.Exec(s.Init, argv, env); err != nil {
		return fmt.Errorf("exec %s: %w", s.Init, err)
	}
	return nil
}

// credentials resolves <inituser>/<initgroup> ("+N" or a name from the
// container's /etc/passwd and /etc/group).
func credentials(user, group string) (uid, gid int, err error) {
	if user != "" {
		if n, ok := strings.CutPrefix(user, "+"); ok {
			if uid, err = strconv.Atoi(n); err != nil {
				return 0, 0, fmt.Errorf("bad user %q", user)
			}
		} else {
			f, err := lookup("/etc/passwd", user)
			if err != nil {
				return 0, 0, fmt.Errorf("user %s: %w", user, err)
			}
			uid, _ = strconv.Atoi(f[2])
			gid, _ = strconv.Atoi(f[3])
		}
	}
	if group != "" {
		if n, ok := strings.CutPrefix(group, "+"); ok {
			if gid, err = strconv.Atoi(n); err != nil {
				return 0, 0, fmt.Errorf("bad group %q", group)
			}
		} else {
			f, err := lookup("/etc/group", group)
			if err != nil {
				return 0, 0, fmt.Errorf("group %s: %w", group, err)
			}
			gid, _ = strconv.Atoi(f[2])
		}
	}
	return uid, gid, nil
}

func lookup(file, name string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 4 && fields[0] == name {
			return fields, nil
		}
	}
	return nil, errors.New("not found")
}
