package ui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
)

// FuzzPrintPlan prints plans whose paths, link targets, unit and quadlet
// names and validate arguments come from the fuzzer, on one to five hosts
// alike. A plan on a terminal is read line by line, so whatever a name
// holds it cannot start a line, move the cursor or hide the next one, and
// hosts alike are still shown once.
func FuzzPrintPlan(f *testing.F) {
	f.Add("nginx.conf", "/etc/nginx/nginx.conf", "nginx.service", uint8(1))
	f.Add("a\nweb2\n    update a", " x", "a\x1b[2J.service", uint8(3))
	f.Add("", "\x00", "u\u009b.service", uint8(5))
	f.Fuzz(func(t *testing.T, path, target, unit string, hosts uint8) {
		n := int(hosts%5) + 1
		p := &diff.Plan{Pinned: []diff.PinnedHost{{Host: "db1", At: store.ID{1}, AppsDiffer: n}}}
		for i := 1; i <= n; i++ {
			p.Hosts = append(p.Hosts, diff.HostPlan{Host: fmt.Sprintf("web%d", i), Rollback: true, Apps: []diff.AppPlan{{
				App: "a", Action: diff.Update,
				Files:    []diff.FileChange{{Op: diff.Add, Path: path}, {Op: diff.Update, Path: target, Secret: true}},
				Symlinks: []diff.SymlinkStep{{Op: diff.Link, Path: target, Target: path}, {Op: diff.Unlink, Path: path}},
				Validate: [][]string{{path, unit}},
				Quadlets: []diff.LinkStep{{Op: diff.Link, Name: unit}},
				Units:    []diff.UnitStep{{Op: diff.Restart, Unit: unit}, {Op: diff.Reload, Unit: unit, External: true}},
			}}})
		}
		var b strings.Builder
		if err := PrintPlan(&b, p, false); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for i := 0; i < len(out); i++ {
			if c := out[i]; c < 0x20 && c != '\n' || c == 0x7f {
				t.Fatalf("the plan prints the control byte %#x:\n%q", c, out)
			}
		}
		// The body of a host, eight lines under "update a", is printed
		// once whatever the number of hosts, each under the app's line.
		if got := strings.Count(out, "    update a\n"); got != 1 {
			t.Fatalf("%d hosts alike print their plan %d times:\n%s", n, got, out)
		}
		if lines := strings.Count(out, "\n"); lines > 20 {
			t.Fatalf("a plan of %d hosts alike is %d lines:\n%s", n, lines, out)
		}
	})
}
