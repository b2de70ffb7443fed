package main

import (
	"github.com/virtlxcd/virtlxcd/pkg/admin"
	"github.com/virtlxcd/virtlxcd/pkg/rpc"
)

// addAdminProgram registers libvirt's admin program on the admin server
// only, so that the rw and ro sockets never offer it.
func (d *Daemon) addAdminProgram() {
	d.admin.AddProgram(admin.New(admin.Options{
		// libvirt lists the main server first, then "admin".
		Servers:    []*rpc.Server{d.main, d.admin},
		Logging:    d.logs,
		SetTimeout: d.SetTimeout,
		Logger:     d.logs.Logger("daemon.admin"),
	}))
}
