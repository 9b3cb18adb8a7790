package systemd

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// PollInterval is how often Settle samples each unit. A sample reads every
// property of the unit and its service, about 4 ms of CPU between the
// agent, dbus-daemon and systemd: at 50 ms, 32 hosts settling at once kept
// two cores busy. Sampling less often misses nothing that matters: the
// signals of a failure (NRestarts, Result, the failed state) stay set once
// reached; only the brief auto-restart state (RestartSec, 100 ms by
// default) may fall between samples, and the NRestarts it leads to does
// not.
const PollInterval = 200 * time.Millisecond

// UnitState is what Settle saw of one unit.
type UnitState struct {
	Unit        string
	LoadState   string // "loaded" unless the unit file is missing or broken
	ActiveState string // at the end of the window
	SubState    string
	Result      string // the service's Result; empty for other unit types
	// NRestartsStart and NRestartsEnd are systemd's count of automatic
	// restarts at the start and end of the window.
	NRestartsStart uint32
	NRestartsEnd   uint32
	MainPID        uint32
	Since          time.Time // when ActiveState last changed
	Failed         bool
	Reason         string // why Failed; empty otherwise
}

// String is the one-line status the operator sees for the unit.
func (u UnitState) String() string {
	s := fmt.Sprintf("%s: %s (%s)", u.Unit, u.ActiveState, u.SubState)
	if !u.Since.IsZero() {
		s += " since " + u.Since.UTC().Format(time.RFC3339)
	}
	if u.MainPID != 0 {
		s += fmt.Sprintf(", main PID %d", u.MainPID)
	}
	if u.Failed {
		s += ": FAILED: " + u.Reason
	}
	return s
}

// snapshot is one sample of a unit's properties.
type snapshot struct {
	LoadState   string
	LoadError   string
	ActiveState string
	SubState    string
	Type        string // service Type=, e.g. "oneshot"; empty for other unit types
	Result      string
	NRestarts   uint32
	MainPID     uint32
	Since       time.Time
}

// watch accumulates the samples of one unit over a window and judges it.
// It is pure so that the judgement can be tested on recorded sequences.
type watch struct {
	unit        string
	n           int
	first, last snapshot
	failedSeen  string // Result when the unit was seen in the failed state
	autoRestart bool   // seen waiting to restart
	reactivated bool   // seen going from active back to activating
}

func (w *watch) observe(s snapshot) {
	if w.n == 0 {
		w.first = s
	} else if w.last.ActiveState == "active" && s.ActiveState == "activating" {
		w.reactivated = true
	}
	w.n++
	w.last = s
	if s.ActiveState == "failed" && w.failedSeen == "" {
		w.failedSeen = s.Result
		if w.failedSeen == "" {
			w.failedSeen = "unknown"
		}
	}
	if s.SubState == "auto-restart" {
		w.autoRestart = true
	}
}

// doomed reports whether the unit has failed whatever happens for the rest
// of the window.
func (w *watch) doomed() bool {
	return w.last.LoadState != "loaded" || w.failedSeen != "" || w.autoRestart ||
		w.reactivated || w.last.NRestarts > w.first.NRestarts
}

func (w *watch) verdict(window time.Duration) UnitState {
	f, l := w.first, w.last
	u := UnitState{
		Unit: w.unit, LoadState: l.LoadState,
		ActiveState: l.ActiveState, SubState: l.SubState, Result: l.Result,
		NRestartsStart: f.NRestarts, NRestartsEnd: l.NRestarts,
		MainPID: l.MainPID, Since: l.Since,
	}
	var why []string
	if l.LoadState != "loaded" {
		r := "unit is not loaded (LoadState=" + l.LoadState + ")"
		if l.LoadError != "" {
			r += ": " + l.LoadError
		}
		why = append(why, r)
	}
	if w.failedSeen != "" {
		why = append(why, "entered the failed state (Result="+w.failedSeen+")")
	}
	in := "during the settle window"
	if window > 0 {
		in = fmt.Sprintf("during the %v settle window", window)
	}
	switch n := l.NRestarts - f.NRestarts; {
	case l.NRestarts > f.NRestarts:
		why = append(why, fmt.Sprintf("restarted %d time%s %s (NRestarts %d -> %d)", n, plural(n), in, f.NRestarts, l.NRestarts))
	case w.autoRestart:
		why = append(why, fmt.Sprintf("crashed and was waiting to restart (auto-restart, Result=%s) %s", orUnknown(l.Result), in))
	case w.reactivated:
		why = append(why, "went from active back to activating "+in)
	}
	// The failed state and auto-restart were already reported above.
	if l.LoadState == "loaded" && !up(l) && l.ActiveState != "failed" && l.SubState != "auto-restart" {
		why = append(why, fmt.Sprintf("is %s (%s) when last seen, not active (Result=%s)", l.ActiveState, l.SubState, orUnknown(l.Result)))
	}
	if len(why) > 0 {
		u.Failed = true
		u.Reason = strings.Join(why, "; ")
	}
	return u
}

