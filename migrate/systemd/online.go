package systemd

import (
	"context"
	"fmt"

	sd "github.com/coreos/go-systemd/v22/dbus"
)

// Online drives a running systemd over D-Bus.
type Online struct {
	conn    *sd.Conn
	address string
}

// Connect reaches systemd at a D-Bus address ("" = the system bus).
func Connect(ctx context.Context, address string) (*Online, error) {
	conn, err := Dial(ctx, address)
	if err != nil {
		return nil, err
	}
	return &Online{conn: conn, address: address}, nil
}

func (o *Online) Describe() string {
	if o.address == "" {
		return "systemd on the system bus"
	}
	return "systemd at " + o.address
}

func (o *Online) Online() bool { return true }
func (o *Online) Close()       { o.conn.Close() }

func (o *Online) State(ctx context.Context, unit string) (UnitState, error) {
	p, err := o.conn.GetUnitPropertiesContext(ctx, unit)
	if err != nil {
		return UnitState{}, fmt.Errorf("state of %s: %w", unit, err)
	}
	str := func(k string) string { s, _ := p[k].(string); return s }
	strs := func(k string) []string { s, _ := p[k].([]string); return s }
	return UnitState{
		Name:          unit,
		LoadState:     str("LoadState"),
		ActiveState:   str("ActiveState"),
		SubState:      str("SubState"),
		UnitFileState: str("UnitFileState"),
		FragmentPath:  str("FragmentPath"),
		DropInPaths:   strs("DropInPaths"),
		After:         strs("After"),
		Requires:      strs("Requires"),
		BindsTo:       strs("BindsTo"),
	}, nil
}

type jobFunc func(ctx context.Context, name, mode string, ch chan<- string) (int, error)

func (o *Online) job(ctx context.Context, verb string, f jobFunc, unit string) error {
	ch := make(chan string, 1)
	if _, err := f(ctx, unit, "replace", ch); err != nil {
		return fmt.Errorf("%s %s: %w", verb, unit, err)
	}
	select {
	case r := <-ch:
		if r != "done" {
			return fmt.Errorf("%s %s: job %s", verb, unit, r)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s %s: %w", verb, unit, ctx.Err())
	}
}

func (o *Online) Start(ctx context.Context, unit string) error {
	return o.job(ctx, "start", o.conn.StartUnitContext, unit)
}

func (o *Online) Stop(ctx context.Context, unit string) error {
	return o.job(ctx, "stop", o.conn.StopUnitContext, unit)
}

func (o *Online) Restart(ctx context.Context, unit string) error {
	return o.job(ctx, "restart", o.conn.RestartUnitContext, unit)
}

func (o *Online) Enable(ctx context.Context, units ...string) ([]Change, error) {
	_, ch, err := o.conn.EnableUnitFilesContext(ctx, units, false, false)
	if err != nil {
		return nil, fmt.Errorf("enable %v: %w", units, err)
	}
	out := make([]Change, len(ch))
	for i, c := range ch {
		out[i] = Change(c)
	}
	return out, nil
}

func (o *Online) Disable(ctx context.Context, units ...string) ([]Change, error) {
	ch, err := o.conn.DisableUnitFilesContext(ctx, units, false)
	if err != nil {
		return nil, fmt.Errorf("disable %v: %w", units, err)
	}
	out := make([]Change, len(ch))
	for i, c := range ch {
		out[i] = Change(c)
	}
	return out, nil
}

func (o *Online) Mask(ctx context.Context, units ...string) ([]Change, error) {
	ch, err := o.conn.MaskUnitFilesContext(ctx, units, false, false)
	if err != nil {
		return nil, fmt.Errorf("mask %v: %w", units, err)
	}
	out := make([]Change, len(ch))
	for i, c := range ch {
		out[i] = Change(c)
	}
	return out, nil
}

func (o *Online) Unmask(ctx context.Context, units ...string) ([]Change, error) {
	ch, err := o.conn.UnmaskUnitFilesContext(ctx, units, false)
	if err != nil {
		return nil, fmt.Errorf("unmask %v: %w", units, err)
	}
	out := make([]Change, len(ch))
	for i, c := range ch {
		out[i] = Change(c)
	}
	return out, nil
}

func (o *Online) Reload(ctx context.Context) error {
	if err := o.conn.ReloadContext(ctx); err != nil {
		return fmt.Errorf("daemon-reload: %w", err)
	}
	return nil
}
