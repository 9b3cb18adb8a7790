package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy/systemd"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/google/go-cmp/cmp"
)

// An unchanged unit file keeps its time across checkouts, so systemd
// does not see it as changed on disk; a changed one gets its own.
func TestUnchangedUnitFilesKeepTheirTime(t *testing.T) {
	h, _ := unitHost(t)
	v1 := files{
		"systemd/web.service":                 "[Service]\nExecStart=/bin/web\n",
		"systemd/web.service.d/override.conf": "[Service]\nEnvironment=A=1\n",
		"web.conf":                            "v1\n",
		"manifest.json":                       unitManifest([]string{"web.service"}, nil),
	}
	h.deploy(apps{"web": v1}).mustSucceed(t)
	mtime := func(p string) int64 {
		t.Helper()
		fi, err := os.Stat(h.path(p)) // through the links, as systemd looks
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime().UnixNano()
	}
	unit, dropIn := mtime("/etc/systemd/system/web.service"), mtime("/etc/systemd/system/web.service.d/override.conf")
	first := h.readlink(appsDir + "/web/current")

	v2 := files{}
	for k, v := range v1 {
		v2[k] = v
	}
	v2["web.conf"] = "v2\n"
	v2["systemd/web.service.d/override.conf"] = "[Service]\nEnvironment=A=2\n"
	h.deploy(apps{"web": v2}).mustSucceed(t)
	if h.readlink(appsDir+"/web/current") == first {
		t.Fatal("current did not move to a new checkout")
	}
	if got := mtime("/etc/systemd/system/web.service"); got != unit {
		t.Errorf("unchanged unit file: mtime %d, want the old checkout's %d", got, unit)
	}
	if got := mtime("/etc/systemd/system/web.service.d/override.conf"); got == dropIn {
		t.Error("the changed drop-in kept the old mtime; systemd would not see it changed")
	}
}