// up reports whether a unit's final state counts as running fine.
func up(s snapshot) bool {
	switch s.ActiveState {
	case "active", "reloading":
		return true
	case "inactive":
		// A oneshot without RemainAfterExit= ends inactive when it did its
		// work; anything else that ends inactive has stopped.
		return s.Type == "oneshot" && s.Result == "success"
	}
	return false
}

func plural(n uint32) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Settle watches the units for the window and reports each one's state and
// whether it failed: it is not active at the end (a oneshot may end
// inactive with Result=success), it restarted or was waiting to restart
// during the window, or it entered the failed state. A window of 0 checks
// once, now.
//
// The window is watched in full unless every unit has already failed for
// good. An error means the properties could not be read or ctx ended; the
// states returned with it are judged on what was seen so far.
func (m *Manager) Settle(ctx context.Context, units []string, window time.Duration) ([]UnitState, error) {
	ws := make([]*watch, len(units))
	for i, u := range units {
		ws[i] = &watch{unit: u}
	}
	verdicts := func() []UnitState {
		out := make([]UnitState, len(ws))
		for i, w := range ws {
			out[i] = w.verdict(window)
		}
		return out
	}
	sample := func() error {
		for _, w := range ws {
			s, err := m.snapshot(ctx, w.unit)
			if err != nil {
				return err
			}
			w.observe(s)
		}
		return nil
	}
	deadline := time.Now().Add(window)
	if err := sample(); err != nil {
		return nil, err
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for time.Now().Before(deadline) && !allDoomed(ws) {
		t.Reset(min(PollInterval, time.Until(deadline)))
		select {
		case <-ctx.Done():
			return verdicts(), fmt.Errorf("systemd: settling %v: %w", units, ctx.Err())
		case <-t.C:
		}
		if err := sample(); err != nil {
			return verdicts(), err
		}
	}
	return verdicts(), nil
}

func allDoomed(ws []*watch) bool {
	for _, w := range ws {
		if !w.doomed() {
			return false
		}
	}
	return len(ws) > 0
}

func (m *Manager) snapshot(ctx context.Context, unit string) (snapshot, error) {
	var s snapshot
	p, err := m.conn.GetUnitPropertiesContext(ctx, unit)
	if err != nil {
		return s, fmt.Errorf("systemd: reading the state of %s: %w", unit, err)
	}
	s.LoadState, _ = p["LoadState"].(string)
	s.ActiveState, _ = p["ActiveState"].(string)
	s.SubState, _ = p["SubState"].(string)
	if us, ok := p["StateChangeTimestamp"].(uint64); ok && us != 0 {
		s.Since = time.UnixMicro(int64(us))
	}
	if le, ok := p["LoadError"].([]any); ok && len(le) == 2 {
		if msg, _ := le[1].(string); msg != "" {
			s.LoadError = msg
		}
	}
	if !strings.HasSuffix(unit, ".service") || s.LoadState != "loaded" {
		return s, nil
	}
	p, err = m.conn.GetUnitTypePropertiesContext(ctx, unit, "Service")
	if err != nil {
		return s, fmt.Errorf("systemd: reading the service state of %s: %w", unit, err)
	}
	s.Type, _ = p["Type"].(string)
	s.Result, _ = p["Result"].(string)
	s.NRestarts, _ = p["NRestarts"].(uint32)
	s.MainPID, _ = p["MainPID"].(uint32)
	return s, nil
}
