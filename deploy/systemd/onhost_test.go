package systemd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The TestOnHost tests run on a lab host through TestLab and are skipped
// anywhere else: they install units into the real /etc/systemd/system.

func onHost(t *testing.T) (*Manager, context.Context) {
	t.Helper()
	if os.Getenv(onHostEnv) != "1" {
		t.Skipf("runs on a lab host through TestLab (%s=1)", onHostEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	m, err := Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m, ctx
}

// install writes a unit file into /etc/systemd/system, reloads, and removes
// it (stopped, disabled) when the test ends.
func install(t *testing.T, m *Manager, ctx context.Context, unit, body string) {
	t.Helper()
	p := filepath.Join(DefaultUnitDir, unit)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { remove(t, m, unit) })
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, m *Manager, unit string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Stop(ctx, unit); err != nil {
		t.Logf("cleanup: %v", err)
	}
	_ = m.Disable(ctx, []string{unit})
	_ = os.Remove(filepath.Join(DefaultUnitDir, unit))
	_ = m.conn.ResetFailedUnitContext(ctx, unit)
	if err := m.Reload(ctx); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

func restart(t *testing.T, m *Manager, ctx context.Context, unit string) {
	t.Helper()
	start := time.Now()
	if err := m.Restart(ctx, unit); err != nil {
		t.Fatal(err)
	}
	t.Logf("Restart %s: job done after %v", unit, time.Since(start).Round(time.Millisecond))
}

func settle(t *testing.T, m *Manager, ctx context.Context, unit string, window time.Duration) UnitState {
	t.Helper()
	start := time.Now()
	st, err := m.Settle(ctx, []string{unit}, window)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Settle(%v) took %v: %v (NRestarts %d -> %d, Result=%s)", window, time.Since(start).Round(time.Millisecond), st[0], st[0].NRestartsStart, st[0].NRestartsEnd, st[0].Result)
	return st[0]
}

func TestOnHostRestartGood(t *testing.T) {
	m, ctx := onHost(t)
	const unit = "sdtest-good.service"
	install(t, m, ctx, unit, "[Service]\nExecStart=/bin/sleep infinity\n")
	restart(t, m, ctx, unit)
	st := settle(t, m, ctx, unit, 2*time.Second)
	if st.Failed || st.ActiveState != "active" || st.SubState != "running" || st.MainPID == 0 || st.Since.IsZero() {
		t.Fatalf("good unit: %+v; want active (running), not failed, with a main PID", st)
	}
	pid := st.MainPID
	// A second restart gets a new process and is still fine.
	restart(t, m, ctx, unit)
	st = settle(t, m, ctx, unit, 0)
	if st.Failed || st.MainPID == pid {
		t.Fatalf("after a second restart: %+v; want not failed with a new main PID (old %d)", st, pid)
	}
}

func TestOnHostCrashAfterStart(t *testing.T) {
	m, ctx := onHost(t)
	const unit = "sdtest-crash.service"
	install(t, m, ctx, unit, `[Service]
ExecStart=/bin/sh -c 'echo crashing on purpose; sleep 0.8; exit 1'
Restart=on-failure
RestartSec=500ms
`)
	// What a 300 ms check sees: a unit that looks fine.
	restart(t, m, ctx, unit)
	if st := settle(t, m, ctx, unit, 300*time.Millisecond); st.Failed {
		t.Fatalf("300 ms after start the unit already failed (%s); this test cannot show the late crash", st.Reason)
	}
	restart(t, m, ctx, unit)
	st := settle(t, m, ctx, unit, 2*time.Second)
	if !st.Failed || !strings.Contains(st.Reason, "restart") {
		t.Fatalf("crashing unit: %+v; want failed with a reason about restarts", st)
	}
	// Watched beside a healthy unit, Settle cannot stop early and sees the
	// whole window.
	const good = "sdtest-good2.service"
	install(t, m, ctx, good, "[Service]\nExecStart=/bin/sleep infinity\n")
	restart(t, m, ctx, good)
	restart(t, m, ctx, unit)
	start := time.Now()
	both, err := m.Settle(ctx, []string{good, unit}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Settle(2s) of two units took %v:\n  %v\n  %v (NRestarts %d -> %d)", time.Since(start).Round(time.Millisecond), both[0], both[1], both[1].NRestartsStart, both[1].NRestartsEnd)
	if both[0].Failed || !both[1].Failed || !strings.Contains(both[1].Reason, "restart") {
		t.Fatalf("good and crashing unit: %+v; want only the crashing one failed, for restarting", both)
	}
	// Its journal tells the operator why. A crash loop writes six lines
	// a round, five of them systemd's: ten lines always hold the unit's
	// own (the agent shows twenty).
	deadline := time.Now().Add(10 * time.Second)
	for {
		lines := JournalTail(unit, 10, start.Add(-time.Second))
		if strings.Contains(strings.Join(lines, "\n"), "crashing on purpose") {
			t.Logf("JournalTail: %q", lines)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("JournalTail(%s, 10) = %q; want the unit's own output", unit, lines)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition, with a deadline
	}
	// Lines from before the apply began are not this deploy's.
	if lines := JournalTail(unit, 5, time.Now().Add(time.Hour)); len(lines) != 0 {
		t.Errorf("JournalTail since a time to come = %q, want nothing", lines)
	}
}

func TestOnHostOneshot(t *testing.T) {
	m, ctx := onHost(t)
	const unit = "sdtest-oneshot.service"
	install(t, m, ctx, unit, "[Service]\nType=oneshot\nExecStart=/bin/true\n")
	restart(t, m, ctx, unit)
	st := settle(t, m, ctx, unit, time.Second)
	if st.Failed || st.ActiveState != "inactive" || st.Result != "success" {
		t.Fatalf("oneshot: %+v; want inactive with Result=success, not failed", st)
	}
	const bad = "sdtest-oneshot-bad.service"
	install(t, m, ctx, bad, "[Service]\nType=oneshot\nExecStart=/bin/false\n")
	err := m.Restart(ctx, bad)
	if !errors.Is(err, ErrJobFailed) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), `"failed"`) {
		t.Fatalf("Restart of a failing oneshot = %v; want an ErrJobFailed naming the unit and result \"failed\"", err)
	}
	t.Logf("Restart %s: %v", bad, err)
	if st := settle(t, m, ctx, bad, 0); !st.Failed || st.Result != "exit-code" {
		t.Fatalf("failing oneshot: %+v; want failed with Result=exit-code", st)
	}
}

func TestOnHostBadExecStart(t *testing.T) {
	m, ctx := onHost(t)
	// Type=simple reports the start done at fork; the exec failure comes
	// after, so Settle is what catches it.
	const simple = "sdtest-badexec.service"
	install(t, m, ctx, simple, "[Service]\nExecStart=/nonexistent/sdtest-binary\n")
	err := m.Restart(ctx, simple)
	t.Logf("Restart %s: %v", simple, err)
	if err == nil {
		if st := settle(t, m, ctx, simple, 2*time.Second); !st.Failed {
			t.Fatalf("bad ExecStart: %+v; want failed", st)
		}
	}
	// Type=exec waits for the exec, so the job itself fails.
	const exec = "sdtest-badexec2.service"
	install(t, m, ctx, exec, "[Service]\nType=exec\nExecStart=/nonexistent/sdtest-binary\n")
	err = m.Restart(ctx, exec)
	t.Logf("Restart %s: %v", exec, err)
	if !errors.Is(err, ErrJobFailed) || !strings.Contains(err.Error(), exec) {
		t.Fatalf("Restart of a Type=exec unit with a bad ExecStart = %v; want ErrJobFailed naming the unit", err)
	}
}

func TestOnHostEnableSurvivesGC(t *testing.T) {
	m, ctx := onHost(t)
	const unit = "sdtest-app.service"
	apps := filepath.Join(DefaultAppsDir, "sdtest-app")
	writeVersion := func(id, marker string) {
		d := filepath.Join(apps, id, "systemd")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "[Unit]\nDescription=" + marker + "\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n"
		if err := os.WriteFile(filepath.Join(d, unit), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(apps, "current.tmp")
		_ = os.Remove(tmp)
		if err := os.Symlink(id, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(apps, "current")); err != nil {
			t.Fatal(err)
		}
	}
	writeVersion("v1", "sdtest v1")
	link := filepath.Join(DefaultUnitDir, unit)
	if err := os.Symlink(filepath.Join(apps, "current/systemd", unit), link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { remove(t, m, unit); _ = os.RemoveAll(apps) })
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := m.Enable(ctx, []string{unit}); err != nil {
		t.Fatal(err)
	}
	t.Logf("Enable took %v", time.Since(start).Round(time.Millisecond))
	wants := filepath.Join(DefaultUnitDir, "multi-user.target.wants", unit)
	if got, err := os.Readlink(wants); err != nil || got != link {
		t.Fatalf("install link %s -> %q, %v; want -> %s", wants, got, err, link)
	}
	checkEnabled(t, m, ctx, unit)
	noReloadPending(t, m, ctx, "after Enable", unit, "dbus.service")
	// Enabling again, as every deploy of the app does, is fine with the
	// repaired link.
	if err := m.Enable(ctx, []string{unit}); err != nil {
		t.Fatalf("enabling again: %v", err)
	}

	// Deploy v2, garbage-collect v1.
	writeVersion("v2", "sdtest v2")
	if err := os.RemoveAll(filepath.Join(apps, "v1")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(wants)
	if err != nil || !strings.Contains(string(b), "sdtest v2") {
		t.Fatalf("after GC of v1, %s reads %q, %v; want v2's unit", wants, b, err)
	}
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	checkEnabled(t, m, ctx, unit)
	if err := m.Enable(ctx, []string{unit}); err != nil {
		t.Fatalf("enabling after GC: %v", err)
	}
	// multi-user.target still wants it: what makes it start at boot.
	p, err := m.conn.GetUnitPropertyContext(ctx, "multi-user.target", "Wants")
	if err != nil || !strings.Contains(p.Value.String(), unit) {
		t.Fatalf("multi-user.target Wants = %v, %v; want it to include %s", p, err, unit)
	}

	if err := m.Disable(ctx, []string{unit}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(wants); !os.IsNotExist(err) {
		t.Fatalf("after Disable, %s: %v; want it gone", wants, err)
	}
	if got, err := os.Readlink(link); err != nil {
		t.Fatalf("after Disable, the unit link %s: %q, %v", link, got, err)
	}
	noReloadPending(t, m, ctx, "after Disable", unit, "dbus.service")

	// A dangling versioned link left by an older deployer: systemd 252
	// replaces it with a versioned link of its own, which Enable repairs.
	if err := os.Symlink(filepath.Join(apps, "v0/systemd", unit), wants); err != nil {
		t.Fatal(err)
	}
	if err := m.Enable(ctx, []string{unit}); err != nil {
		t.Fatalf("enabling over a dangling versioned link: %v", err)
	}
	if got, err := os.Readlink(wants); err != nil || got != link {
		t.Fatalf("install link %s -> %q, %v; want -> %s", wants, got, err, link)
	}
	checkEnabled(t, m, ctx, unit)
}

func TestOnHostEnableWithoutInstall(t *testing.T) {
	m, ctx := onHost(t)
	const unit = "sdtest-static.service"
	install(t, m, ctx, unit, "[Service]\nExecStart=/bin/sleep infinity\n")
	err := m.Enable(ctx, []string{unit})
	if !errors.Is(err, ErrNoInstall) || !strings.Contains(err.Error(), unit) {
		t.Fatalf("Enable of a unit without [Install] = %v; want ErrNoInstall naming it", err)
	}
	t.Logf("Enable: %v", err)
}

// noReloadPending checks that systemd does not consider the units' files
// changed on disk: on systemd 257 an enable or disable leaves every unit
// so until a daemon-reload, and `systemctl status` warns about it.
func noReloadPending(t *testing.T, m *Manager, ctx context.Context, when string, units ...string) {
	t.Helper()
	for _, u := range units {
		p, err := m.conn.GetUnitPropertyContext(ctx, u, "NeedDaemonReload")
		if err != nil || p.Value.Value() != false {
			t.Errorf("%s: %s NeedDaemonReload = %v, %v; want false", when, u, p, err)
		}
	}
}

func checkEnabled(t *testing.T, m *Manager, ctx context.Context, unit string) {
	t.Helper()
	p, err := m.conn.GetUnitPropertyContext(ctx, unit, "UnitFileState")
	if err != nil || p.Value.Value() != "enabled" {
		t.Fatalf("%s UnitFileState = %v, %v; want enabled", unit, p, err)
	}
}

func TestOnHostStopDisable(t *testing.T) {
	m, ctx := onHost(t)
	const unit = "sdtest-stop.service"
	install(t, m, ctx, unit, "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n")
	if err := m.Enable(ctx, []string{unit}); err != nil {
		t.Fatal(err)
	}
	restart(t, m, ctx, unit)
	if st := settle(t, m, ctx, unit, 0); st.Failed {
		t.Fatalf("before stop: %+v", st)
	}
	start := time.Now()
	if err := m.Stop(ctx, unit); err != nil {
		t.Fatal(err)
	}
	t.Logf("Stop took %v", time.Since(start).Round(time.Millisecond))
	if st := settle(t, m, ctx, unit, 0); st.ActiveState != "inactive" || st.MainPID != 0 || !st.Failed {
		t.Fatalf("after stop: %+v; want inactive with no main PID, and failed by Settle's rule", st)
	}
	// Stopping a stopped unit is fine.
	if err := m.Stop(ctx, unit); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if err := m.Disable(ctx, []string{unit}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(DefaultUnitDir, "multi-user.target.wants", unit)); !os.IsNotExist(err) {
		t.Fatalf("after Disable the install link is still there: %v", err)
	}
	if err := m.Disable(ctx, []string{unit}); err != nil {
		t.Fatalf("second disable: %v", err)
	}
}

func TestOnHostUnknownUnit(t *testing.T) {
	m, ctx := onHost(t)
	const unit = "sdtest-nonexistent.service"
	err := m.Restart(ctx, unit)
	if err == nil || !strings.Contains(err.Error(), unit) {
		t.Fatalf("Restart of an unknown unit = %v; want an error naming it", err)
	}
	t.Logf("Restart: %v", err)
	st := settle(t, m, ctx, unit, 0)
	if !st.Failed || !strings.Contains(st.Reason, "not loaded") {
		t.Fatalf("unknown unit: %+v; want failed as not loaded", st)
	}
	if err := m.Enable(ctx, []string{unit}); err == nil || !strings.Contains(err.Error(), unit) {
		t.Fatalf("Enable of an unknown unit = %v; want an error naming it", err)
	}
}

// A job systemd would wait for forever ends at the caller's deadline: the
// unit's processes are killed, which ends the job, and the error says it
// timed out. A notify service that never notifies, with systemd's own
// start timeout off.
func TestOnHostJobTimeoutKillsTheUnit(t *testing.T) {
	m, ctx := onHost(t)
	install(t, m, ctx, "dt-endless.service", "[Service]\nType=notify\nExecStart=/bin/sleep infinity\nTimeoutStartSec=infinity\n")
	jctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	err := m.Restart(jctx, "dt-endless.service")
	took := time.Since(start)
	t.Logf("Restart of an endless start: %v after %v", err, took.Round(time.Millisecond))
	if !errors.Is(err, ErrJobTimeout) || !strings.Contains(err.Error(), "activating (start)") || !strings.Contains(err.Error(), "killed its processes") {
		t.Fatalf("Restart of an endless start: %v", err)
	}
	if took > 2*time.Second+killGrace {
		t.Errorf("took %v, past the deadline and the kill's grace", took)
	}
	st := settle(t, m, ctx, "dt-endless.service", 0)
	if st.ActiveState == "active" || st.ActiveState == "activating" && st.MainPID != 0 {
		t.Errorf("after the timeout the unit still runs: %v", st)
	}
}
