package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy/systemd"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
	"github.com/google/go-cmp/cmp"
)

// recorder stands in for systemd in local tests: it records what the
// agent asks, in order, so tests can check the agent's sequencing. It
// proves nothing about systemd itself; the lab tests of package systemd
// and the end-to-end lab tests do.
type recorder struct {
	mu    sync.Mutex
	calls []string
	// failSettle makes Settle report a unit failed, with the reason, the
	// next failures[unit] times it is watched (-1: always).
	failSettle map[string]string
	failures   map[string]int
	// failRestart makes Restart of a unit fail once with this job result.
	failRestart map[string]string
	// hang makes the jobs of a unit (Restart, Stop) play one systemd never
	// finishes: they fail as the systemd driver does at the deadline, n
	// times (-1: always). deadlines records the bound each job was given.
	hang      map[string]int
	deadlines []time.Duration
	// journalSince records the time each journal read started from.
	journalSince []time.Time
	// observe, when set, sees each call as the agent makes it, so a test
	// can look at the host at that moment.
	observe func(call string)
	// unloaded names the units Loaded says systemd has never read; all
	// others it holds, so by default every unit change reloads.
	unloaded map[string]bool
	// status is what Status reports for these units; the others are
	// enabled and running.
	status map[string]systemd.UnitStatus
	// failReload makes every ReloadUnit of these units fail, as an
	// ExecReload= that exits non-zero does.
	failReload map[string]bool
}

func newRecorder() *recorder {
	return &recorder{failSettle: map[string]string{}, failures: map[string]int{}, failRestart: map[string]string{}}
}

// fail makes the next n settles of unit report it failed (n < 0: all).
func (r *recorder) fail(unit, reason string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failSettle[unit], r.failures[unit] = reason, n
}

func (r *recorder) open(context.Context) (units, func(), error) { return r, func() {}, nil }

func (r *recorder) Loaded(_ context.Context, units []string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range units {
		if !r.unloaded[u] {
			return true, nil
		}
	}
	return false, nil
}

func (r *recorder) add(format string, args ...any) {
	call := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.calls = append(r.calls, call)
	observe := r.observe
	r.mu.Unlock()
	if observe != nil {
		observe(call)
	}
}

// take returns the calls so far and forgets them.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

func (r *recorder) Reload(context.Context) error   { r.add("reload"); return nil }
func (r *recorder) Sysusers(context.Context) error { r.add("sysusers"); return nil }
func (r *recorder) Enable(_ context.Context, us []string) error {
	r.add("enable %s", strings.Join(us, " "))
	return nil
}
func (r *recorder) Disable(_ context.Context, us []string) error {
	r.add("disable %s", strings.Join(us, " "))
	return nil
}

// hung plays a job that never ends, if the unit is to hang: it needs a
// deadline, and fails as systemd's driver does when it passes.
func (r *recorder) hung(ctx context.Context, verb, u string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.hang[u]
	if !ok || n == 0 {
		return nil
	}
	r.hang[u] = n - 1
	dl, ok := ctx.Deadline()
	if !ok {
		return fmt.Errorf("%s %s: a job without a deadline would wait forever", verb, u)
	}
	r.deadlines = append(r.deadlines, time.Until(dl).Round(time.Minute))
	return fmt.Errorf("systemd: %s %s: %w: no result after 2m0s (the unit was activating (start)); killed its processes", verb, u, systemd.ErrJobTimeout)
}

func (r *recorder) Restart(ctx context.Context, u string) error {
	r.add("restart %s", u)
	if err := r.hung(ctx, "restart", u); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if result, ok := r.failRestart[u]; ok {
		delete(r.failRestart, u)
		return fmt.Errorf("systemd: restart %s: job did not complete: result %q", u, result)
	}
	return nil
}
func (r *recorder) Stop(ctx context.Context, u string) error {
	r.add("stop %s", u)
	return r.hung(ctx, "stop", u)
}
func (r *recorder) JournalTail(u string, n int, since time.Time) []string {
	r.mu.Lock()
	r.journalSince = append(r.journalSince, since)
	r.mu.Unlock()
	return []string{fmt.Sprintf("%s: last %d lines", u, n)}
}

