package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/diff"
	hostlayout "github.com/deptool/deptool/diff/layout"
)

// An error names its host once: the result carries the host, and whoever
// prints it (a line per host, a JSON event with "host") adds it there.
// Neither the operator's wrapping nor the agent's message may name it
// again, whether the host was unreachable, failed its apply, or could not
// be checked.
func TestSeamNoResultNamesItsHostTwice(t *testing.T) {
	t.Parallel()
	hosts := []string{"alpha", "bravo", "charlie", "delta"}
	sm := newSeam(t, hosts...)
	ctx := context.Background()
	sm.deploy(ctx, fleetOf(web("1", unitOK), hosts...), diff.PlanOptions{})

	sm.fleet.Host("bravo").Dial = func(context.Context) error {
		return fmt.Errorf("dial tcp 198.18.0.2:22: connect: no route to host")
	}
	sm.failing("charlie")
	res := sm.deploy(ctx, fleetOf(web("2", unitOK), hosts...), diff.PlanOptions{})
	wantOutcomes(t, res, map[Outcome][]string{Deployed: {"alpha", "delta"}, RollbackFailed: {"charlie"}, Unreachable: {"bravo"}})

	// delta's host store loses its packs: the agent cannot read the
	// commit it runs, and says so.
	packs := filepath.Join(sm.fleet.Host("delta").Root, hostlayout.StoreDir, "objects")
	if err := os.RemoveAll(packs); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(packs, 0o755); err != nil {
		t.Fatal(err)
	}
	checked := Check(ctx, nil, hosts, sm.opts)

	var lines []struct{ host, json string }
	for _, r := range res.Hosts {
		data, _ := json.Marshal(r)
		lines = append(lines, struct{ host, json string }{r.Host, string(data)})
	}
	for _, r := range checked {
		data, _ := json.Marshal(r)
		lines = append(lines, struct{ host, json string }{r.Host, string(data)})
	}
	failures := 0
	for _, l := range lines {
		if n := strings.Count(l.json, l.host); n != 1 {
			t.Errorf("%s is named %d times in %s", l.host, n, l.json)
		}
		if strings.Contains(l.json, `"error"`) {
			failures++
		}
	}
	// bravo and charlie in the deploy; bravo and delta in the check.
	if failures != 4 {
		t.Errorf("%d results with an error, want 4:\n%v", failures, lines)
	}
}