// BenchmarkKeepUnitTimes is the cost per checkout of keeping unit files'
// times: an app with 20 unit files and drop-ins, all unchanged.
func BenchmarkKeepUnitTimes(b *testing.B) {
	old, cur := b.TempDir(), b.TempDir()
	for _, d := range []string{old, cur} {
		if err := os.MkdirAll(d+"/systemd/x.service.d", 0o755); err != nil {
			b.Fatal(err)
		}
		for i := range 20 {
			name := fmt.Sprintf("%s/systemd/u%d.service", d, i)
			if i%2 == 1 {
				name = fmt.Sprintf("%s/systemd/x.service.d/%d.conf", d, i)
			}
			if err := os.WriteFile(name, []byte(strings.Repeat("[Service]\nExecStart=/bin/true\n", 5)), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	fresh := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var names []string
	filepath.WalkDir(cur+"/systemd", func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			names = append(names, p)
		}
		return err
	})
	for b.Loop() {
		// Every round starts as after a fresh checkout: every time differs.
		b.StopTimer()
		for _, p := range names {
			if err := os.Chtimes(p, time.Time{}, fresh); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := keepUnitTimes(cur, old); err != nil {
			b.Fatal(err)
		}
	}
}

func (r *recorder) ReloadUnit(_ context.Context, u string) error {
	r.add("reload %s", u)
	if r.failReload[u] {
		return fmt.Errorf("job for reload of %s: failed (its ExecReload= exited 1)", u)
	}
	return nil
}

// Run records the command and writes where it ran to its output; a
// command with an argument "fail" exits 1.
func (r *recorder) Run(_ context.Context, name string, c systemd.Command) error {
	r.add("run %s", strings.Join(c.Argv, " "))
	msg := fmt.Sprintf("in %s with %s: %s\n", c.Dir, strings.Join(c.Env, " "), strings.Join(c.Argv, " "))
	if c.Argv[0] == "/bin/cat" { // as cat would, so that a command can print a file
		f := c.Argv[1]
		if !filepath.IsAbs(f) {
			f = filepath.Join(c.Dir, f)
		}
		b, _ := os.ReadFile(f)
		msg += string(b)
	}
	if err := os.WriteFile(c.Output, []byte(msg), 0o600); err != nil {
		return err
	}
	if slices.Contains(c.Argv, "fail") {
		return &systemd.CommandError{Result: "exit-code", Status: 1}
	}
	return nil
}

// sshApp links a config file into sshd's drop-in directory and reloads
// ssh.service, which it does not ship; web.service, its own, reloads
// instead of restarting.
func sshApp(conf string) files {
	return files{
		"systemd/web.service": "[Service]\nExecStart=/bin/web\nExecReload=/bin/kill -HUP $MAINPID\n",
		"deny.conf":           conf,
		"manifest.json": `{"systemd": {"units_enabled": ["web.service"], "reload": ["web.service", "ssh.service"], "restart": ["cron.service"]},
			"symlinks": {"/etc/ssh/sshd_config.d/deny.conf": "deny.conf"}}`,
	}
}

// Forward, the app's units reload and the outside units follow; when the
// apply fails, the rollback reloads and restarts them again, after the old
// files are back.
func TestFollowingUnitsActForwardAndOnRollback(t *testing.T) {
	h, rec := unitHost(t)
	h.deploy(apps{"sshd": sshApp("# nothing\n")}).mustSucceed(t)
	rec.take()

	d := h.deploy(apps{"sshd": sshApp("# still nothing\n")}).mustSucceed(t)
	want := []string{"restart cron.service", "reload web.service", "reload ssh.service", "settle cron.service web.service ssh.service 0s"}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("config change: systemd calls (-want +got):\n%s", diff)
	}
	if len(d.result.Units) != 3 {
		t.Errorf("unit reports %+v; want the reloaded and restarted units judged", d.result.Units)
	}

	// ssh.service settles badly: the rollback puts the old file back, then
	// acts on every unit again, as the way forward did.
	var linkAtReload string
	rec.observe = func(call string) {
		if call == "reload ssh.service" {
			linkAtReload = h.read("/etc/ssh/sshd_config.d/deny.conf")
		}
	}
	rec.fail("ssh.service", "not active: failed (exit-code)", 1)
	d = h.deploy(apps{"sshd": sshApp("DenyUsers root\n")})
	if d.result.Outcome != wire.RolledBack {
		t.Fatalf("result %+v", d.result)
	}
	want = []string{
		"restart cron.service", "reload web.service", "reload ssh.service", "settle cron.service web.service ssh.service 0s",
		"reload", // daemon-reload: web.service's links may have changed
		"reload web.service", "restart cron.service", "reload ssh.service", "settle web.service cron.service ssh.service 0s",
	}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("rollback: systemd calls (-want +got):\n%s", diff)
	}
	if linkAtReload != "# still nothing\n" || h.read("/etc/ssh/sshd_config.d/deny.conf") != "# still nothing\n" {
		t.Errorf("ssh.service reloaded with %q in place; want the old file back first", linkAtReload)
	}
	if !h.attempt().Undone {
		t.Error("the attempt is not marked undone")
	}
}

// An app that only links a file and reloads an outside unit still has it
// reloaded when the rollback takes the file away, without a daemon-reload.
func TestFollowingUnitAloneOnRollback(t *testing.T) {
	h, rec := unitHost(t)
	app := func(conf string) files {
		return files{"deny.conf": conf, "manifest.json": `{"systemd": {"reload": ["ssh.service"]}, "symlinks": {"/etc/ssh/sshd_config.d/deny.conf": "deny.conf"}}`}
	}
	h.deploy(apps{"sshd": app("# nothing\n")}).mustSucceed(t)
	rec.take()
	rec.fail("ssh.service", "not active: failed (exit-code)", 1)
	if d := h.deploy(apps{"sshd": app("DenyUsers root\n")}); d.result.Outcome != wire.RolledBack {
		t.Fatalf("result %+v", d.result)
	}
	want := []string{"reload ssh.service", "settle ssh.service 0s", "reload ssh.service", "settle ssh.service 0s"}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("systemd calls (-want +got):\n%s", diff)
	}
}

func validatedApp(conf string, argv ...string) files {
	cmd, _ := json.Marshal([][]string{argv})
	return files{
		"systemd/web.service": "[Service]\nExecStart=/bin/web\n",
		"web.conf":            conf,
		"manifest.json":       `{"systemd": {"units_enabled": ["web.service"]}, "validate": ` + string(cmd) + `}`,
	}
}