func (r *recorder) Settle(_ context.Context, us []string, window time.Duration) ([]systemd.UnitState, error) {
	r.add("settle %s %s", strings.Join(us, " "), window)
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []systemd.UnitState
	for _, u := range us {
		s := systemd.UnitState{Unit: u, LoadState: "loaded", ActiveState: "active", SubState: "running", MainPID: 42}
		if n := r.failures[u]; n != 0 {
			r.failures[u] = n - 1
			s.ActiveState, s.SubState, s.Failed, s.Reason = "activating", "auto-restart", true, r.failSettle[u]
		}
		out = append(out, s)
	}
	return out, nil
}

// unitHost is a test host whose agent drives the recorder.
func unitHost(t *testing.T) (*testHost, *recorder) {
	h := newTestHost(t)
	rec := newRecorder()
	h.opts.Units = rec.open
	return h, rec
}

func unitManifest(enabled []string, symlinks map[string]string) string {
	m := map[string]any{"systemd": map[string]any{"units_enabled": enabled}}
	if symlinks != nil {
		m["symlinks"] = symlinks
	}
	data, _ := json.Marshal(m)
	return string(data)
}

func TestUnitsLinkedThroughCurrentAndRunInPhaseOrder(t *testing.T) {
	h, rec := unitHost(t)
	h.settle = 3 * time.Second
	h.write("/etc/systemd/system/web.service.d/local.conf", "[Service]\nNice=5\n", 0o644) // not deptool's
	v1 := files{
		"systemd/web.service":                 "[Service]\nExecStart=/bin/web\n",
		"systemd/web.service.d/override.conf": "[Service]\nEnvironment=A=1\n",
		"systemd/helper.service":              "[Service]\nExecStart=/bin/helper\n",
		"systemd/other.service":               "[Service]\nExecStart=/bin/other\n",
		"manifest.json":                       unitManifest([]string{"web.service"}, nil),
	}
	d := h.deploy(apps{"web": v1}).mustSucceed(t)
	cur := h.path(appsDir + "/web/current/systemd/")
	for _, name := range []string{"web.service", "helper.service", "other.service", "web.service.d/override.conf"} {
		if got := h.readlink("/etc/systemd/system/" + name); got != cur+"/"+name {
			t.Errorf("%s -> %s, want %s", name, got, cur+"/"+name)
		}
	}
	if got := h.read("/etc/systemd/system/web.service.d/override.conf"); got != v1["systemd/web.service.d/override.conf"] {
		t.Errorf("drop-in through its link: %q", got)
	}
	if got := h.read("/etc/systemd/system/web.service.d/local.conf"); got != "[Service]\nNice=5\n" {
		t.Errorf("the unmanaged drop-in: %q", got)
	}
	want := []string{"reload", "enable web.service", "restart web.service", "settle web.service 3s"}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("first deploy's systemd calls (-want +got):\n%s", diff)
	}
	if len(d.result.Units) != 1 || d.result.Units[0].Unit != "web.service" || d.result.Units[0].State != "active (running)" || d.result.Units[0].Failed {
		t.Errorf("unit reports %+v", d.result.Units)
	}

	// web is no longer enabled, helper goes, other is enabled instead.
	v2 := files{
		"systemd/web.service":                 v1["systemd/web.service"],
		"systemd/web.service.d/override.conf": v1["systemd/web.service.d/override.conf"],
		"systemd/other.service":               v1["systemd/other.service"],
		"manifest.json":                       unitManifest([]string{"other.service"}, nil),
	}
	h.deploy(apps{"web": v2}).mustSucceed(t)
	want = []string{
		"stop helper.service", "stop web.service", "disable web.service", // phase 4
		"reload",                                                                   // phase 5, after the links
		"enable other.service", "restart other.service", "settle other.service 3s", // phase 6
	}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("second deploy's systemd calls (-want +got):\n%s", diff)
	}
	if h.exists("/etc/systemd/system/helper.service") {
		t.Error("the removed unit's link is still there")
	}
	if got := h.readlink("/etc/systemd/system/other.service"); got != cur+"/other.service" {
		t.Errorf("other.service -> %s", got)
	}

	// Removing the app stops and disables its units and takes their links.
	h.deploy(apps{"other": files{"a.conf": "a"}}).mustSucceed(t)
	want = []string{"stop other.service", "stop web.service", "disable other.service", "reload"}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("removal's systemd calls (-want +got):\n%s", diff)
	}
	for _, name := range []string{"web.service", "other.service", "web.service.d/override.conf"} {
		if h.exists("/etc/systemd/system/" + name) {
			t.Errorf("%s still linked after its app went", name)
		}
	}
	if !h.exists("/etc/systemd/system/web.service.d/local.conf") {
		t.Error("the unmanaged drop-in went with the app")
	}
}

