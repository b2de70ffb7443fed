package lxc

import (
	"errors"

	"github.com/virtlxcd/virtlxcd/pkg/controller"
)

// controllerRuntime is the runtime backed by per-domain controller
// processes (pkg/controller): the daemon re-executes its own binary for
// each container.
type controllerRuntime struct {
	exe  string
	dirs controller.Dirs
}

func newControllerRuntime(cfg Config) runtime {
	return &controllerRuntime{exe: cfg.Exe, dirs: controller.Dirs{StateDir: cfg.Paths.LXCStateDir, LogDir: cfg.Paths.LXCLogDir}}
}

func (r *controllerRuntime) Start(spec *controller.Spec) (container, error) {
	c, err := controller.Start(r.exe, r.dirs, spec)
	if err != nil {
		return nil, err
	}
	return controllerContainer{c}, nil
}

func (r *controllerRuntime) Attach(name string) (container, *exitInfo, error) {
	c, err := controller.Attach(r.dirs, name)
	var ee *controller.ExitedError
	if errors.As(err, &ee) {
		e := convertExit(ee.Exit)
		return nil, &e, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return controllerContainer{c}, nil, nil
}

// exitReasons translates the runtime's exit reasons.
var exitReasons = map[controller.ExitReason]exitReason{
	controller.Shutdown:  exitShutdown,
	controller.Reboot:    exitReboot,
	controller.Crashed:   exitCrashed,
	controller.Destroyed: exitDestroyed,
	controller.Failed:    exitFailed,
}

func convertExit(e controller.Exit) exitInfo {
	r, ok := exitReasons[e.Reason]
	if !ok {
		r = exitFailed
	}
	return exitInfo{Reason: r, Status: e.Status}
}

type controllerContainer struct{ *controller.Container }

func (c controllerContainer) Exit() exitInfo { return convertExit(c.Container.Exit()) }

func (c controllerContainer) Stats() (uint64, uint64, error) {
	s, err := c.Container.Stats()
	return s.CPUTimeNs, s.MemoryBytes, err
}
