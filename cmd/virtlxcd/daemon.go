package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	sdd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/virtlxcd/virtlxcd/pkg/daemonconf"
	"github.com/virtlxcd/virtlxcd/pkg/hostinfo"
	"github.com/virtlxcd/virtlxcd/pkg/listen"
	"github.com/virtlxcd/virtlxcd/pkg/logging"
	"github.com/virtlxcd/virtlxcd/pkg/lxc"
	"github.com/virtlxcd/virtlxcd/pkg/paths"
	"github.com/virtlxcd/virtlxcd/pkg/pidfile"
	"github.com/virtlxcd/virtlxcd/pkg/remote"
	"github.com/virtlxcd/virtlxcd/pkg/rpc"
)

// Daemon holds the running parts; it only wires them together.
type Daemon struct {
	opts    *options
	paths   paths.Paths
	cfgPath string
	cfg     *daemonconf.Config
	logs    *logging.Manager
	log     *slog.Logger
	pid     *pidfile.File
	socks   *listen.Set
	main    *rpc.Server
	admin   *rpc.Server
	drv     *lxc.Driver

	foreground bool
	timeout    atomic.Int64 // idle timeout in seconds, 0 = none
	lastBusy   atomic.Int64 // unix nanos of the last moment the daemon was in use
	quit       chan string
	quitOnce   sync.Once
}

func daemon(o *options) error {
	if os.Geteuid() != 0 {
		return fail(exitPrivileges, "%s: error: must be run as root (the LXC driver creates namespaces, cgroups and devices)", daemonName)
	}
	ready := childReadyPipe()
	if o.daemon && ready == nil {
		return daemonize(o)
	}
	d := &Daemon{opts: o, paths: paths.Default(), foreground: ready == nil, quit: make(chan string, 1)}
	err := d.start()
	if ready != nil {
		ready(err)
	}
	if err != nil {
		d.stop()
		return err
	}
	return d.run()
}

// loadConfig reads virtlxcd.conf: the -f file must exist, the default one
// may be missing.
func (d *Daemon) loadConfig() (*daemonconf.Config, error) {
	path := d.opts.config
	if path == "" {
		path = d.paths.ConfigFile
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			d.cfgPath = ""
			return daemonconf.Default(), nil
		}
	}
	abs, err := filepath.Abs(path)
	if err == nil {
		path = abs
	}
	d.cfgPath = path
	cfg, err := daemonconf.Load(path)
	var me *daemonconf.ModeError
	if errors.As(err, &me) {
		// libvirt only meets bad socket modes while creating sockets.
		return nil, fail(exitNetwork, "%s: %v", daemonName, err)
	}
	if err != nil {
		return nil, fail(exitConfig, "%s: Can't load config file: %v: %s", daemonName, err, path)
	}
	return cfg, nil
}

// applyLogging sets level, filters and outputs from the config, then the
// environment (LIBVIRT_DEBUG, LIBVIRT_LOG_FILTERS, LIBVIRT_LOG_OUTPUTS),
// then -v, in libvirt's order of precedence.
func (d *Daemon) applyLogging(cfg *daemonconf.Config) error {
	level := 3
	if cfg.LogLevel != 0 {
		level = int(cfg.LogLevel)
	}
	if d.opts.verbose && level > 2 {
		level = 2
	}
	if err := d.logs.SetLevel(level); err != nil {
		return err
	}
	if err := d.logs.SetFilters(cfg.LogFilters); err != nil {
		return err
	}
	// The default output is also what an empty admin setting restores.
	def := d.logs.DefaultOutput(d.foreground)
	outputs := cfg.LogOutputs
	if outputs == "" {
		outputs = def
	}
	if err := d.logs.SetOutputs(outputs); err != nil {
		return err
	}
	return d.logs.SetFromEnv(os.Getenv)
}

