// Package simsystemd is a simulated systemd for one host, for tests that
// run the real agent without root: it implements the agent's Units
// interface (deploy/agent) over the unit links the agent makes under a
// temporary root, with states, job results and journal lines decided by
// scripted behaviours and an injected clock instead of processes.
//
// It simulates what the agent reads from systemd, not systemd: units are
// known from their links in the root's /etc/systemd/system, a restart
// makes a unit active unless its behaviour says otherwise, and Settle
// judges the window at once, at the clock's now plus the window, so no
// test waits. What systemd itself does (D-Bus, processes, install links)
// is proven by the lab tests of deploy/systemd.
//
// A behaviour comes from Script, or from lines in the unit file itself
// (and its drop-ins), which reach hosts through an ordinary config tree:
//
//	X-Sim-FailStart=yes      start and restart jobs fail; the unit is failed
//	X-Sim-Hang=yes           jobs never end: until ctx ends or ExpireJobs
//	X-Sim-CrashAfter=10s     active, then failed once the clock passed 10 s
//	X-Sim-Restarts=3         restarts 3 times during each settle window
//	X-Sim-ReloadFails=yes    reload jobs fail
//	X-Sim-Journal=some line  a journal line written at each start
//
// A Systemd is safe for concurrent use; give each simulated host its own.
package simsystemd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deptool/deptool/deploy/systemd"
	"github.com/deptool/deptool/diff/layout"
)

// Behaviour is how a unit acts. The zero value starts, stops and reloads
// as asked and stays up.
type Behaviour struct {
	// FailStart fails start and restart jobs (result "failed"); the unit
	// ends failed with Result exit-code.
	FailStart bool
	// Hang makes start, restart, reload and stop jobs wait for ever: until
	// their ctx ends (a deadline is a job timeout: the unit's processes are
	// killed and it ends failed) or ExpireJobs is called.
	Hang bool
	// CrashAfter, when positive, fails the unit that long after it started,
	// by the injected clock.
	CrashAfter time.Duration
	// Restarts is how many times the unit restarts by itself in each
	// settle window (a crash loop that systemd keeps restarting).
	Restarts uint32
	// ReloadFails fails reload jobs.
	ReloadFails bool
	// Journal are lines the unit writes to the journal at each start.
	Journal []string
}

// Call is one call of the agent to systemd, as Hook sees it.
type Call struct {
	Op   string // "reload", "loaded", "enable", "disable", "restart", "stop", "settle", "sysusers", "reload-unit", "run", "status", "outdated"
	Unit string // the unit, or units joined by " "; empty for reload, sysusers and outdated
}

func (c Call) String() string {
	if c.Unit == "" {
		return c.Op
	}
	return c.Op + " " + c.Unit
}

// Systemd is one simulated host's systemd.
type Systemd struct {
	root string
	now  func() time.Time

	// Hook, when set, is called at the start of every call the agent
	// makes, outside the Systemd's lock: a test blocks in it to hold the
	// agent at a phase, or returns an error to fail the call. Set it
	// before the agent runs.
	Hook func(ctx context.Context, c Call) error
	// RunHook, when set, decides how a transient command (a manifest's
	// validate) ends; nil succeeds.
	RunHook func(name string, c systemd.Command) error
	// MarkOutdated makes enable and disable mark systemd's view of unit
	// files outdated until the next reload, as systemd 257 does.
	MarkOutdated bool

	mu       sync.Mutex
	script   map[string]Behaviour
	units    map[string]*unit
	loaded   map[string]bool // units systemd holds in memory
	outdated bool
	expire   chan struct{} // closed by ExpireJobs
	calls    []Call
	pid      uint32
}

// unit is the runtime state of one unit.
type unit struct {
	enabled    bool
	active     string // ActiveState
	sub        string // SubState
	result     string // the service's Result
	since      time.Time
	started    time.Time // when it last became active
	pid        uint32
	nrestarts  uint32
	journal    []journalLine
	behaviour  Behaviour
	unitType   string // Type= of the service
	fileExists bool
}

// New is a systemd for the host whose root is root, with now as its clock
// (nil: time.Now, for simulated fleets that run in real time).
func New(root string, now func() time.Time) *Systemd {
	if now == nil {
		now = time.Now
	}
	return &Systemd{root: root, now: now, script: map[string]Behaviour{}, units: map[string]*unit{},
		loaded: map[string]bool{}, expire: make(chan struct{})}
}

// Script sets unit's behaviour, over what its file says, from now on.
func (s *Systemd) Script(unitName string, b Behaviour) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script[unitName] = b
	if u, ok := s.units[unitName]; ok {
		u.behaviour = b
	}
}

