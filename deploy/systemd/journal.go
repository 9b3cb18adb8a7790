package systemd

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// journalTimeout bounds JournalTail: it only adds detail to a report, and
// must not hold up a deploy or a rollback when the journal is slow.
const journalTimeout = 5 * time.Second

// JournalTail returns the unit's last n journal lines since a time (zero:
// any), message text only, for showing the operator why a unit failed.
// Since is when the apply (or its rollback) began: earlier lines belong
// to earlier deploys and bury the one that says why. It never fails: when
// the journal cannot be read, the one line returned says why.
func JournalTail(unit string, n int, since time.Time) []string {
	ctx, cancel := context.WithTimeout(context.Background(), journalTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "journalctl", journalArgs(unit, n, since)...).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
			msg += ": " + strings.TrimSpace(string(ee.Stderr))
		}
		return []string{"(journal of " + unit + " unavailable: " + msg + ")"}
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		// journalctl says so in the output itself when there is nothing.
		if l != "" && l != "-- No entries --" {
			lines = append(lines, l)
		}
	}
	return lines
}

func journalArgs(unit string, n int, since time.Time) []string {
	args := []string{"-u", unit, "-n", strconv.Itoa(n), "--no-pager", "-o", "cat"}
	if !since.IsZero() {
		// Seconds since the epoch, to the microsecond: no time zone to
		// agree on with journalctl.
		args = append(args, "--since", fmt.Sprintf("@%d.%06d", since.Unix(), since.Nanosecond()/1000))
	}
	return args
}
