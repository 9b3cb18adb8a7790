package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/internal/ui"
	"github.com/spf13/cobra"
)

// fakeClock is the display's clock in tests: it moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// openPTY opens a pseudo-terminal of rows x cols; what the display writes
// to its tty side is read from the other, concurrently, so the writer
// never blocks on a full buffer.
func openPTY(t *testing.T, rows, cols uint16) (tty *os.File, output func() []byte) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		io.Copy(&buf, ptmx) // ends with EIO once the tty side is closed
		close(done)
	}()
	return tty, func() []byte {
		tty.Close()
		<-done
		ptmx.Close()
		return buf.Bytes()
	}
}

// fleetDeploy feeds a display what a deploy of hosts reports, host after
// host through every phase, advancing the clock by step per event; the
// hosts in broken roll back.
func fleetDeploy(rep deploy.Reporter, clock *fakeClock, hosts []string, broken map[string]bool, step time.Duration) {
	phases := []deploy.Phase{deploy.Connecting, deploy.Uploading, deploy.Locking, deploy.Sending, deploy.Applying, deploy.Applying, deploy.Applying, deploy.Confirming}
	for _, h := range hosts {
		for _, ph := range phases {
			clock.t = clock.t.Add(step)
			rep.Phase(h, ph, "")
		}
		r := deploy.HostResult{Host: h, Outcome: deploy.Deployed, Elapsed: time.Second}
		if broken[h] {
			r.Outcome, r.Error = deploy.RolledBack, "unit broken.service failed: exited with status 1"
		}
		rep.Done(r)
	}
}

// 40 hosts in a 100x20 terminal: the display is picked from the pty's own
// size, writes one line to the scrollback per failed host and nothing
// else, never a line wider than the terminal, and a bounded number of
// bytes whatever the phases.
func TestProgressFitsTheTerminal(t *testing.T) {
	tty, output := openPTY(t, 20, 100)
	var hosts []string
	plan := &diff.Plan{}
	for i := 1; i <= 40; i++ {
		h := fmt.Sprintf("web%02d", i)
		hosts = append(hosts, h)
		plan.Hosts = append(plan.Hosts, diff.HostPlan{Host: h})
	}
	clock := &fakeClock{t: time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)}
	cmd := &cobra.Command{}
	cmd.SetErr(tty)
	progress := progressForAt(cmd, plan, clock.now, nil)
	broken := map[string]bool{"web07": true, "web23": true, "web31": true}
	fleetDeploy(progress, clock, hosts, broken, 10*time.Millisecond)
	progress.Close()
	out := output()

	// The pty turns "\n" into "\r\n"; every line that reached the
	// scrollback is one failed host.
	lines := strings.Count(string(out), "\n")
	if lines != len(broken) {
		t.Errorf("%d lines went to the scrollback, want %d (one per failed host):\n%q", lines, len(broken), out)
	}
	for h := range broken {
		if !strings.Contains(string(out), h+"  rolled back: unit broken.service failed") {
			t.Errorf("failed host %s not shown as it happened", h)
		}
	}
	for _, seg := range strings.FieldsFunc(string(out), func(r rune) bool { return r == '\r' || r == '\n' }) {
		if n := len([]rune(strings.TrimPrefix(seg, "\x1b[2K"))); n >= 100 {
			t.Errorf("a line of %d cells in a 100-column terminal wraps: %q", n, seg)
		}
	}
	if !strings.Contains(string(out), "3.2s  40/40  deployed 37  rolled back 3  running 0  | web31  rolled back: unit broken.service fail…") {
		t.Errorf("no final aggregate line in %q", out)
	}
	// 40 hosts x 9 events, redrawn at most every 100ms of the clock and
	// on every outcome: about 70 status lines of 100 bytes. A line per
	// host per event would be 40 x 360 lines.
	if len(out) > 12_000 {
		t.Errorf("display wrote %d bytes for 40 hosts", len(out))
	}
	t.Logf("%d bytes", len(out))
}

// A fleet that fits keeps a line per host, redrawn in place.
func TestProgressPerHostWhenTheFleetFits(t *testing.T) {
	var b bytes.Buffer
	clock := &fakeClock{}
	p := ui.NewLive(&b, []string{"web1", "web2"}, ui.Terminal{Rows: 20, Cols: 100, Now: clock.now})
	fleetDeploy(p, clock, []string{"web1", "web2"}, nil, time.Millisecond)
	p.Close()
	if !strings.HasSuffix(b.String(), "\x1b[2Kweb1  deployed (1s)\n\x1b[2Kweb2  deployed (1s)\n") {
		t.Errorf("display ends %q", b.String()[max(0, b.Len()-120):])
	}
}

// rampDeploy feeds a display a rollout in stages: each stage's hosts
// start together (up to parallel of them, the rest queued), then end one
// by one; the hosts in motd fail on a file in their way, the hosts in
// broken roll back.
func rampDeploy(rep deploy.Reporter, clock *fakeClock, stages [][]string, parallel int, motd, broken map[string]bool, seen func()) {
	for _, st := range stages {
		for start := 0; start < len(st); start += parallel {
			batch := st[start:min(len(st), start+parallel)]
			for _, h := range batch {
				clock.t = clock.t.Add(30 * time.Millisecond)
				rep.Phase(h, deploy.Connecting, "")
			}
			seen()
			for i, h := range batch {
				clock.t = clock.t.Add(70 * time.Millisecond)
				r := deploy.HostResult{Host: h, Outcome: deploy.Deployed, Elapsed: time.Second}
				switch {
				case motd[h]:
					r.Outcome, r.Error = deploy.Failed, fmt.Sprintf("nothing was changed on the host:\napp motd: symlink /etc/motd: a regular file is in the way (sha256 %012x); move it away or add it to the app", i*7919)
				case broken[h]:
					r.Outcome, r.Error = deploy.RolledBack, "unit nginx.service failed"
				}
				rep.Done(r)
			}
		}
	}
}