// Validation runs in the new checkout before current switches and before
// any unit is touched; a failing one leaves the host as it was.
func TestValidationBeforeActivation(t *testing.T) {
	h, rec := unitHost(t)
	v1 := validatedApp("v1\n", "/usr/bin/check", "web.conf")
	d1 := h.deploy(apps{"web": v1}).mustSucceed(t)
	if got := rec.take(); len(got) == 0 || got[0] != "run /usr/bin/check web.conf" {
		t.Errorf("first deploy's calls %q; want the validation first", got)
	}
	if d1.result.Validation[0].Output != "in "+h.path(appsDir+"/web/"+h.appTree(v1))+" with DEPTOOL_CHECKOUT="+h.path(appsDir+"/web/"+h.appTree(v1))+": /usr/bin/check web.conf" {
		t.Errorf("validation report %+v; want it run in the new checkout", d1.result.Validation)
	}

	var currentAtRun string
	rec.observe = func(call string) {
		if strings.HasPrefix(call, "run ") {
			currentAtRun = h.readlink(appsDir + "/web/current")
		}
	}
	before := h.hostState()
	v2 := validatedApp("v2\n", "/usr/bin/check", "fail")
	d := h.deploy(apps{"web": v2})
	if d.result.Outcome != wire.RolledBack {
		t.Fatalf("result %+v; want rolled back", d.result)
	}
	if diff := cmp.Diff([]string{"run /usr/bin/check fail"}, rec.take()); diff != "" {
		t.Errorf("systemd calls (-want +got):\n%s", diff)
	}
	if currentAtRun != h.appTree(v1) {
		t.Errorf("current was %s while validating, want the old %s", currentAtRun, h.appTree(v1))
	}
	if diff := cmp.Diff(before, h.hostState()); diff != "" {
		t.Errorf("host after the failed validation (-before +after):\n%s", diff)
	}
	if r := h.refs(); r.current != d1.commit {
		t.Errorf("current moved to %s", r.current)
	}
	rep := d.result.Validation
	if len(rep) != 1 || rep[0].OK || rep[0].Error != "exit status 1" || !strings.Contains(rep[0].Output, "/usr/bin/check fail") {
		t.Errorf("validation report %+v", rep)
	}
	if !strings.HasPrefix(d.result.Message(), "app web: validate /usr/bin/check fail: exit status 1; nothing was changed:\n    in ") {
		t.Errorf("error %q; want the command, why and its output", d.result.Message())
	}
	if j := h.journal(); j[len(j)-1].Outcome != wire.RolledBack || !strings.Contains(j[len(j)-1].Error, "validate /usr/bin/check fail") {
		t.Errorf("journal %+v", j[len(j)-1])
	}

	// Without automatic rollback a refused validation is still no change.
	h.noRollback = true
	if d := h.deploy(apps{"web": v2}); d.result.Outcome != wire.RolledBack {
		t.Errorf("without rollback: outcome %s, want rolled back", d.result.Outcome)
	}
}

func (r *recorder) Status(_ context.Context, u string) (systemd.UnitStatus, error) {
	if st, ok := r.status[u]; ok { // set between applies; Status runs under r.mu

		return st, nil
	}
	return systemd.UnitStatus{LoadState: "loaded", FileState: "enabled", ActiveState: "active", SubState: "running", Type: "simple", Result: "success"}, nil
}

// statusRecorder reports the units in status as given, the rest as the
// recorder does.
type statusRecorder struct {
	*recorder
	status map[string]systemd.UnitStatus
}

func (s statusRecorder) Status(ctx context.Context, u string) (systemd.UnitStatus, error) {
	if st, ok := s.status[u]; ok {
		return st, nil
	}
	return s.recorder.Status(ctx, u)
}

func (h *testHost) drift(opts Options) *wire.DriftReply {
	h.t.Helper()
	r := h.start(opts)
	r.hello(h.t)
	reply, err := r.client.Drift(context.Background())
	if err != nil {
		h.t.Fatalf("drift: %v", err)
	}
	return reply
}

