package main

import (
	"bufio"
	"encoding/json"
	"github.com/deptool/deptool/deploy"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/internal/lab"
)

// copyDemo puts config-examples/demo into the operator's cluster dir.
func copyDemo(t *testing.T, op *operator) {
	t.Helper()
	src := "../../config-examples/demo"
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		dst := filepath.Join(op.root, "prod", rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

func serving(t *testing.T, l *lab.Lab, host string) string {
	t.Helper()
	out, err := l.Exec(host, "curl", "-s", "--max-time", "5", "http://127.0.0.1:8080/")
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.TrimSpace(out)
}

func TestBrokenConfigRollsBackOnlyThatHost(t *testing.T) {
	l := lab.StartFresh(t, "web1", "web2", "db1")
	op := newOperator(t, l)
	copyDemo(t, op)
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("first deploy exited %d:\n%s", code, out)
	}
	for _, h := range []string{"web1", "web2"} {
		if got := serving(t, l, h); !strings.Contains(got, h+": version 1") {
			t.Fatalf("%s serves %q after the first deploy", h, got)
		}
	}

	for _, h := range []string{"web1", "web2"} {
		op.write(map[string]string{h + "/nginx/www/index.html": "<h1>" + h + ": version 2</h1>\n"})
	}
	conf := filepath.Join(op.root, "prod/web2/nginx/nginx.conf")
	good, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	op.write(map[string]string{"web2/nginx/nginx.conf": strings.Replace(string(good), "worker_connections 64;", "worker_connections 64", 1)})
	out, code := op.run("deploy", "--yes")
	if code != deploy.ExitRolledBack || !strings.Contains(out, "web2  rolled back") || !strings.Contains(out, "web1  deployed") {
		t.Fatalf("deploy with a broken web2 exited %d, want %d:\n%s", code, deploy.ExitRolledBack, out)
	}
	if got := serving(t, l, "web1"); !strings.Contains(got, "version 2") {
		t.Errorf("web1 serves %q, want version 2", got)
	}
	note, err := exec.Command("git", "--git-dir", filepath.Join(op.root, ".deptool"), "notes", "--ref", "deptool", "show", "main").Output()
	if err != nil || !strings.Contains(string(note), `"host":"web2","outcome":"rolled back"`) || !strings.Contains(string(note), "demo-nginx.service") {
		t.Errorf("the store does not record web2's rollback and its unit: %s (%v)", note, err)
	}
	if got := onHost(t, l, "web2", "tail -1 /var/lib/deptool/journal.jsonl"); !strings.Contains(got, "rolled back") {
		t.Errorf("web2's journal does not record the rollback: %s", got)
	}
	if got := serving(t, l, "web2"); !strings.Contains(got, "version 1") {
		t.Errorf("web2 serves %q after its rollback, want version 1", got)
	}
	if got := onHost(t, l, "web2", "systemctl is-active demo-nginx.service"); got != "active" {
		t.Errorf("web2 demo-nginx is %q after rollback", got)
	}
	if got := onHost(t, l, "web2", "grep -c 'worker_connections 64;' /var/lib/deptool/apps/nginx/current/nginx.conf"); got != "1" {
		t.Error("web2's current checkout is not the good version")
	}
	stat, _ := op.run("diff", "--stat")
	if !strings.Contains(stat, "web2/nginx/nginx.conf") || strings.Contains(stat, "web1/") {
		t.Errorf("diff --stat after the rollback should list only web2:\n%s", stat)
	}

	op.write(map[string]string{"web2/nginx/nginx.conf": string(good)})
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("fixed deploy exited %d:\n%s", code, out)
	}
	if got := serving(t, l, "web2"); !strings.Contains(got, "version 2") {
		t.Errorf("web2 serves %q after the fix", got)
	}
}

func TestLateCrashIsCaughtAndRolledBack(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	unit := "[Service]\nExecStart=/bin/sh -c 'exec sleep infinity'\nRestart=on-failure\nRestartSec=500ms\n\n[Install]\nWantedBy=multi-user.target\n"
	op.write(map[string]string{
		"web1/svc/manifest.json":        `{"systemd": {"units_enabled": ["late.service"]}}`,
		"web1/svc/systemd/late.service": unit,
	})
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("first deploy exited %d:\n%s", code, out)
	}
	// The new version exits 0.8 s after start: its restart job is done and
	// it looks active at first, which a check at 300 ms would believe.
	op.write(map[string]string{"web1/svc/systemd/late.service": strings.Replace(unit, "exec sleep infinity", "sleep 0.8; exit 1", 1)})
	out, code := op.run("deploy", "--yes")
	if code != deploy.ExitRolledBack || !strings.Contains(out, "late.service") {
		t.Fatalf("deploy of a late-crashing unit exited %d, want %d:\n%s", code, deploy.ExitRolledBack, out)
	}
	if got := onHost(t, l, "web1", "systemctl is-active late.service; grep -c 'sleep infinity' /etc/systemd/system/late.service"); got != "active\n1" {
		t.Errorf("after rollback late.service state and unit file: %q", got)
	}
}