// ExpireJobs ends every hanging job, now and later, as its deadline would:
// a test's way to reach a job timeout without waiting for one.
func (s *Systemd) ExpireJobs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.expire:
	default:
		close(s.expire)
	}
}

// Calls lists the calls made so far, in order.
func (s *Systemd) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// State is a unit's ActiveState and SubState now, and whether it is
// enabled.
func (s *Systemd) State(unitName string) (active, sub string, enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.unitLocked(unitName)
	s.advance(u)
	return u.active, u.sub, u.enabled
}

// begin records a call and runs the hook.
func (s *Systemd) begin(ctx context.Context, op string, units ...string) error {
	c := Call{Op: op, Unit: strings.Join(units, " ")}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	hook := s.Hook
	s.mu.Unlock()
	if hook != nil {
		return hook(ctx, c)
	}
	return nil
}

// unitLocked is the state of a unit, created inactive on first reference.
func (s *Systemd) unitLocked(name string) *unit {
	u, ok := s.units[name]
	if !ok {
		u = &unit{active: "inactive", sub: "dead"}
		s.units[name] = u
	}
	if !s.loaded[name] {
		s.load(name, u)
	}
	return u
}

// load reads the unit's file and drop-ins, as systemd does on first
// reference and at a reload.
func (s *Systemd) load(name string, u *unit) {
	s.loaded[name] = true
	content, ok := s.readUnit(name)
	u.fileExists = ok
	u.behaviour, u.unitType = parseSim(content), ""
	for _, line := range strings.Split(content, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Type="); ok {
			u.unitType = strings.TrimSpace(v)
		}
	}
	if b, ok := s.script[name]; ok {
		u.behaviour = b
	}
}

// readUnit is the unit's file and drop-ins, concatenated, following links
// inside the root; a template instance reads its template.
func (s *Systemd) readUnit(name string) (string, bool) {
	dir := filepath.Join(s.root, layout.UnitDir)
	data, err := s.readInRoot(filepath.Join(dir, name))
	if err != nil {
		if at := strings.IndexByte(name, '@'); at > 0 {
			data, err = s.readInRoot(filepath.Join(dir, name[:at+1]+name[strings.LastIndexByte(name, '.'):]))
		}
	}
	if err != nil {
		return "", false
	}
	out := string(data)
	drops, _ := filepath.Glob(filepath.Join(dir, name+".d", "*.conf"))
	slices.Sort(drops)
	for _, d := range drops {
		if data, err := s.readInRoot(d); err == nil {
			out += "\n" + string(data)
		}
	}
	return out, true
}

// readInRoot reads a file, resolving absolute link targets outside the
// root under it, as the host would resolve them under "/" (the agent
// writes its own links with the root in them).
func (s *Systemd) readInRoot(p string) ([]byte, error) {
	for range 16 {
		target, err := os.Readlink(p)
		if err != nil {
			break
		}
		if path.IsAbs(target) && !strings.HasPrefix(target, s.root+"/") {
			p = filepath.Join(s.root, target)
		} else if path.IsAbs(target) {
			p = target
		} else {
			p = filepath.Join(filepath.Dir(p), target)
		}
	}
	return os.ReadFile(p)
}

// parseSim reads the X-Sim- lines of a unit file.
func parseSim(content string) Behaviour {
	var b Behaviour
	sc := bufio.NewScanner(strings.NewReader(content))
	for sc.Scan() {
		key, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || !strings.HasPrefix(key, "X-Sim-") {
			continue
		}
		yes := val == "yes" || val == "true" || val == "1"
		switch key {
		case "X-Sim-FailStart":
			b.FailStart = yes
		case "X-Sim-Hang":
			b.Hang = yes
		case "X-Sim-ReloadFails":
			b.ReloadFails = yes
		case "X-Sim-CrashAfter":
			b.CrashAfter, _ = time.ParseDuration(val)
		case "X-Sim-Restarts":
			n, _ := strconv.ParseUint(val, 10, 32)
			b.Restarts = uint32(n)
		case "X-Sim-Journal":
			b.Journal = append(b.Journal, val)
		}
	}
	return b
}

// advance applies what the clock did to a unit: a crash that is due.
func (s *Systemd) advance(u *unit) { s.advanceTo(u, s.now()) }

func (s *Systemd) advanceTo(u *unit, now time.Time) {
	b := u.behaviour
	if u.active == "active" && b.CrashAfter > 0 && !now.Before(u.started.Add(b.CrashAfter)) {
		u.active, u.sub, u.result, u.pid = "failed", "failed", "exit-code", 0
		u.since = u.started.Add(b.CrashAfter)
		u.journal = append(u.journal, journalLine{s.now(), fmt.Sprintf("Main process exited, code=exited, status=1/FAILURE (after %s)", b.CrashAfter)})
	}
}

