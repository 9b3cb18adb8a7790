package ui

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy"
)

// The events of `deptool deploy --output json` are a published format
// (docs/json.md): testdata/deploy-events.v1.jsonl is a deploy's stream
// as the release before typed formats wrote it, for the hosts of
// testdata/deploy-result.json. A renamed or dropped field fails here.
func TestDeployEventsFormat(t *testing.T) {
	golden, err := os.ReadFile("testdata/deploy-events.v1.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/deploy-result.json")
	if err != nil {
		t.Fatal(err)
	}
	var res deploy.Result
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	events := NewEvents(&b)
	events.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	events.Phase("web1", deploy.Applying, "restart")
	for _, h := range res.Hosts {
		events.Done(h)
	}
	if err := events.Summary(&res, deploy.ExitRolledBack); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(golden) {
		t.Errorf("the deploy's JSON events changed format: got\n%s\nwant (testdata/deploy-events.v1.jsonl)\n%s", got, golden)
	}
}
