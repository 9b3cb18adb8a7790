package systemd

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mainPID(t *testing.T, m *Manager, unit string) uint32 {
	t.Helper()
	p, err := m.conn.GetServicePropertyContext(t.Context(), unit, "MainPID")
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := p.Value.Value().(uint32)
	return pid
}

// ReloadUnit starts a unit that is not running, reloads one that is
// (its main process stays), and fails for a unit that cannot reload.
func TestOnHostReloadUnit(t *testing.T) {
	m, ctx := onHost(t)
	log := "/run/dt-reload.log"
	os.Remove(log)
	install(t, m, ctx, "dt-reload.service", "[Service]\nExecStart=/bin/sleep infinity\nExecReload=/bin/sh -c 'echo reloaded >> "+log+"'\n")
	if err := m.ReloadUnit(ctx, "dt-reload.service"); err != nil {
		t.Fatalf("ReloadUnit of a stopped unit: %v", err)
	}
	pid := mainPID(t, m, "dt-reload.service")
	if pid == 0 {
		t.Fatal("ReloadUnit did not start the stopped unit")
	}
	if _, err := os.Stat(log); err == nil {
		t.Error("starting the unit ran ExecReload")
	}
	if err := m.ReloadUnit(ctx, "dt-reload.service"); err != nil {
		t.Fatalf("ReloadUnit of a running unit: %v", err)
	}
	if got := mainPID(t, m, "dt-reload.service"); got != pid {
		t.Errorf("main PID %d after the reload, was %d: it restarted", got, pid)
	}
	if data, _ := os.ReadFile(log); string(data) != "reloaded\n" {
		t.Errorf("ExecReload ran %q", data)
	}

	install(t, m, ctx, "dt-noreload.service", "[Service]\nExecStart=/bin/sleep infinity\n")
	restart(t, m, ctx, "dt-noreload.service")
	if err := m.ReloadUnit(ctx, "dt-noreload.service"); err == nil || !strings.Contains(err.Error(), "dt-noreload.service") {
		t.Errorf("ReloadUnit of a unit without ExecReload = %v; want an error naming it", err)
	}
}

// Run runs a command as a transient unit in a directory with an
// environment, captures its output, reports how it failed, and leaves no
// unit behind.
func TestOnHostRun(t *testing.T) {
	m, ctx := onHost(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.conf"), []byte("good\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name string, timeout time.Duration, argv ...string) (string, error) {
		out := filepath.Join(dir, name+".log")
		if err := os.WriteFile(out, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err := m.Run(ctx, name+".service", Command{Argv: argv, Dir: dir, Env: []string{"DEPTOOL_CHECKOUT=" + dir}, Output: out, Timeout: timeout})
		t.Logf("Run %s: %v after %v", name, err, time.Since(start).Round(time.Millisecond))
		data, _ := os.ReadFile(out)
		if units, lerr := m.conn.ListUnitsByNamesContext(ctx, []string{name + ".service"}); lerr == nil && len(units) == 1 && units[0].LoadState != "not-found" {
			t.Errorf("%s is left behind: %+v", name, units[0])
		}
		return string(data), err
	}
	out, err := run("dt-run-ok", 10*time.Second, "/bin/sh", "-c", `cat app.conf; echo "$DEPTOOL_CHECKOUT" >&2`)
	if err != nil || out != "good\n"+dir+"\n" {
		t.Errorf("good command: %v, output %q", err, out)
	}
	// systemd expands ${VAR} in the arguments, from the unit's environment.
	out, err = run("dt-run-expand", 10*time.Second, "/bin/cat", "${DEPTOOL_CHECKOUT}/app.conf")
	if err != nil || out != "good\n" {
		t.Errorf("${DEPTOOL_CHECKOUT} in an argument: %v, output %q", err, out)
	}
	out, err = run("dt-run-fail", 10*time.Second, "/bin/sh", "-c", "echo broken >&2; exit 3")
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Result != "exit-code" || ce.Status != 3 || out != "broken\n" || err.Error() != "exit status 3" {
		t.Errorf("failing command: %v (%+v), output %q", err, ce, out)
	}
	_, err = run("dt-run-slow", time.Second, "/bin/sleep", "30")
	if !errors.As(err, &ce) || ce.Result != "timeout" || err.Error() != "timed out" {
		t.Errorf("slow command: %v (%+v)", err, ce)
	}
	_, err = run("dt-run-missing", 10*time.Second, "/nonexistent/validate")
	if err == nil {
		t.Error("a missing program passed")
	}
}
