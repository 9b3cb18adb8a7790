package agent

import (
	"context"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy/systemd"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/google/go-cmp/cmp"
)

// After a rollback failed because the old version cannot start either (a
// file it needs is gone), the host is not wedged: the next apply undoes
// the attempt's files, reports the old units that do not come back, and
// goes on, here without rollback, to the version that works.
func TestApplyAfterRollbackFailed(t *testing.T) {
	h, rec := rollbackHost(t)
	d1 := h.deploy(apps{"web": rbV1}).mustSucceed(t)
	rec.fail("web.service", "not active: failed (exit-code)", 3) // the attempt, its rollback, the repair
	d2 := h.deploy(apps{"web": rbV2})
	if d2.result.Outcome != wire.RollbackFailed {
		t.Fatalf("result %+v", d2.result)
	}
	h.noRollback = true
	fixed := files{"systemd/web.service": "[Service]\nExecStart=/bin/web v3\n", "app.conf": "port 80\n", "manifest.json": unitManifest([]string{"web.service"}, nil)}
	d3 := h.deploy(apps{"web": fixed})
	if d3.result.Outcome != wire.Deployed {
		t.Fatalf("the apply after a failed rollback: %+v", d3.result)
	}
	var warned bool
	for _, p := range d3.progress {
		warned = warned || p.Step == "warning" && strings.Contains(p.Detail, "web.service")
	}
	if !warned || !hasStep(d3.progress, "repair") {
		t.Errorf("the repair did not report the unit that stayed down: %+v", d3.progress)
	}
	for _, u := range d3.result.Units {
		if u.Failed {
			t.Errorf("the repair's unit report leaked into the apply's result: %+v", u)
		}
	}
	if got := h.readlink(appsDir + "/web/current"); got != h.appTree(fixed) {
		t.Errorf("current -> %s, want the fixed version", got)
	}
	if r := h.refs(); r.current != d3.commit || r.target != d3.commit || r.current == d1.commit {
		t.Errorf("refs %+v", r)
	}
}

// Someone points an app's current link at a directory that does not exist.
// The agent goes by the host store's current commit: the next apply puts the
// link back before it starts, and its rollback returns to the commit's
// checkout, not to the broken link.
func TestCurrentLinkChangedByHand(t *testing.T) {
	h, rec := rollbackHost(t)
	h.deploy(apps{"web": rbV1}).mustSucceed(t)
	cur := h.path(appsDir + "/web/current")
	if err := os.Remove(cur); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent", cur); err != nil {
		t.Fatal(err)
	}
	rec.fail("web.service", "not active: failed (exit-code)", 1)
	d2 := h.deploy(apps{"web": rbV2})
	if d2.result.Outcome != wire.RolledBack {
		t.Fatalf("result %+v", d2.result)
	}
	if got := h.readlink(appsDir + "/web/current"); got != h.appTree(rbV1) {
		t.Errorf("after the rollback current -> %s, want the v1 checkout %s", got, h.appTree(rbV1))
	}
	if !hasStep(d2.progress, "repair") {
		t.Error("the broken link was not reported")
	}

	// The checkout itself gone: written again from the host store.
	if err := os.RemoveAll(h.path(appsDir + "/web/" + h.appTree(rbV1))); err != nil {
		t.Fatal(err)
	}
	d3 := h.deploy(apps{"web": rbV2}).mustSucceed(t)
	if got := h.readlink(appsDir + "/web/previous"); got != h.appTree(rbV1) {
		t.Errorf("previous -> %s, want the v1 checkout", got)
	}
	if got := h.read(appsDir + "/web/previous/app.conf"); got != "port 80\n" {
		t.Errorf("the v1 checkout written again holds %q", got)
	}
	_ = d3
}

