#!/bin/sh
# Run virtlxcd in the foreground on a self-contained tree below $2: its
# config, sockets, PID file and domain store live there, not in /etc or /run.
set -eu
bin=$(realpath "$1")
dir=$(realpath -m "$2")
mkdir -p "$dir/etc/libvirt/lxc/autostart" "$dir/run/libvirt" "$dir/var/log/libvirt/lxc"
conf="$dir/etc/libvirt/virtlxcd.conf"
if [ ! -e "$conf" ]; then
	cat >"$conf" <<EOC
# virtlxcd.conf for a local run (created by "make run")
unix_sock_dir = "$dir/run/libvirt"
unix_sock_rw_perms = "0700"
log_level = 3
EOC
fi
sock="$dir/run/libvirt"
cat <<EOM
virtlxcd: starting in the foreground with everything below $dir
  virsh -c 'lxc+unix:///system?socket=$sock/virtlxcd-sock' list --all
  virsh -r -c 'lxc+unix:///system?socket=$sock/virtlxcd-sock-ro' list --all
  virt-admin -c 'virtlxcd:///system?socket=$sock/virtlxcd-admin-sock' srv-list
Stop it with Ctrl-C.
EOM
export VIRTLXCD_PREFIX="$dir"
exec "$bin" --verbose