// sysusers files are linked and systemd-sysusers runs before any unit
// changes; quadlets are linked with the units, drop-ins file by file; a
// rollback takes the links away again and reloads.
func TestSysusersAndQuadlets(t *testing.T) {
	h, rec := unitHost(t)
	v1 := files{
		"sysusers/web.conf":              "u web - \"web\"\n",
		"quadlets/db.container":          "[Container]\nImage=db\n",
		"quadlets/db.container.d/x.conf": "[Container]\nEnvironment=X=1\n",
		"systemd/web.service":            "[Service]\nUser=web\n",
		"manifest.json":                  unitManifest([]string{"web.service"}, nil),
	}
	h.deploy(apps{"web": v1}).mustSucceed(t)
	want := []string{"sysusers", "reload", "enable web.service", "restart web.service", "settle web.service 0s"}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("systemd calls (-want +got):\n%s", diff)
	}
	cur := h.path(appsDir + "/web/current")
	for p, target := range map[string]string{
		"/etc/sysusers.d/web.conf":                      cur + "/sysusers/web.conf",
		"/etc/containers/systemd/db.container":          cur + "/quadlets/db.container",
		"/etc/containers/systemd/db.container.d/x.conf": cur + "/quadlets/db.container.d/x.conf",
	} {
		if got := h.readlink(p); got != target {
			t.Errorf("%s -> %s, want %s", p, got, target)
		}
	}

	v2 := files{"sysusers/api.conf": "u api - \"api\"\n", "quadlets/cache.container": "[Container]\nImage=cache\n"}
	for k, v := range v1 {
		v2[k] = v
	}
	before := h.hostState()
	rec.take()
	rec.fail("web.service", "not active: failed (exit-code)", 1)
	d := h.deploy(apps{"web": v2})
	if d.result.Outcome != wire.RolledBack {
		t.Fatalf("result %+v", d.result)
	}
	want = []string{"sysusers", "reload", "restart web.service", "settle web.service 0s", "reload", "restart web.service", "settle web.service 0s"}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("systemd calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, h.hostState(appsDir+"/web/"+h.appTree(v2))); diff != "" {
		t.Errorf("host after the rollback (-before +after):\n%s", diff)
	}
}

// An agent under a test root has no systemd to drive: a plan with units
// fails before it changes anything, and one without deploys.
func TestUnitsNeedSystemd(t *testing.T) {
	h := newTestHost(t)
	d1 := h.deploy(apps{"a": files{"a.conf": "1"}}).mustSucceed(t)
	d := h.deploy(apps{"a": files{"a.conf": "2", "systemd/a.service": "[Service]\n", "manifest.json": unitManifest([]string{"a.service"}, nil)}})
	if d.result.Outcome != wire.Failed || !strings.HasPrefix(d.result.Message(), "nothing was changed on the host: no systemd to manage units under root") {
		t.Errorf("result %+v", d.result)
	}
	if r := h.refs(); r.current != d1.commit || r.target != d1.commit {
		t.Errorf("refs %+v", r)
	}
}

