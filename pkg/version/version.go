// Package version holds the one version string of the project; the build
// stamps it (see the Makefile) so that binaries, packages and manual pages agree.
package version

// Version is this project's release, set at link time with
// -ldflags "-X github.com/virtlxcd/virtlxcd/pkg/version.Version=X.Y.Z".
var Version = "0.1.0"

// LibvirtAPI is the libvirt release whose wire protocol and API level the
// daemon implements. It is what CONNECT_GET_LIB_VERSION reports, because
// clients compare it against libvirt releases, not against ours.
const LibvirtAPI = 9000000
