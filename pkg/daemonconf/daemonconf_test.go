package daemonconf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/virtlxcd/virtlxcd/pkg/conf"
	"github.com/virtlxcd/virtlxcd/pkg/virterror"
)

func load(t *testing.T, text string) (*Config, error) {
	t.Helper()
	f, err := conf.Parse("/etc/virtlxcd.conf", []byte(text))
	if err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	return FromFile(f)
}

func TestEachKey(t *testing.T) {
	cases := []struct {
		line string
		mut  func(c *Config)
	}{
		{`unix_sock_group = "libvirt"`, func(c *Config) { c.UnixSockGroup = "libvirt" }},
		{`unix_sock_ro_perms = "0555"`, func(c *Config) { c.UnixSockROPerms = 0o555 }},
		{`unix_sock_rw_perms = "770"`, func(c *Config) { c.UnixSockRWPerms = 0o770 }},
		{`unix_sock_admin_perms = "0600"`, func(c *Config) { c.UnixSockAdminPerms = 0o600 }},
		{`unix_sock_rw_perms = "1770"`, func(c *Config) { c.UnixSockRWPerms = 0o770 | os.ModeSticky }},
		{`unix_sock_dir = "/tmp/socks"`, func(c *Config) { c.UnixSockDir = "/tmp/socks" }},
		{`auth_unix_ro = "sasl"`, func(c *Config) { c.AuthUnixRO = AuthSASL }},
		{`auth_unix_ro = "polkit"`, func(c *Config) { c.AuthUnixRO = AuthPolkit }},
		{`auth_unix_rw = "none"`, func(c *Config) {}},
		{`auth_unix_rw = "polkit"`, func(c *Config) { c.AuthUnixRW = AuthPolkit; c.UnixSockRWPerms = 0o777 }},
		{"auth_unix_rw = \"polkit\"\nunix_sock_rw_perms = \"0700\"", func(c *Config) { c.AuthUnixRW = AuthPolkit }},
		{`access_drivers = [ "polkit" ]`, func(c *Config) { c.AccessDrivers = []string{"polkit"} }},
		{`access_drivers = []`, func(c *Config) { c.AccessDrivers = []string{} }},
		{`sasl_allowed_username_list = ["a", "b@X"]`, func(c *Config) { c.SaslAllowedUsernameList = []string{"a", "b@X"} }},
		{`max_clients = 7`, func(c *Config) { c.MaxClients = 7 }},
		{`max_queued_clients = 8`, func(c *Config) { c.MaxQueuedClients = 8 }},
		{`max_anonymous_clients = 0`, func(c *Config) { c.MaxAnonymousClients = 0 }},
		{`min_workers = 1`, func(c *Config) { c.MinWorkers = 1 }},
		{`max_workers = 1`, func(c *Config) { c.MaxWorkers = 1 }},
		{`prio_workers = 0`, func(c *Config) { c.PrioWorkers = 0 }},
		{`max_client_requests = 64`, func(c *Config) { c.MaxClientRequests = 64 }},
		{`admin_min_workers = 1`, func(c *Config) { c.AdminMinWorkers = 1 }},
		{`admin_max_workers = 3`, func(c *Config) { c.AdminMaxWorkers = 3 }},
		{`admin_max_clients = 4`, func(c *Config) { c.AdminMaxClients = 4 }},
		{`admin_max_queued_clients = 5`, func(c *Config) { c.AdminMaxQueuedClients = 5 }},
		{`admin_max_client_requests = 6`, func(c *Config) { c.AdminMaxClientRequests = 6 }},
		{`log_level = 1`, func(c *Config) { c.LogLevel = 1 }},
		{`log_level = 4`, func(c *Config) { c.LogLevel = 4 }},
		{`log_filters = "1:rpc 3:remote"`, func(c *Config) { c.LogFilters = "1:rpc 3:remote" }},
		{`log_outputs = "1:file:/tmp/x.log"`, func(c *Config) { c.LogOutputs = "1:file:/tmp/x.log" }},
		{`audit_level = 2`, func(c *Config) { c.AuditLevel = 2 }},
		{`audit_logging = 1`, func(c *Config) { c.AuditLogging = true }},
		{`host_uuid = "8510b1a1-a1a9-4a3e-a36e-3a4b4a4e7e5f"`, func(c *Config) { c.HostUUID = "8510b1a1-a1a9-4a3e-a36e-3a4b4a4e7e5f" }},
		{`host_uuid = " 8510b1a1a1a94a3ea36e3a4b4a4e7e5f "`, func(c *Config) { c.HostUUID = " 8510b1a1a1a94a3ea36e3a4b4a4e7e5f " }},
		{`host_uuid_source = "machine-id"`, func(c *Config) { c.HostUUIDSource = "machine-id" }},
		{"host_uuid = '8510b1a1-a1a9-4a3e-a36e-3a4b4a4e7e5f'\nhost_uuid_source = 'dmi'", func(c *Config) {
			c.HostUUID = "8510b1a1-a1a9-4a3e-a36e-3a4b4a4e7e5f"
			c.HostUUIDSource = "dmi"
		}},
		{`keepalive_interval = -1`, func(c *Config) { c.KeepaliveInterval = -1 }},
		{`keepalive_count = 0`, func(c *Config) { c.KeepaliveCount = 0 }},
		{`admin_keepalive_interval = 30`, func(c *Config) { c.AdminKeepaliveInterval = 30 }},
		{`admin_keepalive_count = 9`, func(c *Config) { c.AdminKeepaliveCount = 9 }},
		{`ovs_timeout = 11`, func(c *Config) { c.OvsTimeout = 11 }},
		// Accepted and ignored, whatever their type.
		{`listen_tls = 1`, func(c *Config) {}},
		{`tcp_port = 16509`, func(c *Config) {}},
		{`tls_allowed_dn_list = "not a list"`, func(c *Config) {}},
		{`keepalive_required = 1`, func(c *Config) {}},
		{`admin_keepalive_required = 1`, func(c *Config) {}},
		// Unknown keys are ignored but reported.
		{"frobnicate = 1\nmax_clients = 9\nzap = 'x'\nfrobnicate = 2", func(c *Config) {
			c.MaxClients = 9
			c.Unknown = []string{"frobnicate", "zap"}
		}},
		// The first assignment wins.
		{"max_clients = 1\nmax_clients = 2", func(c *Config) { c.MaxClients = 1 }},
	}
	for _, tc := range cases {
		got, err := load(t, tc.line)
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		want := Default()
		want.File = "/etc/virtlxcd.conf"
		tc.mut(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.line, got, want)
		}
	}
}