// v1 and v2 of an app for the rollback tests: v2 changes web.service, adds
// a drop-in, a new enabled unit, and a symlink over an identical host file.
var (
	rbV1 = files{
		"systemd/web.service": "[Service]\nExecStart=/bin/web v1\n",
		"app.conf":            "port 80\n",
		"manifest.json":       unitManifest([]string{"web.service"}, nil),
	}
	rbV2 = files{
		"systemd/web.service":              "[Service]\nExecStart=/bin/web v2\n",
		"systemd/web.service.d/extra.conf": "[Service]\nEnvironment=B=2\n",
		"systemd/new.service":              "[Service]\nExecStart=/bin/new\n[Install]\nWantedBy=multi-user.target\n",
		"app.conf":                         "port 80\n",
		"manifest.json":                    unitManifest([]string{"new.service", "web.service"}, map[string]string{"/etc/app.conf": "app.conf"}),
	}
)

func rollbackHost(t *testing.T) (*testHost, *recorder) {
	h, rec := unitHost(t)
	h.write("/etc/app.conf", "port 80\n", 0o640)
	os.Chown(h.path("/etc/app.conf"), 123, 456)
	return h, rec
}

// hostState is everything outside deptool's bookkeeping, with the root
// replaced so that two hosts compare.
func (h *testHost) hostState(skip ...string) map[string]string {
	out := map[string]string{}
	skip = append(skip, "/var/lib/deptool/store", "/var/lib/deptool/journal.jsonl", "/var/lib/deptool/lock", "/var/lib/deptool/attempt.json")
	for k, v := range h.snapshot("/", skip...) {
		out[k] = strings.ReplaceAll(v, h.root, "<root>")
	}
	return out
}

func TestFailingSettleRollsBack(t *testing.T) {
	h, rec := rollbackHost(t)
	d1 := h.deploy(apps{"web": rbV1}).mustSucceed(t)
	rec.take()
	before := h.hostState()

	rec.fail("web.service", "restarted 2 times during the window", 1)
	d2 := h.deploy(apps{"web": rbV2})
	res := d2.result
	if res.Outcome != wire.RolledBack || res.Message() != "unit web.service failed: restarted 2 times during the window" || res.RollbackFailure.Text() != "" {
		t.Fatalf("result %+v", res)
	}
	wantUnits := []wire.UnitReport{
		{Unit: "new.service", State: "active (running)", MainPID: 42},
		{Unit: "web.service", State: "activating (auto-restart)", MainPID: 42, Failed: true,
			Reason: "restarted 2 times during the window", Journal: []string{"web.service: last 20 lines"}},
		{Unit: "web.service", State: "active (running)", MainPID: 42, AfterRollback: true},
	}
	if diff := cmp.Diff(wantUnits, res.Units); diff != "" {
		t.Errorf("unit reports (-want +got):\n%s", diff)
	}
	want := []string{
		"reload", "enable new.service", "restart new.service", "restart web.service", "settle new.service web.service 0s",
		// the rollback: what the old version does not run goes while its
		// file is there, then the files, then the old version restarts
		"stop new.service", "disable new.service", "reload", "restart web.service", "settle web.service 0s",
	}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("systemd calls (-want +got):\n%s", diff)
	}
	// The failed checkout stays for garbage collection; the adopted file's
	// copy went back, its directory is deptool's.
	ignore := []string{appsDir + "/web/" + h.appTree(rbV2), "/var/lib/deptool/adopted"}
	if diff := cmp.Diff(before, h.hostState(ignore...)); diff != "" {
		t.Errorf("host after the rollback (-before +after):\n%s", diff)
	}
	if got := h.readlink(appsDir + "/web/current"); got != h.appTree(rbV1) {
		t.Errorf("current -> %s, want the v1 checkout", got)
	}
	for _, p := range []string{"/etc/systemd/system/new.service", "/etc/systemd/system/web.service.d"} {
		if h.exists(p) {
			t.Errorf("%s, added by the failed attempt, is still there", p)
		}
	}
	if got := h.read("/etc/app.conf"); got != "port 80\n" || h.readlink("/etc/systemd/system/web.service") == "" {
		t.Errorf("adopted file %q", got)
	}
	if r := h.refs(); r.current != d1.commit || r.target != d2.commit || res.Current != d1.commit || res.Target != d2.commit {
		t.Errorf("refs %+v, result %+v: want current at v1, target at v2", r, res)
	}
	j := h.journal()
	checkJournal(t, j, []JournalEntry{
		{Operator: operator, Deploy: d1.deploy, To: d1.commit, Outcome: wire.Deployed},
		{Operator: operator, Deploy: d2.deploy, From: d1.commit, To: d2.commit,
			Outcome: wire.RolledBack, Error: res.Message(), FailedUnits: []string{"web.service"}},
	})
	if att := h.attempt(); att.Outcome != wire.RolledBack || !att.Undone {
		t.Errorf("attempt %+v: want rolled back and undone", att)
	}

	// Deploying v2 again once it works ends as a single deploy would.
	d3 := h.deploy(apps{"web": rbV2}).mustSucceed(t)
	if hasStep(d3.progress, "repair") {
		t.Error("a rolled back attempt was repaired again")
	}
	clean, _ := rollbackHost(t)
	clean.deploy(apps{"web": rbV1}).mustSucceed(t)
	clean.deploy(apps{"web": rbV2}).mustSucceed(t)
	if diff := cmp.Diff(clean.hostState(), h.hostState()); diff != "" {
		t.Errorf("deploy, rollback, deploy differs from deploy (-deploy +rolled back and deployed):\n%s", diff)
	}
}