func (d *Daemon) start() error {
	cfg, err := d.loadConfig()
	if err != nil {
		return err
	}
	d.cfg = cfg
	d.logs = logging.New()
	if err := d.applyLogging(cfg); err != nil {
		return fail(exitConfig, "%s: Can't apply logging settings: %v", daemonName, err)
	}
	d.log = d.logs.Logger("daemon")
	for _, k := range cfg.Unknown {
		d.log.Warn("unknown configuration key ignored", "key", k, "file", d.cfgPath)
	}

	pidPath := d.opts.pidFile
	if pidPath == "" {
		pidPath = d.paths.PIDFile
	}
	if d.pid, err = pidfile.Acquire(pidPath, os.Getpid()); err != nil {
		return fail(exitPIDFile, "%s: %v", daemonName, err)
	}
	if err := os.MkdirAll(d.paths.RunDir, 0o755); err != nil {
		return fail(exitRunDir, "%s: Unable to create rundir %s: %v", daemonName, d.paths.RunDir, err)
	}

	d.timeout.Store(d.opts.timeout)
	d.lastBusy.Store(time.Now().UnixNano())

	hostUUID := hostinfo.HostUUID(cfg.HostUUID, cfg.HostUUIDSource)
	exe, err := os.Executable()
	if err != nil {
		return fail(exitInit, "%s: cannot find own executable: %v", daemonName, err)
	}

	d.main = rpc.NewServer(daemonName, rpc.Config{
		MaxClients: cfg.MaxClients, MaxAnonymousClients: cfg.MaxAnonymousClients,
		MaxClientRequests: cfg.MaxClientRequests, MinWorkers: cfg.MinWorkers,
		MaxWorkers: cfg.MaxWorkers, PrioWorkers: cfg.PrioWorkers,
		KeepaliveInterval: cfg.KeepaliveInterval, KeepaliveCount: cfg.KeepaliveCount,
	}, d.logs.Logger("rpc.server"))
	d.admin = rpc.NewServer("admin", rpc.Config{
		MaxClients: cfg.AdminMaxClients, MaxAnonymousClients: 0,
		MaxClientRequests: cfg.AdminMaxClientRequests, MinWorkers: cfg.AdminMinWorkers,
		MaxWorkers:        cfg.AdminMaxWorkers,
		KeepaliveInterval: cfg.AdminKeepaliveInterval, KeepaliveCount: cfg.AdminKeepaliveCount,
	}, d.logs.Logger("rpc.server"))
	d.main.OnClientCount(d.touch)
	d.admin.OnClientCount(d.touch)

	if err := d.openSockets(); err != nil {
		return err
	}

	d.drv, err = lxc.New(lxc.Config{Paths: d.paths, Exe: exe, Logger: d.logs.Logger("lxc.driver")})
	if err != nil {
		return fail(exitDriver, "%s: Driver state initialization failed: %v", daemonName, err)
	}
	d.main.AddProgram(remote.New(d.drv, remote.Options{HostUUID: hostUUID, Emulator: exe, Logger: d.logs.Logger("remote")}))
	d.main.AddProgram(remote.NewLXCProgram(d.drv))
	d.main.AddProgram(remote.NewQEMUProgram())
	d.addAdminProgram()

	rwAuth, err := authType(cfg.AuthUnixRW)
	if err != nil {
		return fail(exitConfig, "%s: auth_unix_rw: %v", daemonName, err)
	}
	roAuth, err := authType(cfg.AuthUnixRO)
	if err != nil {
		return fail(exitConfig, "%s: auth_unix_ro: %v", daemonName, err)
	}
	for _, l := range d.socks.RW {
		d.main.ServeWith(l, rpc.ListenOptions{Auth: rwAuth})
	}
	for _, l := range d.socks.RO {
		d.main.ServeWith(l, rpc.ListenOptions{ReadOnly: true, Auth: roAuth})
	}
	for _, l := range d.socks.Admin {
		d.admin.Serve(l, false)
	}
	return nil
}

// authType maps auth_unix_* to the socket's scheme. SASL is refused at
// start rather than silently served without authentication.
func authType(v string) (int, error) {
	switch v {
	case "", daemonconf.AuthNone:
		return rpc.AuthNone, nil
	case daemonconf.AuthPolkit:
		return rpc.AuthPolkit, nil
	}
	return 0, fmt.Errorf("authentication scheme %q is not supported by this daemon (use \"none\" or \"polkit\")", v)
}