const goodUnit = "[Service]\nExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=multi-user.target\n"

// fingerprint describes what deptool manages on a host, without times, so
// two hosts (or one host at two moments) can be compared.
func fingerprint(t *testing.T, l *lab.Lab, host string) string {
	t.Helper()
	return onHost(t, l, host, `
for p in $(find /etc/systemd/system /etc/dtest.conf -name 'dt*' 2>/dev/null | sort); do
  if [ -L "$p" ]; then echo "$p -> $(readlink "$p")"; elif [ -d "$p" ]; then echo "$p/"; else echo "$p: $(cat "$p")"; fi
done
echo "current: $(readlink /var/lib/deptool/apps/svc/current)"
for u in dta.service dtb.service dtc.service; do echo "$u $(systemctl is-active $u) $(systemctl is-enabled $u 2>/dev/null)"; done`)
}

func TestUnitLifecycleAndExactRollback(t *testing.T) {
	l := lab.StartFresh(t, "web1", "web2")
	op := newOperator(t, l)
	v1 := map[string]string{
		"svc/manifest.json":       `{"systemd": {"units_enabled": ["dta.service", "dtb.service"]}}`,
		"svc/systemd/dta.service": goodUnit,
		"svc/systemd/dtb.service": goodUnit,
		"svc/dtest.conf":          "setting = 1\n",
	}
	both := func(files map[string]string) {
		for _, h := range []string{"web1", "web2"} {
			for k, v := range files {
				op.write(map[string]string{h + "/" + k: v})
			}
		}
	}
	both(v1)
	if out, code := op.run("deploy", "--yes", "--settle", "500ms"); code != 0 {
		t.Fatalf("v1 exited %d:\n%s", code, out)
	}
	afterV1 := fingerprint(t, l, "web1")
	if !strings.Contains(afterV1, "dta.service active enabled") || !strings.Contains(afterV1, "dtb.service active enabled") {
		t.Fatalf("after v1:\n%s", afterV1)
	}

	t.Run("failed attempt is undone exactly", func(t *testing.T) {
		onHost(t, l, "web1", "printf 'setting = 1\\n' > /etc/dtest.conf")
		before := fingerprint(t, l, "web1")
		op.write(map[string]string{
			"web1/svc/manifest.json":                     `{"systemd": {"units_enabled": ["dta.service", "dtb.service", "dtc.service"]}, "symlinks": {"/etc/dtest.conf": "dtest.conf"}}`,
			"web1/svc/systemd/dtc.service":               "[Service]\nType=exec\nExecStart=/nonexistent\n\n[Install]\nWantedBy=multi-user.target\n",
			"web1/svc/systemd/dta.service.d/limits.conf": "[Service]\nLimitNOFILE=4096\n",
		})
		out, code := op.run("deploy", "--yes", "--settle", "500ms", "--limit", "web1")
		if code != deploy.ExitRolledBack {
			t.Fatalf("failing attempt exited %d, want %d:\n%s", code, deploy.ExitRolledBack, out)
		}
		if after := fingerprint(t, l, "web1"); after != before {
			t.Errorf("host state after rollback differs from before the attempt:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if got := onHost(t, l, "web1", "test -L /etc/dtest.conf && echo link || cat /etc/dtest.conf"); got != "setting = 1" {
			t.Errorf("adopted /etc/dtest.conf not restored as a file: %q", got)
		}
		onHost(t, l, "web1", "rm /etc/dtest.conf")
		op.write(map[string]string{"web1/svc/manifest.json": v1["svc/manifest.json"]})
		for _, p := range []string{"web1/svc/systemd/dtc.service", "web1/svc/systemd/dta.service.d/limits.conf"} {
			os.Remove(filepath.Join(op.root, "prod", p))
		}
		os.Remove(filepath.Join(op.root, "prod/web1/svc/systemd/dta.service.d"))
	})

	t.Run("dropped and removed units", func(t *testing.T) {
		both(map[string]string{"svc/manifest.json": `{"systemd": {"units_enabled": ["dta.service"]}}`})
		if out, code := op.run("deploy", "--yes", "--settle", "500ms"); code != 0 {
			t.Fatalf("dropping dtb exited %d:\n%s", code, out)
		}
		fp := fingerprint(t, l, "web1")
		if !strings.Contains(fp, "dtb.service inactive") || strings.Contains(fp, "dtb.service inactive enabled") {
			t.Errorf("dtb dropped from units_enabled is not stopped and disabled:\n%s", fp)
		}
		for _, h := range []string{"web1", "web2"} {
			os.Remove(filepath.Join(op.root, "prod", h, "svc/systemd/dtb.service"))
		}
		if out, code := op.run("deploy", "--yes", "--settle", "500ms"); code != 0 {
			t.Fatalf("removing dtb exited %d:\n%s", code, out)
		}
		fp = fingerprint(t, l, "web1")
		if strings.Contains(fp, "/etc/systemd/system/dtb.service") || !strings.Contains(fp, "dtb.service inactive") {
			t.Errorf("removed dtb.service is not stopped and unlinked:\n%s", fp)
		}
	})

	// web1 went v1 -> failed attempt (rolled back) -> v2 -> v3; web2 went
	// v1 -> v2 -> v3 without the failure. Rollback must leave no trace.
	if a, b := fingerprint(t, l, "web1"), fingerprint(t, l, "web2"); a != b {
		t.Errorf("deploy -> rollback -> deploy differs from deploy:\nweb1:\n%s\nweb2:\n%s", a, b)
	}
}

// waitFor polls a shell condition on a host until it holds or the deadline
// passes; lab tests wait on real conditions, not fixed sleeps.
func waitFor(t *testing.T, l *lab.Lab, host, cond string, deadline time.Duration) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		if _, err := l.Exec(host, "sh", "-c", cond); err == nil {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s: %q still false after %s", host, cond, deadline)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not a wait for an outcome
	}
}