func TestNoRollbackEndsFailedAndLeavesHost(t *testing.T) {
	h, rec := rollbackHost(t)
	d1 := h.deploy(apps{"web": rbV1}).mustSucceed(t)
	rec.take()
	h.noRollback = true
	rec.fail("web.service", "not active: failed (exit-code)", 1)
	d2 := h.deploy(apps{"web": rbV2})
	if d2.result.Outcome != wire.Failed || d2.result.Message() != "unit web.service failed: not active: failed (exit-code)" {
		t.Fatalf("result %+v", d2.result)
	}
	want := []string{"reload", "enable new.service", "restart new.service", "restart web.service", "settle new.service web.service 0s"}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("systemd calls (-want +got):\n%s", diff)
	}
	if got := h.readlink(appsDir + "/web/current"); got != h.appTree(rbV2) {
		t.Errorf("current -> %s, want the v2 checkout left in place", got)
	}
	if !h.exists("/etc/systemd/system/new.service") || !h.exists("/etc/systemd/system/web.service.d/extra.conf") {
		t.Error("the failed attempt's unit links were taken away")
	}
	if r := h.refs(); r.current != d1.commit || r.target != d2.commit {
		t.Errorf("refs %+v", r)
	}
	if j := h.journal(); j[len(j)-1].Outcome != wire.Failed {
		t.Errorf("journal %+v", j[len(j)-1])
	}

	// The next apply repairs it, units included, before applying again.
	d3 := h.deploy(apps{"web": rbV2}).mustSucceed(t)
	if !hasStep(d3.progress, "repair") {
		t.Error("no repair")
	}
	want = []string{
		"stop new.service", "disable new.service", "reload", "restart web.service", "settle web.service 0s", // repair
		"reload", "enable new.service", "restart new.service", "restart web.service", "settle new.service web.service 0s",
	}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("repair and apply's systemd calls (-want +got):\n%s", diff)
	}
}

// A restart job that fails stops the apply there and rolls back. web.service
// was not restarted yet, but its drop-in was linked: touched, so restarted
// on the old version.
func TestFailedRestartRollsBack(t *testing.T) {
	h, rec := rollbackHost(t)
	h.deploy(apps{"web": rbV1}).mustSucceed(t)
	rec.take()
	rec.failRestart["new.service"] = "failed"
	d := h.deploy(apps{"web": rbV2})
	res := d.result
	if res.Outcome != wire.RolledBack || res.Message() != `app web: systemd: restart new.service: job did not complete: result "failed"` {
		t.Fatalf("result %+v", res)
	}
	if len(res.Units) == 0 || res.Units[0].Unit != "new.service" || !res.Units[0].Failed || len(res.Units[0].Journal) == 0 {
		t.Errorf("unit reports %+v", res.Units)
	}
	want := []string{
		"reload", "enable new.service", "restart new.service",
		"stop new.service", "disable new.service", "reload", "restart web.service", "settle web.service 0s",
	}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("systemd calls (-want +got):\n%s", diff)
	}
	if h.exists("/etc/systemd/system/new.service") || h.readlink(appsDir+"/web/current") != h.appTree(rbV1) {
		t.Error("not rolled back")
	}
}