// The live line during a 4-stage ramp with failures, at 80x24 and
// 120x40: no line wider than the terminal, the elapsed time first on
// every redraw, the stage and the queued hosts named, each failure's
// reason on its own line, and one reason failing on many hosts listed
// only for the first few.
func TestLiveLineDuringARampFitsAnyWidth(t *testing.T) {
	for _, size := range []struct{ rows, cols uint16 }{{24, 80}, {40, 120}} {
		t.Run(fmt.Sprintf("%dx%d", size.cols, size.rows), func(t *testing.T) {
			tty, output := openPTY(t, size.rows, size.cols)
			plan := &diff.Plan{Rollout: &diff.Rollout{}}
			var hosts []string
			for i := 1; i <= 60; i++ {
				h := fmt.Sprintf("web%02d", i)
				hosts = append(hosts, h)
				plan.Hosts = append(plan.Hosts, diff.HostPlan{Host: h})
			}
			var stages [][]string
			for _, r := range [][2]int{{0, 1}, {1, 6}, {6, 20}, {20, 60}} {
				stages = append(stages, hosts[r[0]:r[1]])
				plan.Rollout.Stages = append(plan.Rollout.Stages, diff.Stage{Name: "batch", Hosts: hosts[r[0]:r[1]]})
			}
			motd, broken := map[string]bool{}, map[string]bool{"web03": true}
			for _, h := range hosts[20:32] {
				motd[h] = true
			}
			clock := &fakeClock{t: time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)}
			cmd := &cobra.Command{}
			cmd.SetErr(tty)
			progress := progressForAt(cmd, plan, clock.now, nil)
			rampDeploy(progress, clock, stages, 32, motd, broken, func() {})
			progress.Close()
			out := string(output())

			var status []string
			for _, seg := range strings.FieldsFunc(out, func(r rune) bool { return r == '\r' || r == '\n' }) {
				seg = strings.TrimPrefix(seg, "\x1b[2K")
				if n := len([]rune(seg)); n >= int(size.cols) {
					t.Errorf("a line of %d cells in a %d-column terminal wraps: %q", n, size.cols, seg)
				}
				if seg != "" && !strings.HasPrefix(seg, "web") && !strings.HasPrefix(seg, "(") {
					status = append(status, seg)
				}
			}
			for _, line := range status {
				if !elapsedFirst.MatchString(line) {
					t.Errorf("status line does not start with the elapsed time: %q", line)
				}
			}
			all := strings.Join(status, "\n")
			for _, want := range []string{"stage 2/4", "stage 4/4", "queued 8", "failed 12"} {
				if !strings.Contains(all, want) {
					t.Errorf("no status line says %q:\n%s", want, all)
				}
			}
			if size.cols >= 120 && !strings.Contains(all, "| web32  failed: nothing was changed on the ho") {
				t.Errorf("the status line does not show the newest failure:\n%s", all)
			}
			if got := strings.Count(out, "  failed: nothing was changed on the host: app motd: symlink /etc/motd"); got != 3 {
				t.Errorf("%d failure lines for the motd reason, want the first 3:\n%s", got, out)
			}
			if !strings.Contains(out, "web03  rolled back: unit nginx.service failed") {
				t.Errorf("the rolled-back host's line lacks its reason:\n%s", out)
			}
			if n := strings.Count(out, "\n"); n != 5 {
				t.Errorf("%d lines went to the scrollback, want 5 (3 of the motd failure, a note, the rollback):\n%s", n, out)
			}
		})
	}
}

var elapsedFirst = regexp.MustCompile(`^[0-9.]+(ms|s|m[0-9.]*s)  `)

// A unit that prints escape sequences and fails cannot set the title,
// clear the screen or colour a fake line through the live display or the
// summary: on the terminal they arrive as visible text.
func TestHostOutputReachesTheTerminalEscaped(t *testing.T) {
	tty, output := openPTY(t, 24, 80)
	plan := &diff.Plan{}
	var hosts []string
	for i := 1; i <= 30; i++ {
		h := fmt.Sprintf("web%02d", i)
		hosts = append(hosts, h)
		plan.Hosts = append(plan.Hosts, diff.HostPlan{Host: h})
	}
	evil := "\033]0;TITLE\007\033[2J\033[31mFAKE: all hosts deployed"
	clock := &fakeClock{t: time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)}
	cmd := &cobra.Command{}
	cmd.SetErr(tty)
	progress := progressForAt(cmd, plan, clock.now, nil)
	res := &deploy.Result{}
	for _, h := range hosts {
		progress.Phase(h, deploy.Applying, "")
		r := deploy.HostResult{Host: h, Outcome: deploy.Deployed}
		if h == "web07" {
			r = deploy.HostResult{Host: h, Outcome: deploy.RolledBack, Error: evil,
				Units: []deploy.UnitReport{{Unit: "x.service", Failed: true, Reason: evil, Journal: []string{evil}}}}
		}
		progress.Done(r)
		res.Hosts = append(res.Hosts, r)
	}
	progress.Close()
	ui.PrintSummary(tty, res)
	out := string(output())
	for _, raw := range []string{"\x1b]", "\x07", "\x1b[2J", "\x1b[31m"} {
		if strings.Contains(out, raw) {
			t.Errorf("raw %q reached the terminal:\n%q", raw, out)
		}
	}
	if got := strings.Count(out, `\x1b]0;TITLE\x07\x1b[2J\x1b[31mFAKE`); got < 4 {
		t.Errorf("%d escaped copies on the terminal, want the live line's and the summary's:\n%s", got, out)
	}
}
