package main

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/internal/lab"
)

// A fleet of 40 real hosts: a glob and a group select the right ones (and
// only they are contacted), the plan of 40 identical hosts fits a screen,
// and a rollout in batches of two with --max-fail 2 goes on past two
// broken hosts, deploying every good host up to the third broken one,
// where it stops: the hosts after it are skipped and stay on v1.
func TestFleetSelectionPlansAndFailureBudget(t *testing.T) {
	var hosts []string
	for i := 1; i <= 40; i++ {
		hosts = append(hosts, fmt.Sprintf("fleet%02d", i))
	}
	l := lab.StartFresh(t, hosts...)
	op := newOperator(t, l)
	for _, h := range hosts {
		op.write(svcVersion(h, "v1", false))
	}
	op.write(map[string]string{"groups.json": `{"groups": {"edge": ["fleet0[1-3]", "fleet40"]}}`})

	plan, code := op.stdout("deploy", "--plan-only")
	if code != 0 || strings.Count(plan, "\n") > 20 || !strings.HasPrefix(plan, "fleet01..fleet40 (40 hosts)\n") {
		t.Fatalf("plan for 40 identical hosts exited %d, is %d lines:\n%s", code, strings.Count(plan, "\n"), plan)
	}
	// The selection reaches exactly the hosts it names: ping contacts them.
	for sel, want := range map[string][]string{
		"@edge":       {"fleet01", "fleet02", "fleet03", "fleet40"},
		"fleet1*":     {"fleet10", "fleet11", "fleet12", "fleet13", "fleet14", "fleet15", "fleet16", "fleet17", "fleet18", "fleet19"},
		"fleet3[5-6]": {"fleet35", "fleet36"},
	} {
		out, code := op.stdout("ping", "--count", "1", "--verbose", "--limit", sel)
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				got = append(got, f[0])
			}
		}
		if code != 0 || !slices.Equal(got, want) {
			t.Errorf("ping --limit %s exited %d, reached %v, want %v:\n%s", sel, code, got, want, out)
		}
	}

	if out, code := op.run("deploy", "--yes", "--settle", "0s"); code != 0 || !strings.Contains(out, "Deployed 40 of 40 hosts") {
		t.Fatalf("v1 to 40 hosts exited %d:\n%s", code, out)
	}

	broken := map[string]bool{"fleet05": true, "fleet12": true, "fleet30": true}
	for _, h := range hosts {
		op.write(svcVersion(h, "v2", broken[h]))
	}
	plan, code = op.stdout("deploy", "--plan-only", "--batch", "2", "--max-fail", "2")
	if code != 0 || strings.Count(plan, "\n") > 24 || !strings.Contains(plan, "20 batches of 2: fleet01..fleet40 (40 hosts)") ||
		!strings.Contains(plan, "more than 2 hosts have not deployed (--max-fail 2)") {
		t.Fatalf("staged plan exited %d (%d lines):\n%s", code, strings.Count(plan, "\n"), plan)
	}
	// Its progress goes to a 100x20 terminal: one aggregate line redrawn
	// in place, and nothing else but a line per failed host and, at the
	// end, the exit's reason.
	start := time.Now()
	out, display, code := op.runWithTerminal(20, 100, "deploy", "--yes", "--settle", "0s", "--batch", "2", "--max-fail", "2")
	// The line is redrawn twice a second while nothing happens: the
	// bytes grow with the time the deploy takes on a loaded machine.
	maxBytes := 12_000 + int(time.Since(start).Seconds())*250
	if code != deploy.ExitRolledBack {
		t.Fatalf("v2 with three broken hosts exited %d, want %d:\n%s", code, deploy.ExitRolledBack, out)
	}
	if n := strings.Count(display, "\n"); n != len(broken)+1 || len(display) > maxBytes ||
		!strings.Contains(display, "40/40  deployed 27  rolled back 3  skipped 10  stage 15/20  running 0") ||
		!strings.HasSuffix(display, "\r\x1b[2Kdeptool: some hosts were rolled back: they keep showing their changes in 'deptool diff'\r\n") {
		t.Errorf("display of 40 hosts in 20 rows: %d lines to the scrollback (want %d), %d bytes:\n%q", n, len(broken)+1, len(display), display)
	}
	t.Logf("display: %d bytes; output:\n%s", len(display), out)
	// Batch 15 (fleet29, fleet30) holds the third failure: fleet31 on
	// are skipped.
	for _, want := range []string{
		"Deployed 27 of 40 hosts", "3 rolled back", "10 skipped",
		"fleet31..fleet40 (10 hosts)", "skipped: not attempted: the rollout stopped after batch 15 of 20, with fleet05, fleet12, fleet30 not deployed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	for i, h := range hosts {
		want := "v2"
		if broken[h] || i >= 30 {
			want = "v1"
		}
		if got := runningVersion(t, l, h); got != want {
			t.Errorf("%s runs %s, want %s", h, got, want)
		}
	}
	// The skipped hosts keep their change pending.
	if st, _ := op.stdout("diff", "--stat", "--limit", "fleet3[1-9],fleet40"); !strings.Contains(st, "fleet31..fleet40 (10 hosts): the same changes") {
		t.Errorf("diff --stat of the skipped hosts:\n%s", st)
	}
}

// runWithTerminal runs deptool with its standard error on a pseudo-terminal
// of rows x cols, where the live display goes, and returns standard output,
// what the terminal received and the exit status.
func (op *operator) runWithTerminal(rows, cols uint16, args ...string) (string, string, int) {
	op.t.Helper()
	tty, output := openPTY(op.t, rows, cols)
	cmd := exec.Command(op.bin, args...)
	cmd.Dir, cmd.Env = op.root, append(op.env, "TERM=xterm")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, tty
	err := cmd.Run()
	display := string(output())
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), display, exit.ExitCode()
	}
	if err != nil {
		op.t.Fatalf("deptool %v: %v", args, err)
	}
	return out.String(), display, 0
}