// A unit job systemd never finishes (Type=notify that never notifies,
// with TimeoutStartSec=infinity) fails the unit at the unit timeout, and
// the host rolls back; the rollback's own jobs are bounded too, and a
// stop that timed out (its processes killed) does not fail it.
func TestUnitJobTimeoutRollsBack(t *testing.T) {
	h, rec := rollbackHost(t)
	h.deploy(apps{"web": rbV1}).mustSucceed(t)
	rec.take()
	h.unitTimeout = 2 * time.Minute
	rec.hang = map[string]int{"new.service": 2} // its restart, then the rollback's stop
	d := h.deploy(apps{"web": rbV2})
	if d.result.Outcome != wire.RolledBack || !strings.Contains(d.result.Message(), "app web: systemd: restart new.service: job timed out") {
		t.Fatalf("result %+v", d.result)
	}
	want := []string{
		"reload", "enable new.service", "restart new.service",
		"stop new.service", "disable new.service", "reload", "restart web.service", "settle web.service 0s",
	}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("systemd calls (-want +got):\n%s", diff)
	}
	if !slices.Equal(rec.deadlines, []time.Duration{2 * time.Minute, 2 * time.Minute}) {
		t.Errorf("the hung jobs had deadlines %v, want the unit timeout", rec.deadlines)
	}
	if !hasStep(d.progress, "warning") {
		t.Error("the rollback's timed-out stop was not reported")
	}
}

// A rollback whose units do not come back either is reported as such; the
// next apply repairs the host first.
func TestRollbackFailed(t *testing.T) {
	h, rec := rollbackHost(t)
	d1 := h.deploy(apps{"web": rbV1}).mustSucceed(t)
	rec.take()
	between := h.clock.Now()
	rec.fail("web.service", "not active: failed (exit-code)", 2)
	d2 := h.deploy(apps{"web": rbV2})
	res := d2.result
	if res.Outcome != wire.RollbackFailed || res.RollbackFailure.Text() != "unit web.service failed: not active: failed (exit-code)" ||
		!strings.HasPrefix(res.Message(), "unit web.service failed: not active: failed (exit-code); rollback: ") {
		t.Fatalf("result %+v", res)
	}
	if last := res.Units[len(res.Units)-1]; !last.AfterRollback || !last.Failed || len(last.Journal) == 0 {
		t.Errorf("last unit report %+v", last)
	}
	// Each excerpt starts where its part began: the apply's at the
	// apply, so no earlier deploy's lines; the rollback's at the
	// rollback, so not the apply's lines again.
	if since := rec.journalSince; len(since) != 2 || !since[0].After(between) || !since[1].After(since[0]) {
		t.Errorf("journal read since %v; want the second apply's start (after %v), then the rollback's", since, between)
	}
	if r := h.refs(); r.current != d1.commit || r.target != d2.commit {
		t.Errorf("refs %+v", r)
	}
	if att := h.attempt(); att.Outcome != wire.RollbackFailed || att.Undone {
		t.Errorf("attempt %+v: want rollback failed, not undone", att)
	}
	rec.take()
	d3 := h.deploy(apps{"web": rbV2}).mustSucceed(t)
	if !hasStep(d3.progress, "repair") {
		t.Error("no repair after a failed rollback")
	}
}