// Issue 24, item 3: `systemctl disable --now web.service` removes the
// link of a linked unit and stops it. The next apply links it again,
// reloads, enables and starts it before its own restarts, so neither
// they nor an undo meet "Unit web.service not found".
func TestUnitDisabledByHandIsPutBackBeforeTheApply(t *testing.T) {
	h, rec := unitHost(t)
	h.settle = time.Second
	v1 := files{
		"systemd/web.service": "[Service]\nExecStart=/bin/web\n",
		"web.conf":            "1\n",
		"manifest.json":       unitManifest([]string{"web.service"}, map[string]string{"/etc/web.conf": "web.conf"}),
	}
	h.deploy(apps{"web": v1}).mustSucceed(t)
	rec.take()
	link := h.readlink("/etc/systemd/system/web.service")
	if err := os.Remove(h.path("/etc/systemd/system/web.service")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(h.path("/etc/web.conf")); err != nil {
		t.Fatal(err)
	}
	rec.status = map[string]systemd.UnitStatus{"web.service": {LoadState: "loaded", FileState: "disabled", ActiveState: "inactive", SubState: "dead"}}
	v2 := maps.Clone(v1)
	v2["web.conf"] = "2\n"
	rec.observe = func(call string) {
		if got, _ := os.Readlink(h.path("/etc/systemd/system/web.service")); call == "restart web.service" && got != link {
			t.Errorf("web.service restarted without its link")
		}
	}
	h.deploy(apps{"web": v2}).mustSucceed(t)
	want := []string{"reload", "enable web.service", "restart web.service", "restart web.service", "settle web.service 1s"}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("systemd calls (-want +got):\n%s", diff)
	}
	if got := h.readlink("/etc/systemd/system/web.service"); got != link {
		t.Errorf("the unit's link is %q, want %q", got, link)
	}
	if got := h.read("/etc/web.conf"); got != "2\n" {
		t.Errorf("the manifest symlink reads %q", got)
	}

	// A failed apply's undo restarts the unit it runs again: found.
	rec.status = map[string]systemd.UnitStatus{"web.service": {LoadState: "loaded", FileState: "disabled", ActiveState: "inactive", SubState: "dead"}}
	if err := os.Remove(h.path("/etc/systemd/system/web.service")); err != nil {
		t.Fatal(err)
	}
	rec.fail("web.service", "exit-code", 1)
	v3 := maps.Clone(v1)
	v3["web.conf"] = "3\n"
	if d := h.deploy(apps{"web": v3}); d.result.Outcome != wire.RolledBack {
		t.Errorf("outcome %s (%s), want rolled back", d.result.Outcome, d.result.Message())
	}
	if got := h.readlink("/etc/systemd/system/web.service"); got != link {
		t.Errorf("after the rollback the unit's link is %q, want %q", got, link)
	}
}

// Issue 24, item 3: a unit whose ExecReload= fails, on a change of its
// config only. The forward reload fails and the apply rolls back; the
// undo's reload fails the same way, but the unit runs, on the config it
// ran before the attempt (the failed reload never took the new one), and
// that config is back on disk: the host is rolled back, not "rollback
// failed".
func TestAReloadThatFailsRollsBack(t *testing.T) {
	h, rec := unitHost(t)
	h.write("/etc/ssh/sshd_config.d/keep", "", 0o644)
	h.deploy(apps{"web": sshApp("# v1\n")}).mustSucceed(t)
	rec.take()
	rec.failReload = map[string]bool{"web.service": true}
	d := h.deploy(apps{"web": sshApp("# v2\n")})
	if d.result.Outcome != wire.RolledBack {
		t.Fatalf("outcome %s (%s; rollback: %s), want rolled back", d.result.Outcome, d.result.Message(), d.result.RollbackFailure.Text())
	}
	if !strings.Contains(d.result.Message(), "reload") || !strings.Contains(d.result.Message(), "ExecReload= exited 1") {
		t.Errorf("the reason %q does not name the failed reload", d.result.Message())
	}
	if got := h.read("/etc/ssh/sshd_config.d/deny.conf"); got != "# v1\n" {
		t.Errorf("the config after the rollback is %q, want v1's", got)
	}
}

// Issue 24, item 3: a unit that crash-loops a few seconds after the settle
// window was "ok" in check. systemd counts the automatic restarts since
// the unit was last started (the deploy's restart resets the count): any
// is a crash check reports, though the unit is active between two.
func TestDriftFindsAUnitSystemdRestarted(t *testing.T) {
	h, rec := unitHost(t)
	v1 := files{
		"systemd/web.service": "[Service]\nExecStart=/bin/web\nRestart=always\n[Install]\nWantedBy=multi-user.target\n",
		"manifest.json":       unitManifest([]string{"web.service"}, nil),
	}
	h.deploy(apps{"web": v1}).mustSucceed(t)
	opts := h.opts
	opts.Units = func(context.Context) (Units, func(), error) {
		return statusRecorder{rec, map[string]systemd.UnitStatus{
			"web.service": {LoadState: "loaded", FileState: "enabled", ActiveState: "active", SubState: "running", Type: "simple", NRestarts: 3},
		}}, func() {}, nil
	}
	want := []wire.Drift{{App: "web", Kind: wire.DriftUnit, Path: "web.service",
		What: "restarted 3 times by systemd since it was last started: it crashes (journalctl -u web.service)"}}
	if diff := cmp.Diff(want, h.drift(opts).Drift); diff != "" {
		t.Errorf("drift (-want +got):\n%s", diff)
	}
}
