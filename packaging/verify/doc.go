// Package verify checks virtlxcd's distribution pieces the way a user meets
// them: the systemd units (parsed, passed to the daemon by socket
// activation, verified by systemd-analyze), the manual pages (rendered and
// linted, compared with --help), and the .deb and .rpm (built, inspected,
// linted, then installed, upgraded and removed in a Debian chroot made by
// debootstrap and in a separate root with rpm --root).
//
// It holds tests only. They need root and the Debian packages debootstrap,
// lintian, rpm, rpmlint, cpio, python3-docutils, groff, mandoc, shellcheck
// and libvirt-clients. The debootstrap tree is cached as a tarball under
// /var/cache/virtlxcd-test/ so later runs skip the download.
package verify
