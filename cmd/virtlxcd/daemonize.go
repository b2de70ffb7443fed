package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// readyEnv tells a re-executed daemon child which descriptor reports its
// start-up result to the waiting parent.
const readyEnv = "VIRTLXCD_DAEMON_READY_FD"

// daemonize runs the daemon as a detached child (Go cannot fork a running
// runtime, so the child is this binary re-executed in a new session) and
// exits with its start-up result: 0 once it listens, its error otherwise.
func daemonize(o *options) error {
	exe, err := os.Executable()
	if err != nil {
		return fail(exitInit, "%s: error: cannot find own executable: %v", daemonName, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fail(exitInit, "%s: error: %v", daemonName, err)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return fail(exitInit, "%s: error: %v", daemonName, err)
	}
	args := []string{"--daemon"}
	// The child runs in /, so relative paths must be resolved here.
	if o.config != "" {
		abs, _ := filepath.Abs(o.config)
		args = append(args, "--config", abs)
	}
	if o.pidFile != "" {
		abs, _ := filepath.Abs(o.pidFile)
		args = append(args, "--pid-file", abs)
	}
	if o.timeout != 0 {
		args = append(args, "--timeout", strconv.FormatInt(o.timeout, 10))
	}
	if o.verbose {
		args = append(args, "--verbose")
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), readyEnv+"=3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.ExtraFiles = []*os.File{w}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fail(exitInit, "%s: error: cannot start daemon: %v", daemonName, err)
	}
	w.Close()
	devnull.Close()
	msg, _ := io.ReadAll(r)
	r.Close()
	status := strings.TrimSpace(string(msg))
	if status == "ok" {
		cmd.Process.Release()
		return nil
	}
	code := exitInit
	reason := status
	if c, rest, ok := strings.Cut(status, "\t"); ok {
		if n, err := strconv.Atoi(c); err == nil {
			code, reason = n, rest
		}
	}
	if reason == "" {
		reason = "the daemon exited during start-up"
		if st, err := cmd.Process.Wait(); err == nil && st.ExitCode() > 0 {
			code = st.ExitCode()
		}
	}
	return fail(code, "%s: error: %s. Check the log or run without --daemon for more info.", daemonName, reason)
}

// childReadyPipe returns the reporting function of a daemonized child, or
// nil when this process was not started by daemonize.
func childReadyPipe() func(error) {
	v := os.Getenv(readyEnv)
	if v == "" {
		return nil
	}
	os.Unsetenv(readyEnv)
	fd, err := strconv.Atoi(v)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), "ready")
	return func(err error) {
		if err == nil {
			fmt.Fprint(f, "ok")
		} else {
			code := exitInit
			if ee, ok := err.(*exitError); ok {
				code = ee.code
			}
			fmt.Fprintf(f, "%d\t%s", code, strings.TrimPrefix(err.Error(), daemonName+": "))
		}
		f.Close()
	}
}
