#!/bin/sh
# Installs what `make bench` needs beyond the test dependencies: Debian's
# libvirtd with its LXC driver (the daemon we compare against), the static
# busybox for the guest root, and the clients.
#
# Without libvirt-daemon-system nothing is enabled or started by these
# packages, and they add no files under /etc/libvirt; the benchmark runs
# libvirtd itself, in a private mount namespace on a temp tree.
set -eu

packages="libvirt-daemon libvirt-daemon-driver-lxc libvirt-clients busybox-static util-linux"

missing=""
for p in $packages; do
	dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing="$missing $p"
done
if [ -z "$missing" ]; then
	exit 0
fi
daemons() { pgrep -x 'libvirtd|virtlogd|virtlockd' || true; }
before=$(daemons)
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq --no-install-recommends $missing

# Nothing may be left running by the installation.
if [ "$(daemons)" != "$before" ]; then
	echo "install-deps: the installation started a libvirt daemon: $(daemons)" >&2
	exit 1
fi
