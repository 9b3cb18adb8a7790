package agent

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/deptool/deptool/deploy/systemd"
	"github.com/deptool/deptool/deploy/wire"
	hostlayout "github.com/deptool/deptool/diff/layout"
)

// Where the files of an app's special directories are linked, as host
// paths: systemd/ (units and drop-ins), sysusers/ and quadlets/.
const (
	unitDir     = hostlayout.UnitDir
	sysusersDir = hostlayout.SysusersDir
	quadletDir  = hostlayout.QuadletDir
)

// unitReason is why a unit failed, without its name: the report names it.
func unitReason(err error) string {
	var je *systemd.JobError
	if errors.As(err, &je) {
		return je.Why()
	}
	return err.Error()
}

// journalLines is how much of a failed unit's journal a Result carries.
const journalLines = 20

// Units is what the agent asks of systemd. In production it is the D-Bus
// driver of package systemd; the agent's own tests give it a recorder,
// which checks the agent's sequencing and nothing of systemd, and the
// operator's tests a simulated systemd (internal/simsystemd), so that a
// whole deploy runs in one process without root.
type Units interface {
	Reload(ctx context.Context) error
	// Loaded reports whether systemd holds any of the units in memory.
	Loaded(ctx context.Context, units []string) (bool, error)
	Enable(ctx context.Context, units []string) error
	Disable(ctx context.Context, units []string) error
	Restart(ctx context.Context, unit string) error
	Stop(ctx context.Context, unit string) error
	Settle(ctx context.Context, units []string, window time.Duration) ([]systemd.UnitState, error)
	// JournalTail is the unit's last n journal lines since a time.
	JournalTail(unit string, n int, since time.Time) []string
	// Sysusers runs systemd-sysusers, creating the users and groups the
	// files in /etc/sysusers.d declare.
	Sysusers(ctx context.Context) error
	// ReloadUnit reloads a running unit and starts one that is not.
	ReloadUnit(ctx context.Context, unit string) error
	// Run runs a command as a transient unit and waits for it to end.
	Run(ctx context.Context, name string, c systemd.Command) error
	// Status reads a unit's state, for drift checks.
	Status(ctx context.Context, unit string) (systemd.UnitStatus, error)
	// Outdated reports whether systemd marks all units as needing a
	// daemon-reload, as newer versions do after enable and disable.
	Outdated(ctx context.Context) (bool, error)
}

// OpenUnits connects to systemd; close releases the connection.
type OpenUnits func(ctx context.Context) (u Units, close func(), err error)

// units is Units, as the agent's code names it.
type units = Units

// openUnits is OpenUnits, as the agent's code names it.
type openUnits = OpenUnits

// busUnits is systemd on the host's system bus.
type busUnits struct{ *systemd.Manager }

func (busUnits) JournalTail(unit string, n int, since time.Time) []string {
	return systemd.JournalTail(unit, n, since)
}

// Sysusers runs systemd-sysusers: it changes no unit, and systemd offers
// no D-Bus call for it.
func (busUnits) Sysusers(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "systemd-sysusers").CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemd-sysusers: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func openBus(ctx context.Context) (units, func(), error) {
	m, err := systemd.Connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	return busUnits{m}, m.Close, nil
}

// noUnits is for an agent under another root than "/": the system's
// systemd manages "/", so driving it from a test root would be wrong.
func noUnits(root string) openUnits {
	return func(context.Context) (units, func(), error) {
		return nil, nil, fmt.Errorf("no systemd to manage units under root %s: the agent drives systemd only at root /", root)
	}
}

// unitOf is the unit a file under systemd/ belongs to: itself, or for a
// drop-in "x.service.d/y.conf", x.service.
func unitOf(name string) string {
	if dir, _, ok := strings.Cut(name, "/"); ok {
		return strings.TrimSuffix(dir, ".d")
	}
	return name
}

// isTemplate: foo@.service can be linked, enabled and disabled, but not
// started or stopped by itself.
func isTemplate(unit string) bool {
	at := strings.IndexByte(unit, '@')
	return at >= 0 && at+1 < len(unit) && unit[at+1] == '.'
}

// checkUnitStep refuses unit names that are not plain files under an
// app's systemd/ directory (link, unlink) or plain unit names (the rest).
func checkUnitStep(step wire.UnitStep) error {
	parts := strings.Split(step.Unit, "/")
	ok := len(parts) == 1 || (len(parts) == 2 && strings.HasSuffix(parts[0], ".d") &&
		(step.Op == wire.LinkUnit || step.Op == wire.UnlinkUnit))
	for _, p := range parts {
		ok = ok && validName(p) && !strings.HasPrefix(p, ".")
	}
	if !ok {
		return fmt.Errorf("unit step %s %q: want a unit name, or for link and unlink a drop-in x.d/y", step.Op, step.Unit)
	}
	return nil
}
