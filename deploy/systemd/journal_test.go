package systemd

import (
	"slices"
	"testing"
	"time"
)

// The journal is read from when the apply began, to the microsecond, in
// seconds since the epoch so no time zone stands between deptool and
// journalctl; with no start, all of it.
func TestJournalArgsStartAtTheApply(t *testing.T) {
	since := time.Date(2026, 12, 7, 20, 13, 24, 123456789, time.FixedZone("X", 3600))
	got := journalArgs("nginx.service", 20, since)
	want := []string{"-u", "nginx.service", "-n", "20", "--no-pager", "-o", "cat", "--since", "@1796670804.123456"}
	if !slices.Equal(got, want) {
		t.Errorf("args %q, want %q", got, want)
	}
	if got := journalArgs("a.service", 5, time.Time{}); slices.Contains(got, "--since") {
		t.Errorf("args without a start %q", got)
	}
}