// check finds hand-edited, added and removed files in a checkout, links
// removed or replaced, and enabled units disabled or stopped, and changes
// nothing; a host as deployed has no drift.
func TestDriftFindsWhatChangedOnTheHost(t *testing.T) {
	h, rec := unitHost(t)
	v1 := files{
		"systemd/web.service": "[Service]\nExecStart=/bin/web\n[Install]\nWantedBy=multi-user.target\n",
		"systemd/db.service":  "[Service]\nExecStart=/bin/db\n[Install]\nWantedBy=multi-user.target\n",
		"web.conf":            "v1\n",
		"conf/other.conf":     "o\n",
		"manifest.json":       unitManifest([]string{"web.service", "db.service"}, map[string]string{"/etc/web.conf": "web.conf", "/etc/other.conf": "conf/other.conf"}),
	}
	d := h.deploy(apps{"web": v1}).mustSucceed(t)
	if got := h.drift(h.opts); got.Current != d.commit || len(got.Drift) != 0 {
		t.Fatalf("drift of a host as deployed: %+v", got)
	}

	cur := appsDir + "/web/current/"
	h.write(cur+"web.conf", "edited by hand\n", 0o644)
	h.write(cur+"notes.txt", "x", 0o644)
	if err := os.Remove(h.path(cur + "conf/other.conf")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(h.path("/etc/web.conf")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(h.path("/etc/systemd/system/db.service")); err != nil {
		t.Fatal(err)
	}
	h.write("/etc/systemd/system/db.service", "[Service]\n", 0o644)
	opts := h.opts
	opts.Units = func(context.Context) (units, func(), error) {
		return statusRecorder{rec, map[string]systemd.UnitStatus{
			"web.service": {LoadState: "loaded", FileState: "disabled", ActiveState: "inactive", SubState: "dead", Type: "simple"},
		}}, func() {}, nil
	}
	before := h.hostState()
	rec.take()
	got := h.drift(opts)
	want := []wire.Drift{
		{App: "web", Kind: wire.DriftFile, Path: "conf/other.conf", What: "missing on the host"},
		{App: "web", Kind: wire.DriftFile, Path: "web.conf", What: "changed on the host"},
		{App: "web", Kind: wire.DriftFile, Path: "notes.txt", What: "added on the host, not in the host commit"},
		{App: "web", Kind: wire.DriftLink, Path: "/etc/web.conf", What: "removed on the host"},
		{App: "web", Kind: wire.DriftLink, Path: "/etc/systemd/system/db.service", What: "replaced on the host by a file"},
		{App: "web", Kind: wire.DriftUnit, Path: "web.service", What: "not enabled on the host (disabled), the app enables it"},
		{App: "web", Kind: wire.DriftUnit, Path: "web.service", What: "not active: inactive (dead)"},
	}
	if diff := cmp.Diff(want, got.Drift); diff != "" {
		t.Errorf("drift (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, h.hostState()); diff != "" {
		t.Errorf("check changed the host (-before +after):\n%s", diff)
	}
	if calls := rec.take(); len(calls) != 0 {
		t.Errorf("check asked systemd to %q", calls)
	}
}

// Several apps naming one outside unit: it is acted on once, a restart
// winning over a reload.
func TestOutsideUnitActedOnOnce(t *testing.T) {
	h, rec := unitHost(t)
	app := func(key, conf string) files {
		return files{"a.conf": conf, "manifest.json": `{"systemd": {"` + key + `": ["shared.service"]}}`}
	}
	h.deploy(apps{"a": app("reload", "1"), "b": app("restart", "1"), "c": app("reload", "1")}).mustSucceed(t)
	want := []string{"restart shared.service", "settle shared.service 0s"}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("systemd calls (-want +got):\n%s", diff)
	}
	h.deploy(apps{"a": app("reload", "2"), "b": app("restart", "1"), "c": app("reload", "2")}).mustSucceed(t)
	want = []string{"reload shared.service", "settle shared.service 0s"}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("systemd calls when only the reloading apps changed (-want +got):\n%s", diff)
	}
}

func TestAgentRefusesBadValidateCommands(t *testing.T) {
	for _, argvs := range [][][]string{{{}}, {{"nginx", "-t"}}, {{"/usr/sbin/../sbin/nginx"}}, {{"/bin/true", "a\x00b"}}} {
		if err := checkValidate(argvs); err == nil {
			t.Errorf("checkValidate(%q) passed", argvs)
		}
	}
	if err := checkValidate([][]string{{"/usr/sbin/nginx", "-t", "${DEPTOOL_CHECKOUT}/x"}}); err != nil {
		t.Error(err)
	}
}

// Outdated is false: the recorder plays a systemd that does not mark
// units changed on disk after enable (252); see outdatedRecorder.
func (r *recorder) Outdated(context.Context) (bool, error) { return false, nil }

// outdatedRecorder plays newer systemd, which marks every unit changed on
// disk after an enable or disable until the next daemon-reload.
type outdatedRecorder struct{ *recorder }

func (o outdatedRecorder) Outdated(context.Context) (bool, error) {
	o.add("outdated?")
	return true, nil
}

// After enabling or disabling units, the agent reloads systemd if, and
// only if, systemd then marks units changed on disk.
func TestReloadAfterEnableWhenSystemdSaysOutdated(t *testing.T) {
	h, rec := unitHost(t)
	h.opts.Units = func(context.Context) (units, func(), error) { return outdatedRecorder{rec}, func() {}, nil }
	v1 := files{
		"systemd/web.service": "[Service]\nExecStart=/bin/web\n[Install]\nWantedBy=multi-user.target\n",
		"web.conf":            "1",
		"manifest.json":       unitManifest([]string{"web.service"}, nil),
	}
	h.deploy(apps{"web": v1}).mustSucceed(t)
	want := []string{"reload", "enable web.service", "outdated?", "reload", "restart web.service", "settle web.service 0s"}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("first deploy (-want +got):\n%s", diff)
	}
	v1["web.conf"] = "2"
	h.deploy(apps{"web": v1}).mustSucceed(t)
	want = []string{"restart web.service", "settle web.service 0s"}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("config-only deploy: no enable, no question, no reload (-want +got):\n%s", diff)
	}
}