// The operator hanging up mid-apply does not stop a rollback either.
func TestRollbackFinishesWhenOperatorVanishes(t *testing.T) {
	h, rec := rollbackHost(t)
	d1 := h.deploy(apps{"web": rbV1}).mustSucceed(t)
	rec.fail("web.service", "not active: failed (exit-code)", 1)
	d := h.plan(apps{"web": rbV2})
	r := h.start(h.opts)
	r.hello(t)
	ctx := context.Background()
	if err := r.client.Lock(ctx, wire.LockRequest{Base: d1.commit, Operator: operator}); err != nil {
		t.Fatal(err)
	}
	err := r.client.SendObjects(ctx, func(w io.Writer) error {
		_, err := h.src.WritePack(w, []store.ID{d.commit}, []store.ID{d1.commit})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r.fromWire.Close() // the operator stops reading, sends apply, and hangs up
	req := wire.ApplyRequest{Commit: d.commit, Deploy: d.deploy, Operator: operator, Plan: d.plan}
	payload, _ := wire.EncodeMessage(&req)
	var frame bytes.Buffer
	wire.WriteFrame(&frame, wire.Frame{Kind: wire.KindMessage, Payload: payload})
	if _, err := r.toAgent.Write(frame.Bytes()); err != nil {
		t.Fatal(err)
	}
	r.toAgent.Close()
	<-r.done
	if got := h.refs(); got.current != d1.commit || got.target != d.commit {
		t.Errorf("refs after the operator left: %+v", got)
	}
	if j := h.journal(); len(j) != 2 || j[1].Outcome != wire.RolledBack {
		t.Errorf("journal %+v", j)
	}
	if got := h.readlink(appsDir + "/web/current"); got != h.appTree(rbV1) || h.exists("/etc/systemd/system/new.service") {
		t.Error("not rolled back")
	}
}

func TestNewUnitFiles(t *testing.T) {
	plan := func(files ...wire.FileChange) wire.Plan {
		return wire.Plan{Apps: []wire.AppPlan{{App: "web", Files: files}}}
	}
	add := func(p string) wire.FileChange { return wire.FileChange{Op: wire.Add, Path: p} }
	for _, c := range []struct {
		name  string
		plan  wire.Plan
		units []string
		ok    bool
	}{
		{"new unit and drop-in", plan(add("systemd/web.service"), add("systemd/web.service.d/env.conf"), add("index.html")), []string{"web.service", "web.service"}, true},
		{"drop-in for another unit", plan(add("systemd/nginx.service.d/x.conf")), []string{"nginx.service"}, true},
		{"changed unit", plan(wire.FileChange{Op: wire.Update, Path: "systemd/web.service"}), nil, false},
		{"removed unit", plan(wire.FileChange{Op: wire.Remove, Path: "systemd/web.service"}), nil, false},
		{"template", plan(add("systemd/web@.service")), nil, false},
		{"instance drop-in", plan(add("systemd/web@1.service.d/x.conf")), nil, false},
		{"drop-in for a whole type", plan(add("systemd/service.d/x.conf")), nil, false},
		{"drop-in for a prefix", plan(add("systemd/web-.service.d/x.conf")), nil, false},
		{"quadlet", plan(add("quadlets/db.container")), nil, false},
		{"no units", plan(add("index.html")), nil, true},
	} {
		units, ok := newUnitFiles(c.plan)
		if ok != c.ok || !slices.Equal(units, c.units) {
			t.Errorf("%s: %q, %v; want %q, %v", c.name, units, ok, c.units, c.ok)
		}
	}
}

// The agent reloads only for units systemd has read; the recorder says
// which it has not.
func TestReloadOnlyForUnitsSystemdHolds(t *testing.T) {
	h, rec := unitHost(t)
	rec.unloaded = map[string]bool{"web.service": true}
	web := func(version string) files {
		return files{"manifest.json": unitManifest([]string{"web.service"}, nil), "systemd/web.service": "[Service]\nExecStart=/bin/" + version + "\n"}
	}
	h.deploy(apps{"web": web("v1")}).mustSucceed(t)
	if got := rec.take(); !slices.Equal(got, []string{"enable web.service", "restart web.service", "settle web.service 0s"}) {
		t.Errorf("a unit systemd never read: %q, want no reload", got)
	}
	rec.unloaded = nil
	h.deploy(apps{"web": web("v2")}).mustSucceed(t)
	if got := rec.take(); len(got) == 0 || got[0] != "reload" {
		t.Errorf("a changed unit: %q, want a reload first", got)
	}
}