func TestValidation(t *testing.T) {
	const ie = "internal error: /etc/virtlxcd.conf: "
	cases := []struct {
		text string
		code virterror.Code
		msg  string
	}{
		{`max_workers = 0`, virterror.InternalError, "internal error: 'max_workers' must be greater than 0"},
		{`max_workers = -1`, virterror.InternalError, ie + "expected an unsigned integer for 'max_workers' parameter"},
		{`max_clients = 4294967296`, virterror.InternalError, ie + "value for 'max_clients' parameter must be in range 0:4294967295"},
		{`max_clients = "5"`, virterror.InternalError, ie + "expected an unsigned integer for 'max_clients' parameter"},
		{`keepalive_interval = 2147483648`, virterror.InternalError, ie + "value for 'keepalive_interval' parameter must be in range -2147483648:2147483647"},
		{`keepalive_interval = "5"`, virterror.InternalError, ie + "expected a signed integer for 'keepalive_interval' parameter"},
		{`audit_logging = 2`, virterror.InternalError, ie + "value for 'audit_logging' parameter must be 0 or 1"},
		{`audit_logging = "yes"`, virterror.InternalError, ie + "expected a bool for 'audit_logging' parameter"},
		{`unix_sock_group = 0`, virterror.InternalError, ie + "expected a string for 'unix_sock_group' parameter"},
		{`log_filters = ["1:rpc"]`, virterror.InternalError, ie + "expected a string for 'log_filters' parameter"},
		{`access_drivers = "polkit"`, virterror.InternalError, ie + "expected a string list for 'access_drivers' parameter"},
		{`sasl_allowed_username_list = [1]`, virterror.ConfSyntax, "configuration file syntax error: /etc/virtlxcd.conf: expected a string list for 'sasl_allowed_username_list' parameter"},
		{`auth_unix_ro = "kerberos"`, virterror.ConfigUnsupported, "unsupported configuration: /etc/virtlxcd.conf: auth_unix_ro: unsupported auth kerberos"},
		{`auth_unix_rw = "None"`, virterror.ConfigUnsupported, "unsupported configuration: /etc/virtlxcd.conf: auth_unix_rw: unsupported auth None"},
		{`log_level = 9`, virterror.InvalidArg, "invalid argument: Failed to set logging priority, argument '9' is invalid"},
		{`log_level = 5`, virterror.InvalidArg, "invalid argument: Failed to set logging priority, argument '5' is invalid"},
		{`host_uuid = "00000000-0000-0000-0000-000000000000"`, virterror.InternalError, "invalid host UUID: 00000000-0000-0000-0000-000000000000"},
		{`host_uuid = "ffffffff-ffff-ffff-ffff-ffffffffffff"`, virterror.InternalError, "invalid host UUID: ffffffff-ffff-ffff-ffff-ffffffffffff"},
		{`host_uuid = "01010101-0101-0101-0101-010101010101"`, virterror.InternalError, "invalid host UUID: 01010101-0101-0101-0101-010101010101"},
		{`host_uuid = "8510b1a1-a1a9-4a3e-a36e-3a4b4a4e7e5"`, virterror.InternalError, "invalid host UUID: 8510b1a1-a1a9-4a3e-a36e-3a4b4a4e7e5"},
		{`host_uuid = "8510b1a1-a1a9-4a3e-a36e-3a4b4a4e7e5f00"`, virterror.InternalError, "invalid host UUID: 8510b1a1-a1a9-4a3e-a36e-3a4b4a4e7e5f00"},
		{`host_uuid = "8510b1a1-a1a9-4a3e-a36e-3a4b4a4e7e5g"`, virterror.InternalError, "invalid host UUID: 8510b1a1-a1a9-4a3e-a36e-3a4b4a4e7e5g"},
		{`host_uuid = "8-510b1a1a1a94a3ea36e3a4b4a4e7e5f"`, virterror.InternalError, "invalid host UUID: 8-510b1a1a1a94a3ea36e3a4b4a4e7e5f"},
		{`host_uuid = "not a uuid"`, virterror.InternalError, "invalid host UUID: not a uuid"},
		{`host_uuid_source = "dmi"`, virterror.ConfigUnsupported, "invalid UUID source: dmi"},
		// Type errors come before later checks, in libvirt's order.
		{"log_level = 9\nmax_workers = 0", virterror.InternalError, "internal error: 'max_workers' must be greater than 0"},
		{"unix_sock_ro_perms = 'x'\nlog_level = 9", virterror.InvalidArg, "invalid argument: Failed to set logging priority, argument '9' is invalid"},
	}
	for _, tc := range cases {
		_, err := load(t, tc.text)
		var ve *virterror.Error
		if !errors.As(err, &ve) {
			t.Errorf("%q: got %v, want a libvirt error", tc.text, err)
			continue
		}
		if ve.Code != tc.code || ve.Message != tc.msg {
			t.Errorf("%q:\n got %d %q\nwant %d %q", tc.text, ve.Code, ve.Message, tc.code, tc.msg)
		}
	}
}