// An apply left failed without a rollback is drift until the next deploy
// undoes it.
func TestDriftReportsAnUnfinishedAttempt(t *testing.T) {
	h := newTestHost(t)
	h.deploy(apps{"a": files{"a.conf": "1"}}).mustSucceed(t)
	h.noRollback = true
	failing := h.opts
	failing.fault = func(e Effect) error {
		if e.Kind == EffectSwitch {
			return errors.New("disk full")
		}
		return nil
	}
	d := h.deployWith(failing, apps{"a": files{"a.conf": "2"}})
	if d.result.Outcome != wire.Failed {
		t.Fatalf("result %+v", d.result)
	}
	got := h.drift(h.opts).Drift
	if len(got) != 1 || got[0].Kind != wire.DriftAttempt || got[0].Path != d.commit.String() {
		t.Fatalf("drift %+v; want the unfinished attempt", got)
	}
	// It finished, failing: saying it did not finish is not true.
	if strings.Contains(got[0].What, "did not finish") || !strings.Contains(got[0].What, "failed") {
		t.Errorf("drift says %q of an attempt that ended failed", got[0].What)
	}
}

// When a later app's validation fails, the checkouts written for the
// earlier apps' validations go too.
func TestFailedValidationRemovesEveryCheckoutItWrote(t *testing.T) {
	h, rec := unitHost(t)
	h.deploy(apps{"a": validatedApp("1", "/usr/bin/check"), "b": validatedApp("1", "/usr/bin/check")}).mustSucceed(t)
	rec.take()
	before := h.hostState()
	d := h.deploy(apps{"a": validatedApp("2", "/usr/bin/check"), "b": validatedApp("2", "/usr/bin/check", "fail")})
	if d.result.Outcome != wire.RolledBack || len(d.result.Validation) != 2 || !d.result.Validation[0].OK {
		t.Fatalf("result %+v", d.result)
	}
	if diff := cmp.Diff(before, h.hostState()); diff != "" {
		t.Errorf("host after the failed validation (-before +after):\n%s", diff)
	}
}