func TestOperatorKilledMidApplyHostFinishes(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	files := map[string]string{
		"web1/svc/manifest.json":       `{"systemd": {"units_enabled": ["dta.service"]}}`,
		"web1/svc/systemd/dta.service": goodUnit,
		"web1/svc/dtest.conf":          "v1\n",
	}
	op.write(files)
	if out, code := op.run("deploy", "--yes", "--settle", "0s"); code != 0 {
		t.Fatalf("v1 exited %d:\n%s", code, out)
	}
	op.write(map[string]string{"web1/svc/dtest.conf": "v2\n"})
	// Without confirmation, the host finishes the apply as asked.
	killAt(t, op, "applying", "settle", "--settle", "4s", "--confirm-timeout", "0s")
	waitFor(t, l, "web1", "flock -n /var/lib/deptool/lock true && [ $(wc -l < /var/lib/deptool/journal.jsonl) -ge 2 ]", 20*time.Second)
	refs := strings.Fields(onHost(t, l, "web1", "git --git-dir /var/lib/deptool/store rev-parse current target"))
	if len(refs) != 2 || refs[0] != refs[1] {
		t.Errorf("after the operator was killed, current and target differ: %v", refs)
	}
	if got := onHost(t, l, "web1", "systemctl is-active dta.service; tail -1 /var/lib/deptool/journal.jsonl | grep -o '\"outcome\":\"[a-z_]*\"'"); got != "active\n\"outcome\":\"deployed\"" {
		t.Errorf("unit and journal after the operator was killed: %q", got)
	}
	// The store never heard back, so its plan is stale: the next deploy
	// fetches the host's state, and the one after has nothing to do.
	out, code := op.run("deploy", "--yes")
	if code != exitHostFailed || !strings.Contains(out, "stale") {
		t.Fatalf("deploy after the kill exited %d:\n%s", code, out)
	}
	out, code = op.run("deploy", "--yes")
	if code != 0 || !strings.Contains(out, "Nothing to deploy") {
		t.Errorf("deploy after the fetch exited %d:\n%s", code, out)
	}

	// With confirmation, nobody confirms a host whose operator vanished:
	// it rolls back by itself once the timeout runs out.
	op.write(map[string]string{"web1/svc/dtest.conf": "v3\n"})
	killAt(t, op, "confirming", "", "--settle", "3s", "--confirm-timeout", "2s")
	waitFor(t, l, "web1", "flock -n /var/lib/deptool/lock true && tail -1 /var/lib/deptool/journal.jsonl | grep -q 'rolled back'", 20*time.Second)
	if got := onHost(t, l, "web1", "cat /var/lib/deptool/apps/svc/current/dtest.conf; systemctl is-active dta.service; tail -1 /var/lib/deptool/journal.jsonl"); !strings.HasPrefix(got, "v2\nactive\n") || !strings.Contains(got, "not confirmed") {
		t.Errorf("host after an unconfirmed apply:\n%s", got)
	}
	out, code = op.run("deploy", "--yes", "--settle", "0s")
	if code != 0 {
		t.Errorf("deploy after the host rolled itself back exited %d:\n%s", code, out)
	}
}