// Reload re-reads every unit file systemd holds (daemon-reload).
func (s *Systemd) Reload(ctx context.Context) error {
	if err := s.begin(ctx, "reload"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name := range s.loaded {
		s.load(name, s.unitLocked(name))
	}
	s.outdated = false
	return nil
}

// Loaded reports whether systemd holds any of the units in memory.
func (s *Systemd) Loaded(ctx context.Context, units []string) (bool, error) {
	if err := s.begin(ctx, "loaded", units...); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range units {
		if s.loaded[u] {
			return true, nil
		}
	}
	return false, nil
}

// Enable marks units enabled; a unit without a file is an error, as
// systemd's.
func (s *Systemd) Enable(ctx context.Context, units []string) error {
	return s.setEnabled(ctx, "enable", units, true)
}

// Disable marks units disabled.
func (s *Systemd) Disable(ctx context.Context, units []string) error {
	return s.setEnabled(ctx, "disable", units, false)
}

func (s *Systemd) setEnabled(ctx context.Context, op string, units []string, on bool) error {
	if err := s.begin(ctx, op, units...); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range units {
		u := s.unitLocked(name)
		if on && !u.fileExists {
			if _, ok := s.readUnit(name); !ok {
				return fmt.Errorf("systemd: %s %s: Unit file %s does not exist", op, name, name)
			}
		}
		u.enabled = on
	}
	if s.MarkOutdated {
		s.outdated = true
	}
	return nil
}

// Restart (re)starts a unit as its behaviour says.
func (s *Systemd) Restart(ctx context.Context, unitName string) error {
	if err := s.begin(ctx, "restart", unitName); err != nil {
		return err
	}
	return s.start(ctx, "restart", unitName)
}

// ReloadUnit reloads an active unit and starts one that is not.
func (s *Systemd) ReloadUnit(ctx context.Context, unitName string) error {
	if err := s.begin(ctx, "reload-unit", unitName); err != nil {
		return err
	}
	s.mu.Lock()
	u := s.unitLocked(unitName)
	s.advance(u)
	active, b := u.active == "active", u.behaviour
	s.mu.Unlock()
	if !active {
		return s.start(ctx, "start", unitName)
	}
	if b.Hang {
		return s.hang(ctx, "reload", unitName)
	}
	if b.ReloadFails {
		s.mu.Lock()
		u.journal = append(u.journal, journalLine{s.now(), "Reload failed."})
		s.mu.Unlock()
		return &systemd.JobError{Verb: "reload", Unit: unitName, Err: systemd.ErrJobFailed, Result: "failed"}
	}
	s.mu.Lock()
	u.journal = append(u.journal, journalLine{s.now(), "Reloaded " + unitName + "."})
	s.mu.Unlock()
	return nil
}

func (s *Systemd) start(ctx context.Context, verb, unitName string) error {
	s.mu.Lock()
	u := s.unitLocked(unitName)
	if !u.fileExists {
		s.mu.Unlock()
		return &systemd.JobError{Verb: verb, Unit: unitName, Err: fmt.Errorf("unit %s not found", unitName)}
	}
	b := u.behaviour
	s.mu.Unlock()
	if b.Hang {
		return s.hang(ctx, verb, unitName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, line := range b.Journal {
		u.journal = append(u.journal, journalLine{s.now(), line})
	}
	if b.FailStart {
		u.active, u.sub, u.result, u.since, u.pid = "failed", "failed", "exit-code", now, 0
		u.journal = append(u.journal, journalLine{s.now(), "Failed to start " + unitName + "."})
		return &systemd.JobError{Verb: verb, Unit: unitName, Err: systemd.ErrJobFailed, Result: "failed"}
	}
	s.pid++
	u.active, u.sub, u.result, u.since, u.started, u.pid = "active", "running", "success", now, now, 100+s.pid
	if u.unitType == "oneshot" {
		u.active, u.sub, u.pid = "inactive", "dead", 0
	}
	u.journal = append(u.journal, journalLine{s.now(), "Started " + unitName + "."})
	return nil
}

// hang waits for ctx or ExpireJobs; either way the job timed out or was
// given up, as systemd.Manager reports it.
func (s *Systemd) hang(ctx context.Context, verb, unitName string) error {
	s.mu.Lock()
	expire := s.expire
	s.mu.Unlock()
	select {
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &systemd.JobError{Verb: verb, Unit: unitName, Err: fmt.Errorf("gave up waiting for the job: %w", ctx.Err())}
		}
	case <-expire:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.unitLocked(unitName)
	u.active, u.sub, u.result, u.since, u.pid = "failed", "failed", "timeout", s.now(), 0
	u.journal = append(u.journal, journalLine{s.now(), "Killed by deptool: the job had no result."})
	return &systemd.JobError{Verb: verb, Unit: unitName, Err: fmt.Errorf("%w: no result (simulated); killed its processes", systemd.ErrJobTimeout)}
}

// Stop stops a unit.
func (s *Systemd) Stop(ctx context.Context, unitName string) error {
	if err := s.begin(ctx, "stop", unitName); err != nil {
		return err
	}
	s.mu.Lock()
	hang := s.unitLocked(unitName).behaviour.Hang
	s.mu.Unlock()
	if hang {
		return s.hang(ctx, "stop", unitName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.unitLocked(unitName)
	if u.active != "inactive" {
		u.journal = append(u.journal, journalLine{s.now(), "Stopped " + unitName + "."})
	}
	u.active, u.sub, u.result, u.since, u.pid = "inactive", "dead", "success", s.now(), 0
	return nil
}

// Settle judges the units as systemd.Manager.Settle does, at once: what
// the clock will have done by the end of the window is applied now, and
// the clock is not moved.
func (s *Systemd) Settle(ctx context.Context, units []string, window time.Duration) ([]systemd.UnitState, error) {
	if err := s.begin(ctx, "settle", units...); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	end := s.now().Add(window)
	in := "during the settle window"
	if window > 0 {
		in = fmt.Sprintf("during the %v settle window", window)
	}
	var out []systemd.UnitState
	for _, name := range units {
		u := s.unitLocked(name)
		first := u.nrestarts
		if u.active == "active" {
			u.nrestarts += u.behaviour.Restarts
		}
		s.advanceTo(u, end)
		st := systemd.UnitState{Unit: name, LoadState: "loaded", ActiveState: u.active, SubState: u.sub, Result: u.result,
			NRestartsStart: first, NRestartsEnd: u.nrestarts, MainPID: u.pid, Since: u.since}
		var why []string
		if !u.fileExists {
			st.LoadState = "not-found"
			why = append(why, "unit is not loaded (LoadState=not-found)")
		}
		if u.active == "failed" {
			why = append(why, "entered the failed state (Result="+u.result+")")
		}
		if n := u.nrestarts - first; n > 0 {
			why = append(why, fmt.Sprintf("restarted %d times %s (NRestarts %d -> %d)", n, in, first, u.nrestarts))
		}
		oneshotDone := u.active == "inactive" && u.unitType == "oneshot" && u.result == "success"
		if u.fileExists && u.active != "active" && u.active != "failed" && !oneshotDone {
			why = append(why, fmt.Sprintf("is %s (%s) when last seen, not active (Result=%s)", u.active, u.sub, u.result))
		}
		if len(why) > 0 {
			st.Failed, st.Reason = true, strings.Join(why, "; ")
		}
		out = append(out, st)
	}
	return out, nil
}

// journalLine is a journal entry with the simulated time it was written.
type journalLine struct {
	at   time.Time
	line string
}

// JournalTail is the unit's last n journal lines written at or after
// since (the zero time: all).
func (s *Systemd) JournalTail(unitName string, n int, since time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lines []string
	for _, j := range s.unitLocked(unitName).journal {
		if !j.at.Before(since) {
			lines = append(lines, j.line)
		}
	}
	return lines[max(0, len(lines)-n):]
}

// Sysusers does nothing but count: users and groups are the real
// systemd-sysusers' business.
func (s *Systemd) Sysusers(ctx context.Context) error { return s.begin(ctx, "sysusers") }

// Run runs a transient command as RunHook says.
func (s *Systemd) Run(ctx context.Context, name string, c systemd.Command) error {
	if err := s.begin(ctx, "run", name); err != nil {
		return err
	}
	if s.RunHook != nil {
		return s.RunHook(name, c)
	}
	return nil
}

// Status is a unit's state now.
func (s *Systemd) Status(ctx context.Context, unitName string) (systemd.UnitStatus, error) {
	if err := s.begin(ctx, "status", unitName); err != nil {
		return systemd.UnitStatus{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.unitLocked(unitName)
	s.advance(u)
	st := systemd.UnitStatus{LoadState: "loaded", FileState: "disabled", ActiveState: u.active, SubState: u.sub, Type: u.unitType, Result: u.result}
	if !u.fileExists {
		st.LoadState, st.FileState = "not-found", ""
	} else if u.enabled {
		st.FileState = "enabled"
	}
	return st, nil
}

// Outdated reports whether an enable or disable marked the unit files
// outdated since the last reload (only with MarkOutdated).
func (s *Systemd) Outdated(ctx context.Context) (bool, error) {
	if err := s.begin(ctx, "outdated"); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outdated, nil
}
