package simsystemd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy/agent"
	"github.com/deptool/deptool/deploy/systemd"
)

var _ agent.Units = (*Systemd)(nil)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// host is a root with unit files linked as the agent links them: the link
// in /etc/systemd/system points at a file elsewhere under the root.
func host(t *testing.T, units map[string]string) (*Systemd, *clock) {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "etc/systemd/system")
	apps := filepath.Join(root, "var/lib/deptool/apps/web/current/systemd")
	for name, content := range units {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(apps, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(apps, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		// As on a host: an absolute target, resolved under the root.
		if err := os.Symlink("/var/lib/deptool/apps/web/current/systemd/"+name, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return New(root, c.Now), c
}

func TestRestartSettleAndCrashByTheClock(t *testing.T) {
	ctx := context.Background()
	sd, c := host(t, map[string]string{
		"ok.service":            "[Service]\nExecStart=/bin/ok\n",
		"crash.service":         "[Service]\nExecStart=/bin/crash\nX-Sim-CrashAfter=10s\n",
		"fail.service":          "[Service]\nX-Sim-FailStart=yes\nX-Sim-Journal=bind: address in use\n",
		"loop.service":          "[Service]\n",
		"loop.service.d/x.conf": "[Service]\nX-Sim-Restarts=2\n",
	})
	for _, u := range []string{"ok.service", "crash.service", "loop.service"} {
		if err := sd.Restart(ctx, u); err != nil {
			t.Fatalf("restart %s: %v", u, err)
		}
	}
	err := sd.Restart(ctx, "fail.service")
	var je *systemd.JobError
	if !errors.As(err, &je) || !errors.Is(err, systemd.ErrJobFailed) || je.Result != "failed" {
		t.Fatalf("restart fail.service: %v", err)
	}
	if j := sd.JournalTail("fail.service", 5, time.Time{}); len(j) == 0 || j[0] != "bind: address in use" {
		t.Errorf("journal of fail.service: %q", j)
	}
	states, err := sd.Settle(ctx, []string{"ok.service", "crash.service", "loop.service", "fail.service"}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]string{}
	for _, s := range states {
		if s.Failed {
			failed[s.Unit] = s.Reason
		}
	}
	if len(failed) != 2 || !strings.Contains(failed["loop.service"], "restarted 2 times") || !strings.Contains(failed["fail.service"], "failed state") {
		t.Errorf("failed after a 2 s window: %v", failed)
	}
	// The crash is due 10 s after the start: a window reaching it sees it.
	c.advance(9 * time.Second)
	states, _ = sd.Settle(ctx, []string{"crash.service"}, 2*time.Second)
	if !states[0].Failed {
		t.Errorf("crash.service 11 s after its start: %+v", states[0])
	}
	if st, _ := sd.Status(ctx, "ok.service"); !st.Running() || st.FileState != "disabled" {
		t.Errorf("ok.service: %+v", st)
	}
}

func TestHangEndsAtTheDeadlineOrExpire(t *testing.T) {
	sd, _ := host(t, map[string]string{"hang.service": "[Service]\nX-Sim-Hang=yes\n"})
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0)) // past: no waiting
	defer cancel()
	if err := sd.Restart(ctx, "hang.service"); !errors.Is(err, systemd.ErrJobTimeout) {
		t.Fatalf("restart past its deadline: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- sd.Stop(context.Background(), "hang.service") }()
	sd.ExpireJobs()
	if err := <-done; !errors.Is(err, systemd.ErrJobTimeout) {
		t.Fatalf("stop after ExpireJobs: %v", err)
	}
	if a, _, _ := sd.State("hang.service"); a != "failed" {
		t.Errorf("a killed unit is %s", a)
	}
}

func TestReloadEnableAndLoaded(t *testing.T) {
	ctx := context.Background()
	sd, _ := host(t, map[string]string{"a.service": "[Service]\n", "r.service": "[Service]\nX-Sim-ReloadFails=yes\n"})
	if ok, _ := sd.Loaded(ctx, []string{"a.service"}); ok {
		t.Error("a unit never referenced is loaded")
	}
	if err := sd.Enable(ctx, []string{"a.service"}); err != nil {
		t.Fatal(err)
	}
	if err := sd.Enable(ctx, []string{"missing.service"}); err == nil {
		t.Error("enabled a unit without a file")
	}
	if ok, _ := sd.Loaded(ctx, []string{"a.service"}); !ok {
		t.Error("an enabled unit is not loaded")
	}
	if err := sd.ReloadUnit(ctx, "r.service"); err != nil { // inactive: started
		t.Fatal(err)
	}
	if err := sd.ReloadUnit(ctx, "r.service"); !errors.Is(err, systemd.ErrJobFailed) {
		t.Errorf("reload of r.service: %v", err)
	}
	sd.Script("a.service", Behaviour{FailStart: true})
	if err := sd.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sd.Restart(ctx, "a.service"); err == nil {
		t.Error("a scripted failure started")
	}
	var ops []string
	for _, c := range sd.Calls() {
		ops = append(ops, c.String())
	}
	if got := strings.Join(ops, ", "); !strings.HasPrefix(got, "loaded a.service, enable a.service, enable missing.service") {
		t.Errorf("calls: %s", got)
	}
}