// killAt starts a deploy and kills the operator as soon as it reports
// web1 in the phase (and, for applying, the agent's step) given. The kill
// follows the report by milliseconds, which keeps it ahead of anything
// the operator would do next, such as dialling to confirm.
func killAt(t *testing.T, op *operator, phase, detail string, flags ...string) {
	t.Helper()
	cmd := exec.Command(op.bin, append([]string{"deploy", "--yes", "--output", "json"}, flags...)...)
	cmd.Dir, cmd.Env = op.root, op.env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	var seen []string
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		seen = append(seen, lines.Text())
		var ev struct{ Event, Host, Phase, Detail string }
		if json.Unmarshal(lines.Bytes(), &ev) == nil && ev.Event == "phase" && ev.Host == "web1" && ev.Phase == phase && ev.Detail == detail {
			cmd.Process.Kill()
			cmd.Wait()
			return
		}
	}
	cmd.Wait()
	t.Fatalf("the deploy ended without reporting web1 %s %s:\n%s", phase, detail, strings.Join(seen, "\n"))
}

// A unit systemd has never read needs no daemon-reload: systemd reads it
// from disk when the enable and restart ask for it. A unit it has read
// does: the change must be seen, not the copy in memory.
func TestDaemonReloadOnlyForUnitsSystemdHasRead(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	reloads := func(out string) bool {
		t.Helper()
		var seen bool
		for line := range strings.Lines(out) {
			var ev struct{ Event, Phase, Detail string }
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("not JSON: %q", line)
			}
			seen = seen || ev.Event == "phase" && ev.Detail == "daemon-reload"
		}
		return seen
	}
	deploy := func(what string, wantReload bool) {
		t.Helper()
		out, code := op.stdout("deploy", "--yes", "--settle", "0s", "--output", "json")
		if code != 0 {
			t.Fatalf("%s exited %d:\n%s", what, code, out)
		}
		if got := reloads(out); got != wantReload {
			t.Errorf("%s: daemon-reload %v, want %v", what, got, wantReload)
		}
	}
	op.write(map[string]string{
		"web1/svc/manifest.json":       `{"systemd": {"units_enabled": ["dtr.service"]}}`,
		"web1/svc/systemd/dtr.service": "[Service]\nEnvironment=V=1\nExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=multi-user.target\n",
	})
	deploy("a new unit", false)
	state := "for p in Environment NeedDaemonReload UnitFileState ActiveState; do systemctl show -p $p dtr.service; done"
	if got := onHost(t, l, "web1", state); got != "Environment=V=1\nNeedDaemonReload=no\nUnitFileState=enabled\nActiveState=active" {
		t.Errorf("a new unit without a reload:\n%s", got)
	}

	op.write(map[string]string{"web1/svc/systemd/dtr.service": "[Service]\nEnvironment=V=2\nExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=multi-user.target\n"})
	deploy("a changed unit", true)
	if got := onHost(t, l, "web1", state); got != "Environment=V=2\nNeedDaemonReload=no\nUnitFileState=enabled\nActiveState=active" {
		t.Errorf("a changed unit:\n%s", got)
	}

	op.write(map[string]string{"web1/svc/systemd/dtr.service.d/v3.conf": "[Service]\nEnvironment=V=3\n"})
	deploy("a new drop-in for a loaded unit", true)
	if got := onHost(t, l, "web1", state); got != "Environment=V=3\nNeedDaemonReload=no\nUnitFileState=enabled\nActiveState=active" {
		t.Errorf("a drop-in for a loaded unit:\n%s", got)
	}
}
