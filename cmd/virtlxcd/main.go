// Command virtlxcd is the LXC management daemon: it serves libvirt's RPC
// protocol on UNIX sockets and runs libvirt LXC domains as containers.
package main

import (
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/virtlxcd/virtlxcd/pkg/controller"
	"github.com/virtlxcd/virtlxcd/pkg/version"
)

// Exit statuses, libvirt's virDaemonErr numbering.
const (
	exitOK         = 0
	exitPIDFile    = 1
	exitRunDir     = 2
	exitInit       = 3
	exitSignal     = 4
	exitPrivileges = 5
	exitNetwork    = 6
	exitConfig     = 7
	exitDriver     = 11
)

const daemonName = "virtlxcd"

// exitError carries a daemon exit status with its message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func fail(code int, format string, args ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

func main() {
	// The per-container controller is this same binary re-executed by the
	// LXC driver; it must not go through the daemon's CLI.
	if len(os.Args) > 1 && os.Args[1] == controller.Subcommand {
		os.Exit(controller.Main(os.Args[2:]))
	}
	os.Exit(run(os.Args))
}

func newApp(opts *options) *cli.App {
	cli.VersionPrinter = func(c *cli.Context) {
		fmt.Fprintf(c.App.Writer, "%s (libvirt) %s\n", daemonName, version.Version)
	}
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "display version information then exit"}
	cli.HelpFlag = &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "display command line help usage then exit"}
	return &cli.App{
		Name:            daemonName,
		Usage:           "libvirt LXC management daemon",
		UsageText:       daemonName + " [OPTION]...",
		Version:         version.Version,
		HideHelpCommand: true,
		Description: "Serves libvirt's RPC protocol for LXC containers on UNIX sockets " +
			"(created by the daemon, or passed by systemd socket activation).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "daemon", Aliases: []string{"d"}, Usage: "run as a daemon & write PID file", Destination: &opts.daemon},
			&cli.StringFlag{Name: "config", Aliases: []string{"f"}, Usage: "use this configuration `FILE`, overriding the default value", Destination: &opts.config},
			&cli.StringFlag{Name: "pid-file", Aliases: []string{"p"}, Usage: "use this name for the PID `FILE`, overriding the default value", Destination: &opts.pidFile},
			&cli.Int64Flag{Name: "timeout", Aliases: []string{"t"}, Usage: "exit after timeout period (in `SECONDS`), provided there are neither any client connections nor any running domains", Destination: &opts.timeout},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "enable output of verbose messages", Destination: &opts.verbose},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fail(exitPIDFile, "%s: unexpected, non-option, command line arguments", daemonName)
			}
			if opts.timeout < 0 || opts.timeout > math.MaxInt32/1000 {
				return fail(exitPIDFile, "%s: Invalid value for timeout", daemonName)
			}
			return daemon(opts)
		},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return fail(1, "%s: %v\nTry '%s --help' for more information.", daemonName, err, daemonName)
		},
	}
}

type options struct {
	daemon  bool
	config  string
	pidFile string
	timeout int64
	verbose bool
}

func run(args []string) int {
	var opts options
	app := newApp(&opts)
	app.ErrWriter = os.Stderr
	err := app.Run(args)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, ee.msg)
		}
		return ee.code
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", daemonName, err)
	return 1
}
