package systemd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
)

// ReloadUnit reloads the unit if it runs and starts it if it does not, and
// waits for the job's result, as Restart does. A unit that cannot reload
// (no ExecReload=) is an error: the manifest asked for a reload, and a
// restart in its place could drop what the reload was chosen to keep.
//
// A "done" job does not mean the unit stays up: follow with Settle.
func (m *Manager) ReloadUnit(ctx context.Context, unit string) error {
	state := ""
	if p, err := m.conn.GetUnitPropertyContext(ctx, unit, "ActiveState"); err == nil {
		state, _ = p.Value.Value().(string)
	}
	if state == "active" || state == "reloading" {
		return m.job(ctx, "reload", unit, m.conn.ReloadUnitContext)
	}
	_ = m.conn.ResetFailedUnitContext(ctx, unit) // as Restart does
	return m.job(ctx, "start", unit, m.conn.StartUnitContext)
}

// Command is a program run once as a transient service, its output going
// to a file.
type Command struct {
	Argv    []string // Argv[0] is an absolute path; no shell
	Dir     string   // working directory
	Env     []string // KEY=value
	Output  string   // file that gets stdout and stderr; it must exist
	Timeout time.Duration
}

// CommandError is how a Command run by Run failed.
type CommandError struct {
	Result string // the service's Result, such as "exit-code" or "timeout"
	Status int32  // the exit status, for Result "exit-code"
}

func (e *CommandError) Error() string {
	switch e.Result {
	case "exit-code":
		if e.Status == 203 { // systemd's EXIT_EXEC
			return "exit status 203: systemd could not execute the program (missing, not executable, or a bad interpreter line)"
		}
		return fmt.Sprintf("exit status %d", e.Status)
	case "timeout":
		return "timed out"
	case "":
		return "failed"
	}
	return e.Result
}

// Run runs c as the transient service name (Type=oneshot) and waits until
// it ends. A program that exits non-zero, is killed or outlives its
// timeout is a *CommandError.
//
// A transient unit, rather than a child of the agent: systemd gives it a
// clean environment and its own cgroup, kills whatever it leaves behind,
// enforces the timeout, and it shows in the journal like any other unit.
func (m *Manager) Run(ctx context.Context, name string, c Command) error {
	if len(c.Argv) == 0 {
		return errors.New("systemd: run: no command")
	}
	props := []sd.Property{
		sd.PropDescription("deptool validation: " + c.Argv[0]),
		sd.PropType("oneshot"),
		// go-systemd calls the flag "uncleanIsFailure", but systemd reads
		// true as "ignore failure", the "-" prefix of ExecStart=.
		sd.PropExecStart(c.Argv, false),
		{Name: "WorkingDirectory", Value: godbus.MakeVariant(c.Dir)},
		{Name: "Environment", Value: godbus.MakeVariant(c.Env)},
		{Name: "StandardOutputFile", Value: godbus.MakeVariant(c.Output)},
		{Name: "StandardErrorFile", Value: godbus.MakeVariant(c.Output)},
		{Name: "TimeoutStartUSec", Value: godbus.MakeVariant(uint64(c.Timeout.Microseconds()))},
	}
	ch := make(chan string, 1)
	if _, err := m.conn.StartTransientUnitContext(ctx, name, "fail", props, ch); err != nil {
		return fmt.Errorf("systemd: start %s: %w", name, err)
	}
	// systemd enforces the timeout; this one is only against a lost job.
	wait := time.NewTimer(c.Timeout + 30*time.Second)
	defer wait.Stop()
	var result string
	select {
	case result = <-ch:
	case <-ctx.Done():
		_ = m.stopQuietly(name)
		return fmt.Errorf("systemd: %s: gave up waiting: %w", name, ctx.Err())
	case <-wait.C:
		_ = m.stopQuietly(name)
		return fmt.Errorf("systemd: %s: no result after %s", name, c.Timeout+30*time.Second)
	}
	if result == "done" {
		return nil // an inactive transient unit is gone already
	}
	ce := &CommandError{Result: result}
	if p, err := m.conn.GetServicePropertyContext(ctx, name, "Result"); err == nil {
		if s, ok := p.Value.Value().(string); ok && s != "success" {
			ce.Result = s
		}
	}
	if p, err := m.conn.GetServicePropertyContext(ctx, name, "ExecMainStatus"); err == nil {
		ce.Status, _ = p.Value.Value().(int32)
	}
	// A failed transient unit stays listed until reset; reset unloads it.
	_ = m.conn.ResetFailedUnitContext(ctx, name)
	return ce
}

func (m *Manager) stopQuietly(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := m.job(ctx, "stop", name, m.conn.StopUnitContext)
	_ = m.conn.ResetFailedUnitContext(ctx, name)
	return err
}

// UnitStatus is a unit's state as `deptool check` judges it.
type UnitStatus struct {
	LoadState   string // "loaded", "not-found", ...
	FileState   string // UnitFileState: "enabled", "disabled", ...
	ActiveState string
	SubState    string
	Type        string // the service's Type=; empty for other unit types
	Result      string // the service's Result; empty for other unit types
	// NRestarts counts the service's automatic restarts since it was last
	// started by a job (a deploy's restart resets it): crashes.
	NRestarts uint32
}

// Running reports whether the unit runs as an enabled unit should: active,
// or a oneshot that ran and succeeded.
func (s UnitStatus) Running() bool {
	switch s.ActiveState {
	case "active", "reloading", "activating":
		return s.SubState != "auto-restart"
	}
	return s.ActiveState == "inactive" && s.Type == "oneshot" && s.Result == "success"
}

// Status reads a unit's state. It changes nothing (systemd may load the
// unit to answer, as systemctl status does).
func (m *Manager) Status(ctx context.Context, unit string) (UnitStatus, error) {
	props, err := m.conn.GetUnitPropertiesContext(ctx, unit)
	if err != nil {
		return UnitStatus{}, fmt.Errorf("systemd: %s: %w", unit, err)
	}
	str := func(p map[string]any, k string) string { s, _ := p[k].(string); return s }
	s := UnitStatus{LoadState: str(props, "LoadState"), FileState: str(props, "UnitFileState"), ActiveState: str(props, "ActiveState"), SubState: str(props, "SubState")}
	if strings.HasSuffix(unit, ".service") {
		if sp, err := m.conn.GetUnitTypePropertiesContext(ctx, unit, "Service"); err == nil {
			s.Type, s.Result = str(sp, "Type"), str(sp, "Result")
			s.NRestarts, _ = sp["NRestarts"].(uint32)
		}
	}
	return s, nil
}

// Outdated reports whether systemd holds its view of the unit files for
// outdated as a whole. Newer systemd (seen on 257, not on 252) marks every
// unit NeedDaemonReload ("changed on disk") once EnableUnitFiles or
// DisableUnitFiles changed anything, until the next daemon-reload, since
// systemctl enable reloads right after. init.scope has no unit file, so
// only that manager-wide mark makes it need a reload.
func (m *Manager) Outdated(ctx context.Context) (bool, error) {
	p, err := m.conn.GetUnitPropertyContext(ctx, "init.scope", "NeedDaemonReload")
	if err != nil {
		return false, fmt.Errorf("systemd: reading NeedDaemonReload: %w", err)
	}
	need, _ := p.Value.Value().(bool)
	return need, nil
}
