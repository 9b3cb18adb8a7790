package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
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
			r.Outcome, r.Error = deploy.RolledBack, "host "+h+": rolled back: unit broken.service failed: exited with status 1"
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
	if !strings.Contains(string(out), "[####################] 40/40  deployed 37  rolled back 3  failed 0  running 0  3.2s") {
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
