#!/bin/sh
# Runs as PID 1 of fresh pid, mount, uts, ipc and net namespaces (started by
# sandbox.go) and turns itself into systemd on a private overlay root.
# Stage "enter" moves into the sandbox cgroup and unshares the cgroup namespace
# so that systemd sees that cgroup as its root; stage "root" builds the root
# and execs systemd. Nothing here may reach the host: every mount is made in
# this private mount namespace, the overlay's upper layer lives on a tmpfs.
set -eu
T=$SANDBOX_DIR
case "${1:-enter}" in
enter)
	mount --make-rprivate /
	for d in ${SANDBOX_CGROUPS_V1:-}; do
		echo 0 >"$d/cgroup.procs"
	done
	if [ -n "${SANDBOX_CGROUP:-}" ]; then
		echo 0 >"$SANDBOX_CGROUP/cgroup.procs"
		exec unshare --cgroup -- /bin/sh "$0" root
	fi
	exec /bin/sh "$0" root
	;;
esac

M=$T/mnt
R=$M/root
mount -t tmpfs -o mode=0755 sandbox "$M"
mkdir -p "$M/upper" "$M/work" "$R"
mount -t overlay overlay -o "lowerdir=/,upperdir=$M/upper,workdir=$M/work" "$R"

# Kernel interfaces: a fresh procfs with the global knobs read-only, a
# read-only sysfs and the sandbox cgroup as the only writable cgroup tree.
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
for p in sys sysrq-trigger; do
	[ -e "$R/proc/$p" ] || continue
	mount --bind "$R/proc/$p" "$R/proc/$p"
	mount -o remount,bind,ro "$R/proc/$p"
done
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
if [ -n "${SANDBOX_V1_MOUNTS:-}" ]; then
	# Hybrid: v1 controllers in their own directories, cgroup2 in unified.
	mount -t tmpfs -o mode=0755,nosuid,nodev,noexec cgroup "$R/sys/fs/cgroup"
	for m in $SANDBOX_V1_MOUNTS; do
		mkdir "$R/sys/fs/cgroup/${m%%:*}"
		mount -t cgroup -o "nosuid,nodev,noexec,${m#*:}" cgroup "$R/sys/fs/cgroup/${m%%:*}"
	done
	mkdir "$R/sys/fs/cgroup/unified"
	mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup/unified"
else
	mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup"
fi

# A minimal /dev: the harmless character devices, private ptys, and a
# console that is a plain file on the host side for the test's log.
mount -t tmpfs -o mode=0755,nosuid,size=1m dev "$R/dev"
for n in null zero full random urandom tty; do
	: >"$R/dev/$n"
	mount --bind "/dev/$n" "$R/dev/$n"
done
: >"$R/dev/console"
mount --bind "$T/console.log" "$R/dev/console"
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
mount -t tmpfs -o mode=1777,nosuid,nodev shm "$R/dev/shm"

mount -t tmpfs -o mode=0755,nosuid,nodev run "$R/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmp "$R/tmp"

# systemd sees only the units the harness chose: the vendor and admin unit
# directories and the generator directory are fresh tmpfs mounts.
for d in /usr/lib/systemd/system /etc/systemd/system /usr/lib/systemd/system-generators; do
	mount -t tmpfs -o mode=0755 units "$R$d"
done
cp -a "$T/units/." "$R/usr/lib/systemd/system/"
cp -a "$T/stage/." "$R/"

mkdir -p "$R/.oldroot"
cd "$R"
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot
exec env -i container=virtlxcd-sandbox PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	/lib/systemd/systemd --system --unit=sandbox.target --log-target=console --log-color=no --show-status=no
