package daemonconf

import (
	"github.com/virtlxcd/virtlxcd/pkg/conf"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

// option reads one key of virtlxcd.conf into a Config. perms collects the
// three permission strings, which are validated after everything else as
// in libvirt (where they are parsed when the sockets are created).
type option struct {
	key  string
	load func(f *conf.File, c *Config, perms *[3]*string) error
}

// options lists every key virtlxcd reads, in the order libvirt reads them.
var options = []option{
	auth("auth_unix_rw", func(c *Config) *string { return &c.AuthUnixRW }),
	auth("auth_unix_ro", func(c *Config) *string { return &c.AuthUnixRO }),
	strictList("access_drivers", func(c *Config) *[]string { return &c.AccessDrivers }),
	str("unix_sock_group", func(c *Config) *string { return &c.UnixSockGroup }),
	perm("unix_sock_admin_perms", 2),
	perm("unix_sock_ro_perms", 0),
	perm("unix_sock_rw_perms", 1),
	str("unix_sock_dir", func(c *Config) *string { return &c.UnixSockDir }),
	strictList("sasl_allowed_username_list", func(c *Config) *[]string { return &c.SaslAllowedUsernameList }),
	u32("min_workers", func(c *Config) *uint { return &c.MinWorkers }),
	u32("max_workers", func(c *Config) *uint { return &c.MaxWorkers }),
	{"max_workers", func(_ *conf.File, c *Config, _ *[3]*string) error {
		if c.MaxWorkers < 1 {
			return virterror.New(virterror.InternalError, virterror.FromConf, "'max_workers' must be greater than 0")
		}
		return nil
	}},
	u32("max_clients", func(c *Config) *uint { return &c.MaxClients }),
	u32("max_queued_clients", func(c *Config) *uint { return &c.MaxQueuedClients }),
	u32("max_anonymous_clients", func(c *Config) *uint { return &c.MaxAnonymousClients }),
	u32("prio_workers", func(c *Config) *uint { return &c.PrioWorkers }),
	u32("max_client_requests", func(c *Config) *uint { return &c.MaxClientRequests }),
	u32("admin_min_workers", func(c *Config) *uint { return &c.AdminMinWorkers }),
	u32("admin_max_workers", func(c *Config) *uint { return &c.AdminMaxWorkers }),
	u32("admin_max_clients", func(c *Config) *uint { return &c.AdminMaxClients }),
	u32("admin_max_queued_clients", func(c *Config) *uint { return &c.AdminMaxQueuedClients }),
	u32("admin_max_client_requests", func(c *Config) *uint { return &c.AdminMaxClientRequests }),
	u32("audit_level", func(c *Config) *uint { return &c.AuditLevel }),
	boolean("audit_logging", func(c *Config) *bool { return &c.AuditLogging }),
	str("host_uuid", func(c *Config) *string { return &c.HostUUID }),
	str("host_uuid_source", func(c *Config) *string { return &c.HostUUIDSource }),
	u32("log_level", func(c *Config) *uint { return &c.LogLevel }),
	str("log_filters", func(c *Config) *string { return &c.LogFilters }),
	str("log_outputs", func(c *Config) *string { return &c.LogOutputs }),
	i32("keepalive_interval", func(c *Config) *int { return &c.KeepaliveInterval }),
	u32("keepalive_count", func(c *Config) *uint { return &c.KeepaliveCount }),
	i32("admin_keepalive_interval", func(c *Config) *int { return &c.AdminKeepaliveInterval }),
	u32("admin_keepalive_count", func(c *Config) *uint { return &c.AdminKeepaliveCount }),
	u32("ovs_timeout", func(c *Config) *uint { return &c.OvsTimeout }),
}

// ignored are keys that are valid in libvirt's daemon configuration but
// mean nothing to virtlxcd: the TCP/TLS listener options of libvirtd and
// virtproxyd (virtlxcd only listens on UNIX sockets, and libvirt's
// virtlxcd does not even read them) and the obsolete keepalive_required.
// They are neither type-checked nor reported as unknown.
var ignored = []string{
	"listen_tls", "listen_tcp", "tls_port", "tcp_port", "listen_addr",
	"auth_tcp", "auth_tls", "tcp_min_ssf",
	"key_file", "cert_file", "ca_file", "crl_file",
	"tls_no_sanity_certificate", "tls_no_verify_certificate",
	"tls_allowed_dn_list", "tls_priority",
	"keepalive_required", "admin_keepalive_required",
	"mdns_adv", "mdns_name", // accepted by older libvirtd, long obsolete
}

func str(key string, field func(*Config) *string) option {
	return option{key, func(f *conf.File, c *Config, _ *[3]*string) error {
		v, ok, err := f.String(key)
		if ok {
			*field(c) = v
		}
		return err
	}}
}

func strictList(key string, field func(*Config) *[]string) option {
	return option{key, func(f *conf.File, c *Config, _ *[3]*string) error {
		v, ok, err := f.StrictStringList(key)
		if ok {
			*field(c) = v
		}
		return err
	}}
}

func u32(key string, field func(*Config) *uint) option {
	return option{key, func(f *conf.File, c *Config, _ *[3]*string) error {
		v, ok, err := f.Uint32(key)
		if ok {
			*field(c) = uint(v)
		}
		return err
	}}
}

func i32(key string, field func(*Config) *int) option {
	return option{key, func(f *conf.File, c *Config, _ *[3]*string) error {
		v, ok, err := f.Int32(key)
		if ok {
			*field(c) = int(v)
		}
		return err
	}}
}

func boolean(key string, field func(*Config) *bool) option {
	return option{key, func(f *conf.File, c *Config, _ *[3]*string) error {
		v, ok, err := f.Bool(key)
		if ok {
			*field(c) = v
		}
		return err
	}}
}

func perm(key string, slot int) option {
	return option{key, func(f *conf.File, c *Config, perms *[3]*string) error {
		v, ok, err := f.String(key)
		if ok {
			perms[slot] = &v
		}
		return err
	}}
}

// auth reads auth_unix_ro/rw. As in libvirt, choosing polkit for the
// read-write socket opens its default permissions to 0777 (polkit then
// decides who may use it); an explicit unix_sock_rw_perms still wins.
func auth(key string, field func(*Config) *string) option {
	return option{key, func(f *conf.File, c *Config, _ *[3]*string) error {
		v, ok, err := f.String(key)
		if err != nil || !ok {
			return err
		}
		switch v {
		case AuthNone, AuthSASL, AuthPolkit:
		default:
			return virterror.New(virterror.ConfigUnsupported, virterror.FromConf,
				"%s: %s: unsupported auth %s", f.Name, key, v)
		}
		*field(c) = v
		if key == "auth_unix_rw" && v == AuthPolkit {
			c.UnixSockRWPerms = 0o777
		}
		return nil
	}}
}