func TestBadModes(t *testing.T) {
	for _, tc := range []struct{ key, value string }{
		{"unix_sock_ro_perms", "rwx"},
		{"unix_sock_rw_perms", "0o770"},
		{"unix_sock_rw_perms", "0888"},
		{"unix_sock_admin_perms", ""},
		{"unix_sock_admin_perms", "-1"},
		{"unix_sock_ro_perms", "0770 "},
		{"unix_sock_ro_perms", "17777"},
	} {
		_, err := load(t, tc.key+" = '"+tc.value+"'")
		var me *ModeError
		if !errors.As(err, &me) || me.Key != tc.key || err.Error() != "Failed to parse mode '"+tc.value+"'" {
			t.Errorf("%s = %q: got %v", tc.key, tc.value, err)
		}
	}
	for in, want := range map[string]os.FileMode{"0": 0, "+0660": 0o660, " \t0755": 0o755, "4755": 0o755 | os.ModeSetuid, "2770": 0o770 | os.ModeSetgid} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

// unsetByDefault are the options whose line in the shipped file is an
// example rather than the default.
var unsetByDefault = map[string]bool{
	"unix_sock_group": true, "unix_sock_dir": true, "access_drivers": true,
	"sasl_allowed_username_list": true, "log_level": true, "log_filters": true,
	"log_outputs": true, "host_uuid": true,
}

var settingLine = regexp.MustCompile(`(?m)^#([a-z_]+) = .*$`)

func TestShippedFile(t *testing.T) {
	// As shipped, everything is commented out.
	f, err := conf.Parse("virtlxcd.conf", DefaultConfFile)
	if err != nil {
		t.Fatal(err)
	}
	if keys := f.Keys(); len(keys) != 0 {
		t.Errorf("shipped file sets %q", keys)
	}

	// Every option appears exactly once as a commented setting.
	seen := map[string]int{}
	for _, m := range settingLine.FindAllStringSubmatch(string(DefaultConfFile), -1) {
		seen[m[1]]++
	}
	for _, o := range options {
		if seen[o.key] != 1 {
			t.Errorf("option %s appears %d times in the shipped file", o.key, seen[o.key])
		}
	}
	for key := range seen {
		if !isOption(key) {
			t.Errorf("shipped file shows %s, which is not an option", key)
		}
	}

	// Uncommenting every default line yields exactly Default(); the
	// example lines parse and change only their own option.
	defaults := settingLine.ReplaceAllStringFunc(string(DefaultConfFile), func(line string) string {
		key := settingLine.FindStringSubmatch(line)[1]
		if unsetByDefault[key] {
			return line
		}
		return line[1:]
	})
	got, err := load(t, defaults)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.File = "/etc/virtlxcd.conf"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("uncommented defaults:\n got %+v\nwant %+v", got, want)
	}
	examples := settingLine.ReplaceAllStringFunc(string(DefaultConfFile), func(line string) string { return line[1:] })
	got, err = load(t, examples)
	if err != nil {
		t.Fatalf("shipped examples do not load: %v", err)
	}
	if len(got.Unknown) != 0 {
		t.Errorf("shipped examples use unknown keys %q", got.Unknown)
	}
	if got.HostUUID == "" || got.LogOutputs == "" || len(got.AccessDrivers) == 0 {
		t.Errorf("examples were not applied: %+v", got)
	}
}

