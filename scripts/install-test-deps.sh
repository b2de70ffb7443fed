#!/bin/sh
# Install the Debian packages the test suite drives (real virsh/virt-admin,
# busybox for container root filesystems, packaging and man page tools,
# systemd for socket activation and the sandboxed systemd tests).
set -eu
pkgs="libvirt-clients busybox-static rpm lintian python3-docutils mandoc groff
debootstrap shellcheck systemd dbus iproute2 cpio rpmlint logrotate patch"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi
