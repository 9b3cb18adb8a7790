package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/deptool/deptool/diff/layout"
	godbus "github.com/godbus/dbus/v5"
)

// DefaultUnitDir is where deptool links unit files and where systemd writes
// the install links of units enabled persistently.
const DefaultUnitDir = layout.UnitDir

// DefaultAppsDir holds the agent's versioned checkouts; install links that
// point in here are the ones Enable rewrites.
const DefaultAppsDir = layout.AppsDir

// Manager is a connection to systemd on the system bus. Its methods may be
// called from several goroutines.
type Manager struct {
	conn    *sd.Conn
	unitDir string
	appsDir string
}

// Connect opens a connection to systemd on the system bus.
func Connect(ctx context.Context) (*Manager, error) {
	m := &Manager{unitDir: DefaultUnitDir, appsDir: DefaultAppsDir}
	c, err := sd.NewSystemConnectionContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("systemd: connecting to the system bus: %w", err)
	}
	m.conn = c
	return m, nil
}

// Close closes the bus connection.
func (m *Manager) Close() {
	if m.conn != nil {
		m.conn.Close()
	}
}

// Reload makes systemd re-read unit files and drop-ins (daemon-reload). The
// call returns only once the reload is complete, so units started after it
// see the new files.
func (m *Manager) Reload(ctx context.Context) error {
	if err := m.conn.ReloadContext(ctx); err != nil {
		return fmt.Errorf("systemd: daemon-reload: %w", err)
	}
	return nil
}

// Loaded reports whether systemd holds any of the units in memory: loaded,
// or remembered from an earlier reference. Asking does not load them, as
// asking for a unit's properties would.
func (m *Manager) Loaded(ctx context.Context, units []string) (bool, error) {
	all, err := m.conn.ListUnitsContext(ctx)
	if err != nil {
		return false, fmt.Errorf("systemd: listing units: %w", err)
	}
	want := make(map[string]bool, len(units))
	for _, u := range units {
		want[u] = true
	}
	for _, u := range all {
		if want[u.Name] {
			return true, nil
		}
	}
	return false, nil
}

// Enable enables the units persistently, as `systemctl enable` would, and
// keeps their install links out of versioned checkouts (see
// FixInstallLinks). Enabling an already enabled unit is not an error;
// enabling units none of which has an [Install] section is ErrNoInstall,
// since nothing would start them at boot.
//
// Unlike `systemctl enable` it does not daemon-reload, except where systemd
// itself then needs one (systemd 257, see reloadIfOutdated): the agent
// reloads once after all its unit changes rather than once per call.
func (m *Manager) Enable(ctx context.Context, units []string) error {
	if len(units) == 0 {
		return nil
	}
	// force=false: an install link that already exists and names another
	// unit is a conflict the operator must see, not something to overwrite.
	install, _, err := m.conn.EnableUnitFilesContext(ctx, units, false, false)
	if err != nil {
		return fmt.Errorf("systemd: enabling %v: %w", units, err)
	}
	if _, err := FixInstallLinks(m.unitDir, m.appsDir); err != nil {
		return fmt.Errorf("systemd: enabled %v but could not repair their install links: %w", units, err)
	}
	if err := m.reloadIfOutdated(ctx); err != nil {
		return err
	}
	if !install {
		return fmt.Errorf("systemd: enabling %v: %w", units, ErrNoInstall)
	}
	return nil
}

// ErrNoInstall is wrapped by Enable's error when the units have no
// [Install] section: systemd accepts the call and changes nothing, and the
// operator who listed them as enabled expects them to start at boot.
var ErrNoInstall = errors.New("no [Install] section (WantedBy=, RequiredBy=, Alias=...), so enabling does nothing")

// Disable removes the units' install links. Disabling a unit that is not
// enabled is not an error; disabling one systemd does not know is.
//
// systemd's disable also removes a unit's own link in the unit directory
// when that link points outside systemd's search path, as deptool's links
// into the apps directory do (seen on systemd 252). Whether the unit file
// stays linked is the agent's decision, made by its link and unlink steps,
// so Disable puts those links back as they were.
//
// Like Enable, it does not daemon-reload; the agent reloads once after all
// unit changes.
func (m *Manager) Disable(ctx context.Context, units []string) error {
	if len(units) == 0 {
		return nil
	}
	kept := map[string]string{}
	for _, u := range units {
		p := filepath.Join(m.unitDir, u)
		if target, err := os.Readlink(p); err == nil && inside(target, m.appsDir) {
			kept[p] = target
		}
	}
	_, err := m.conn.DisableUnitFilesContext(ctx, units, false)
	var errs []error
	if err != nil {
		errs = append(errs, fmt.Errorf("systemd: disabling %v: %w", units, err))
	}
	for p, target := range kept {
		if got, err := os.Readlink(p); err == nil && got == target {
			continue
		}
		if err := replaceLink(p, target); err != nil {
			errs = append(errs, fmt.Errorf("systemd: disabling %s removed its unit link and restoring it failed: %w", filepath.Base(p), err))
		}
	}
	if err == nil {
		if err := m.reloadIfOutdated(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// reloadIfOutdated reloads only if systemd says it must. systemd 257 (not
// 252, not 247) marks its whole unit file state outdated after an
// EnableUnitFiles or DisableUnitFiles call that changed links: every unit,
// even unrelated ones, then reports NeedDaemonReload=yes and `systemctl
// status` warns that its file changed on disk, until the next
// daemon-reload (`systemctl enable` reloads for that reason). -.slice
// always exists and has no unit file, so its NeedDaemonReload is that
// flag alone.
func (m *Manager) reloadIfOutdated(ctx context.Context) error {
	p, err := m.conn.GetUnitPropertyContext(ctx, "-.slice", "NeedDaemonReload")
	if err != nil {
		return fmt.Errorf("systemd: reading NeedDaemonReload: %w", err)
	}
	if need, _ := p.Value.Value().(bool); need {
		return m.Reload(ctx)
	}
	return nil
}

// Restart restarts the unit (starting it if it was stopped) and waits for
// the job's result. A result other than "done" is an error naming the unit
// and the result.
//
// A "done" job does not mean the unit stays up: follow with Settle.
func (m *Manager) Restart(ctx context.Context, unit string) error {
	// A unit that crash-looped under the previous version may have hit its
	// start limit; the deploy is a deliberate new start, so clear the
	// counter first. The error is ignored: a unit that is not loaded or not
	// failed has nothing to clear, and RestartUnit reports real problems.
	_ = m.conn.ResetFailedUnitContext(ctx, unit)
	return m.job(ctx, "restart", unit, m.conn.RestartUnitContext)
}

// Stop stops the unit and waits for the job's result. Stopping a unit that
// is already stopped is not an error.
func (m *Manager) Stop(ctx context.Context, unit string) error {
	err := m.job(ctx, "stop", unit, m.conn.StopUnitContext)
	var dbusErr godbus.Error
	if errors.As(err, &dbusErr) && dbusErr.Name == "org.freedesktop.systemd1.NoSuchUnit" {
		// Not loaded means not running: systemd unloads inactive units
		// nothing refers to, such as one disabled by an earlier deploy.
		err = nil
	}
	if err == nil {
		// A stopped unit that had failed stays listed as failed, long after
		// its file is gone; stopping is the end of its story.
		_ = m.conn.ResetFailedUnitContext(ctx, unit)
	}
	return err
}

type jobFunc func(ctx context.Context, name, mode string, ch chan<- string) (int, error)

// ErrJobFailed is wrapped by errors from Restart and Stop whose job ended
// with a result other than "done".
var ErrJobFailed = errors.New("job did not complete")

// JobError is a job on a unit that failed: systemd refused it, its result
// was not "done", or the wait for it gave up.
type JobError struct {
	Verb, Unit string
	Err        error
	Result     string // the job's result, when it had one
}

func (e *JobError) Error() string { return "systemd: " + e.Verb + " " + e.Unit + ": " + e.detail() }

// Why is the error without the unit, for a line that names it already:
// "restart: job did not complete: result "failed"".
func (e *JobError) Why() string { return e.Verb + ": " + e.detail() }

func (e *JobError) detail() string {
	if e.Result != "" {
		return fmt.Sprintf("%v: result %q", e.Err, e.Result)
	}
	return e.Err.Error()
}

func (e *JobError) Unwrap() error { return e.Err }

// ErrJobTimeout is wrapped by errors from Restart and Stop whose job had
// no result when ctx's deadline passed. By then the unit's processes have
// been killed (SIGKILL, all of them), which ends a start waiting for a
// notification that never comes and a stop waiting for an endless
// ExecStop=, so the next job for the unit (a rollback's) can run.
var ErrJobTimeout = errors.New("job timed out")

// killGrace is how long a timed-out job may take to end once its unit's
// processes are killed: systemd reaps them and finishes the job at once.
const killGrace = 5 * time.Second

func (m *Manager) job(ctx context.Context, verb, unit string, start jobFunc) error {
	// Buffered: go-systemd delivers the result while holding its job lock,
	// and we may have stopped listening because ctx ended.
	ch := make(chan string, 1)
	// "replace": a deploy's restart must win over a start or stop job
	// already queued for the unit, as systemctl does by default.
	if _, err := start(ctx, unit, "replace", ch); err != nil {
		return &JobError{Verb: verb, Unit: unit, Err: err}
	}
	began := time.Now()
	select {
	case result := <-ch:
		if result != "done" {
			return &JobError{Verb: verb, Unit: unit, Err: ErrJobFailed, Result: result}
		}
		return nil
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &JobError{Verb: verb, Unit: unit, Err: fmt.Errorf("gave up waiting for the job: %w", ctx.Err())}
		}
	}
	// The deadline is the agent's bound on the job: end it.
	state := m.describe(unit)
	kctx, cancel := context.WithTimeout(context.Background(), killGrace)
	defer cancel()
	kill := m.conn.KillUnitWithTarget(kctx, unit, sd.All, int32(syscall.SIGKILL))
	how := "killed its processes"
	if kill != nil {
		how = "killing its processes failed: " + kill.Error()
	}
	select {
	case result := <-ch:
		how += fmt.Sprintf("; the job then ended %q", result)
	case <-kctx.Done():
		how += fmt.Sprintf("; the job still had no result %s later", killGrace)
	}
	return &JobError{Verb: verb, Unit: unit, Err: fmt.Errorf("%w: no result after %s (the unit was %s); %s",
		ErrJobTimeout, time.Since(began).Round(time.Second), state, how)}
}

// describe is a unit's state in a few words, for messages; best effort.
func (m *Manager) describe(unit string) string {
	ctx, cancel := context.WithTimeout(context.Background(), killGrace)
	defer cancel()
	p, err := m.conn.GetUnitPropertiesContext(ctx, unit)
	if err != nil {
		return "in an unknown state"
	}
	active, _ := p["ActiveState"].(string)
	sub, _ := p["SubState"].(string)
	return active + " (" + sub + ")"
}
