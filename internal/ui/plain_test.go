package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy"
)

func fleetNames(n int) []string {
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%04d", i)
	}
	return hosts
}

// A log of a small deploy lists every host as it finishes, as before.
func TestPlainListsEachHostOfASmallFleet(t *testing.T) {
	hosts := fleetNames(plainHosts)
	var b strings.Builder
	p := NewPlain(&b, hosts)
	for _, h := range hosts {
		p.Done(deploy.HostResult{Host: h, Outcome: deploy.Deployed, Elapsed: time.Second})
	}
	if got := strings.Count(b.String(), "\n"); got != plainHosts || !strings.HasPrefix(b.String(), "h0000  deployed (1s)\n") {
		t.Errorf("%d lines, want one per host:\n%s", got, b.String())
	}
}

// Past plainHosts, a log says what went wrong as it happens and how far
// the deploy is, in a few lines whatever the fleet's size; the summary
// after it groups every host.
func TestPlainLogOfALargeFleetStaysShort(t *testing.T) {
	for _, n := range []int{plainHosts + 1, 1000, 10000} {
		hosts := fleetNames(n)
		var b strings.Builder
		p := NewPlain(&b, hosts)
		for i, h := range hosts {
			r := deploy.HostResult{Host: h, Outcome: deploy.Deployed, Elapsed: time.Second}
			if i%7 == 3 {
				r.Outcome, r.Error = deploy.Failed, "app motd: symlink /etc/motd: a regular file is in the way"
			}
			p.Done(r)
		}
		out := b.String()
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) > 3+1+11 {
			t.Errorf("%d hosts: %d lines, want at most 15:\n%s", n, len(lines), out)
		}
		if strings.Contains(out, "deployed (") {
			t.Errorf("%d hosts: a deployed host has a line of its own:\n%s", n, out)
		}
		var hostLines, more []string
		for _, l := range lines {
			switch {
			case strings.HasPrefix(l, "h"):
				hostLines = append(hostLines, l)
			case strings.HasPrefix(l, "(more hosts failed for this reason"):
				more = append(more, l)
			}
		}
		if len(hostLines) != 3 || !strings.HasPrefix(hostLines[0], "h0003  failed: app motd") || len(more) != 1 {
			t.Errorf("%d hosts: want the first 3 failures shown, then said to be counted:\n%s", n, out)
		}
		failed := (n + 3) / 7
		if want := fmt.Sprintf("%d/%d done: deployed %d failed %d", n, n, n-failed, failed); lines[len(lines)-1] != want {
			t.Errorf("%d hosts: last line %q, want %q", n, lines[len(lines)-1], want)
		}
	}
}