func (d *Daemon) openSockets() error {
	var err error
	if listen.Activation() {
		d.socks, err = listen.FromActivation(daemonName)
		if err != nil {
			return fail(exitNetwork, "%s: %v", daemonName, err)
		}
		d.log.Info("using sockets from systemd socket activation")
		return nil
	}
	dir := d.cfg.UnixSockDir
	if dir == "" {
		dir = d.paths.RunDir
	}
	rwPerms := d.cfg.UnixSockRWPerms
	d.socks, err = listen.Create(listen.Options{
		Sockets: []listen.Socket{
			{Kind: listen.RW, Path: filepath.Join(dir, daemonName+"-sock"), Perms: rwPerms},
			{Kind: listen.RO, Path: filepath.Join(dir, daemonName+"-sock-ro"), Perms: d.cfg.UnixSockROPerms},
			{Kind: listen.Admin, Path: filepath.Join(dir, daemonName+"-admin-sock"), Perms: d.cfg.UnixSockAdminPerms},
		},
		Group:   d.cfg.UnixSockGroup,
		Backlog: int(d.cfg.MaxQueuedClients),
	})
	if err != nil {
		return fail(exitNetwork, "%s: Unable to initialize network sockets: %v", daemonName, err)
	}
	return nil
}

// touch records activity; the idle timer measures from the last one.
func (d *Daemon) touch() { d.lastBusy.Store(time.Now().UnixNano()) }

func (d *Daemon) busy() bool {
	return d.main.NumClients() > 0 || d.admin.NumClients() > 0 || d.drv.ActiveCount() > 0
}

// SetTimeout changes the idle timeout at run time (admin daemon-timeout).
func (d *Daemon) SetTimeout(secs int64) {
	d.timeout.Store(secs)
	d.touch()
}

func (d *Daemon) requestQuit(why string) {
	d.quitOnce.Do(func() { d.quit <- why })
}

func (d *Daemon) run() error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	// Writes to a client that went away must not kill the daemon.
	signal.Ignore(syscall.SIGPIPE)

	sdd.SdNotify(false, "READY=1\nSTATUS=Serving LXC domains\nMAINPID="+fmt.Sprint(os.Getpid()))
	d.log.Info("daemon started", "pid", os.Getpid())

	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	trimmed := false
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGHUP {
				d.reload()
				continue
			}
			d.requestQuit("signal " + s.String())
		case <-tick.C:
			if d.busy() {
				d.touch()
				trimmed = false
				continue
			}
			idle := time.Since(time.Unix(0, d.lastBusy.Load()))
			// An idle daemon hands the memory its last clients used back
			// to the system instead of keeping it for the next burst.
			if !trimmed && idle >= 2*time.Second {
				debug.FreeOSMemory()
				trimmed = true
			}
			if t := d.timeout.Load(); t > 0 && idle >= time.Duration(t)*time.Second {
				d.requestQuit("idle timeout")
			}
		case why := <-d.quit:
			d.log.Info("shutting down", "reason", why)
			sdd.SdNotify(false, "STOPPING=1\nSTATUS=Shutting down ("+why+")")
			d.stop()
			return nil
		}
	}
}

// reload is SIGHUP: re-read the domain definitions (libvirt's reload) and
// re-apply the config file's logging settings, keeping sockets and clients.
func (d *Daemon) reload() {
	d.log.Info("reloading on SIGHUP")
	sdd.SdNotify(false, "RELOADING=1")
	if cfg, err := d.loadConfig(); err != nil {
		d.log.Error("reload: keeping the current logging settings", "err", err)
	} else if err := d.applyLogging(cfg); err != nil {
		d.log.Error("reload: bad logging settings, keeping the current ones", "err", err)
	}
	if err := d.drv.Reload(); err != nil {
		d.log.Error("reload of domain definitions failed", "err", err)
	}
	sdd.SdNotify(false, "READY=1")
}

// stop releases what start acquired; guests keep running.
func (d *Daemon) stop() {
	if d.main != nil {
		d.main.Shutdown()
	}
	if d.admin != nil {
		d.admin.Shutdown()
	}
	if d.drv != nil {
		d.drv.Close()
	}
	if d.socks != nil {
		d.socks.Close()
	}
	if d.pid != nil {
		d.pid.Release()
	}
	if d.logs != nil {
		d.logs.Close()
	}
}