func isOption(key string) bool {
	for _, o := range options {
		if o.key == key {
			return true
		}
	}
	return false
}

// TestFullFileRoundTrip writes a file that sets every option to a value
// other than its default and checks that each Config field changed, so no
// field lacks an option (or reads the wrong one).
func TestFullFileRoundTrip(t *testing.T) {
	text := `
# every option, none at its default
unix_sock_group = "kvm"
unix_sock_ro_perms = "0555"
unix_sock_rw_perms = "0770"
unix_sock_admin_perms = "0600"
unix_sock_dir = "/srv/sock"
auth_unix_ro = "sasl"
auth_unix_rw = "polkit"
access_drivers = [ "polkit", ]
sasl_allowed_username_list = [ "joe@EXAMPLE.COM" ]
max_clients = 11
max_queued_clients = 12
max_anonymous_clients = 13
min_workers = 14
max_workers = 15
prio_workers = 16
max_client_requests = 17
admin_min_workers = 18
admin_max_workers = 19
admin_max_clients = 21
admin_max_queued_clients = 22
admin_max_client_requests = 23
log_level = 2
log_filters = "1:rpc"
log_outputs = "2:stderr"
audit_level = 0
audit_logging = 1
host_uuid = "8510b1a1-a1a9-4a3e-a36e-3a4b4a4e7e5f"
host_uuid_source = "machine-id"
keepalive_interval = -1
keepalive_count = 0
admin_keepalive_interval = 7 ; admin_keepalive_count = 8
ovs_timeout = 9
listen_tls = 0
mystery = 1
`
	path := filepath.Join(t.TempDir(), "virtlxcd.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	def := reflect.ValueOf(*Default())
	v := reflect.ValueOf(*got)
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Name
		if reflect.DeepEqual(v.Field(i).Interface(), def.Field(i).Interface()) {
			t.Errorf("field %s kept its default %v", name, v.Field(i).Interface())
		}
	}
	if got.File != path || !reflect.DeepEqual(got.Unknown, []string{"mystery"}) {
		t.Errorf("File=%q Unknown=%q", got.File, got.Unknown)
	}
	if got.UnixSockRWPerms != 0o770 || got.KeepaliveInterval != -1 || got.AdminKeepaliveCount != 8 ||
		got.HostUUIDSource != "machine-id" || got.AccessDrivers[0] != "polkit" {
		t.Errorf("values not read back: %+v", got)
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "none.conf"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("max_clients = \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || err.Error() != "configuration file syntax error: "+bad+":1: expecting a value" {
		t.Errorf("syntax error: %v", err)
	}
}

func TestLXC(t *testing.T) {
	dir := t.TempDir()
	if l, err := LoadLXC(filepath.Join(dir, "missing.conf")); err != nil || !reflect.DeepEqual(l, DefaultLXC()) {
		t.Errorf("missing lxc.conf: %+v, %v", l, err)
	}
	if *DefaultLXC() != (LXC{SecurityDriver: "none"}) {
		t.Errorf("DefaultLXC() = %+v", DefaultLXC())
	}
	// A directory passes libvirt's access(R_OK) check but cannot be read
	// as a file: an error, not the defaults.
	if _, err := LoadLXC(dir); err == nil {
		t.Errorf("a directory as lxc.conf loaded; want a read error")
	}

	write := func(text string) string {
		p := filepath.Join(dir, "lxc.conf")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write("log_with_libvirtd = 1\nsecurity_driver = \"none\"\nsecurity_default_confined = 1\nsecurity_require_confined = 1\n")
	l, err := LoadLXC(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := (LXC{LogWithLibvirtd: true, SecurityDriver: "none", SecurityDefaultConfined: true, SecurityRequireConfined: true, File: p}); *l != want {
		t.Errorf("LoadLXC = %+v, want %+v", *l, want)
	}

	for text, msg := range map[string]string{
		"log_with_libvirtd = 2":                        "internal error: " + p + ": value for 'log_with_libvirtd' parameter must be 0 or 1",
		"security_driver = 1":                          "internal error: " + p + ": expected a string for 'security_driver' parameter",
		"security_default_confined = 'yes'":            "internal error: " + p + ": expected a bool for 'security_default_confined' parameter",
		"security_require_confined = -1":               "internal error: " + p + ": expected a bool for 'security_require_confined' parameter",
		"security_driver = 1\nlog_with_libvirtd = 'x'": "internal error: " + p + ": expected a bool for 'log_with_libvirtd' parameter",
		"log_with_libvirtd = ":                         "configuration file syntax error: " + p + ":1: expecting a value",
	} {
		write(text)
		if _, err := LoadLXC(p); err == nil || err.Error() != msg {
			t.Errorf("%q: got %v, want %q", text, err, msg)
		}
	}

	// The shipped lxc.conf sets nothing, and uncommented gives the defaults.
	f, err := conf.Parse("lxc.conf", DefaultLXCConfFile)
	if err != nil || len(f.Keys()) != 0 {
		t.Fatalf("shipped lxc.conf: keys %v, %v", f, err)
	}
	keys := settingLine.FindAllStringSubmatch(string(DefaultLXCConfFile), -1)
	if len(keys) != 4 {
		t.Errorf("shipped lxc.conf shows %d settings, want 4", len(keys))
	}
	uncommented := settingLine.ReplaceAllStringFunc(string(DefaultLXCConfFile), func(s string) string { return s[1:] })
	f, err = conf.Parse("lxc.conf", []byte(uncommented))
	if err != nil {
		t.Fatal(err)
	}
	got, err := LXCFromFile(f)
	if err != nil || *got != *DefaultLXC() || len(f.Keys()) != 4 {
		t.Errorf("uncommented shipped lxc.conf = %+v, %v (keys %q)", got, err, f.Keys())
	}
	if strings.Contains(string(DefaultLXCConfFile), "\t") {
		t.Errorf("shipped lxc.conf contains tabs")
	}
}
