// Command virtlxcd-migrate switches virtlxcd between socket activation and
// the traditional always-running daemon, and orders libvirt-guests right for
// each. See virtlxcd-migrate(8).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/virtlxcd/virtlxcd/migrate/plan"
	"github.com/virtlxcd/virtlxcd/migrate/systemd"
	"github.com/virtlxcd/virtlxcd/pkg/version"
)

const name = "virtlxcd-migrate"

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	code := plan.ExitOK
	app := &cli.App{
		Name:            name,
		Usage:           "switch virtlxcd between socket activation and traditional mode",
		UsageText:       name + " --status | --traditional | --socket-activation [--dry-run] [--root DIR] [--bus ADDRESS]",
		Version:         version.Version,
		HideHelpCommand: true,
		Writer:          stdout,
		ErrWriter:       stderr,
		Flags:           flags(),
		Action: func(c *cli.Context) error {
			code = action(c, stdout, stderr)
			return nil
		},
	}
	cli.OsExiter = func(int) {}
	if err := app.Run(args); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return plan.ExitUsage
	}
	return code
}

func action(c *cli.Context, stdout, stderr io.Writer) int {
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "%s: "+format+"\n", append([]any{name}, a...)...)
		return code
	}
	if c.NArg() > 0 {
		return fail(plan.ExitUsage, "unexpected argument %q", c.Args().First())
	}
	var modes []string
	for _, m := range []string{"status", "traditional", "socket-activation"} {
		if c.Bool(m) {
			modes = append(modes, m)
		}
	}
	if len(modes) != 1 {
		return fail(plan.ExitUsage, "give exactly one of --status, --traditional, --socket-activation (see --help)")
	}
	root, err := filepath.Abs(c.String("root"))
	if err != nil {
		return fail(plan.ExitUsage, "--root: %v", err)
	}
	changes := modes[0] != "status" && !c.Bool("dry-run")
	if changes && os.Geteuid() != 0 {
		return fail(plan.ExitNotRoot, "must be run as root (--status and --dry-run need not)")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	units, err := manager(ctx, c, root)
	if err != nil {
		return fail(plan.ExitFailed, "%v", err)
	}
	defer units.Close()
	env := &plan.Env{Root: root, Units: units}

	say := func(s string) { fmt.Fprintln(stdout, s) }
	if changes && c.String("log") != "" {
		logPath := filepath.Join(root, c.String("log"))
		if f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640); err != nil {
			fmt.Fprintf(stderr, "%s: warning: cannot log to %s: %v\n", name, logPath, err)
		} else {
			defer f.Close()
			say = func(s string) {
				fmt.Fprintln(stdout, s)
				fmt.Fprintf(f, "%s %s[%d]: %s\n", time.Now().UTC().Format(time.RFC3339), name, os.Getpid(), s)
			}
			say(fmt.Sprintf("%s --%s (%s)", name, modes[0], units.Describe()))
		}
	} else {
		say(fmt.Sprintf("using %s", units.Describe()))
	}

	if modes[0] == "status" {
		r, err := plan.Status(ctx, env)
		if err != nil {
			return fail(plan.ExitFailed, "%v", err)
		}
		r.Print(say)
		if !r.Consistent() {
			return plan.ExitInconsistent
		}
		return plan.ExitOK
	}

	p, err := plan.Build(ctx, env, plan.Mode(modes[0]))
	var refusal *plan.Refusal
	if errors.As(err, &refusal) {
		return fail(refusal.Code, "refusing: %v", refusal)
	}
	if err != nil {
		return fail(plan.ExitFailed, "%v", err)
	}
	if c.Bool("dry-run") {
		p.Print(say)
		say("dry run: nothing was changed")
		return plan.ExitOK
	}
	jctx, cancel := context.WithTimeout(ctx, c.Duration("job-timeout"))
	defer cancel()
	if err := p.Apply(jctx, say); err != nil {
		say("FAILED: " + err.Error())
		return fail(plan.ExitFailed, "%v (the steps before it were done; run --status, fix the cause and run again)", err)
	}
	return plan.ExitOK
}

// manager picks how to reach systemd: the bus given, else offline when
// asked, when a --root is given, or when systemd is not running here.
func manager(ctx context.Context, c *cli.Context, root string) (systemd.Manager, error) {
	bus := c.String("bus")
	offline := c.Bool("offline") || (bus == "" && root != "/")
	if !offline && bus == "" {
		if _, err := os.Stat("/run/systemd/system"); err != nil {
			offline = true
		}
	}
	if offline {
		return &systemd.Offline{Root: root}, nil
	}
	return systemd.Connect(ctx, bus)
}

// flags are the command's options, also checked against the manual page.
func flags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "status", Usage: "report the mode and whether libvirt-guests is ordered right for it"},
		&cli.BoolFlag{Name: "traditional", Usage: "mask the sockets and run the daemon for good"},
		&cli.BoolFlag{Name: "socket-activation", Usage: "unmask and start the sockets (the default mode)"},
		&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "print the plan (unit operations and file diffs) and change nothing"},
		&cli.StringFlag{Name: "root", Value: "/", Usage: "operate on the unit files below `DIR`; offline unless --bus is given too"},
		&cli.StringFlag{Name: "bus", EnvVars: []string{systemd.BusEnv}, Usage: "reach systemd at this D-Bus `ADDRESS` instead of the system bus"},
		&cli.BoolFlag{Name: "offline", Usage: "do not talk to systemd even if it runs; change only files and links"},
		&cli.StringFlag{Name: "log", Value: plan.LogFile, Usage: "append what was done to `FILE` (below --root); empty for none"},
		&cli.DurationFlag{Name: "job-timeout", Value: 2 * time.Minute, Usage: "give up waiting for systemd jobs after `DURATION`"},
	}
}
