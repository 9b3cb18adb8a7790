package agent

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
)

func TestJournalRequestNewestFirstWithLimit(t *testing.T) {
	h := newTestHost(t)
	var commits []store.ID
	for i := 1; i <= 3; i++ {
		d := h.deploy(apps{"app": files{"v.conf": fmt.Sprint(i)}}).mustSucceed(t)
		commits = append(commits, d.commit)
	}
	ctx := context.Background()
	r := h.start(h.opts)

	// Before hello it is refused, and the session goes on.
	_, err := r.client.Journal(ctx, 0)
	wantAgentError(t, err, wire.CodeBadRequest)
	r.hello(t)

	all, err := r.client.Journal(ctx, 0)
	if err != nil {
		t.Fatalf("journal: %v", err)
	}
	if len(all) != 3 {
		t.Fatalf("journal has %d entries, want 3", len(all))
	}
	for i, e := range all {
		if want := commits[2-i]; e.To != want || e.Outcome != wire.Deployed || e.Operator != operator {
			t.Errorf("entry %d: to %s outcome %s operator %q, want to %s deployed by %s", i, e.To, e.Outcome, e.Operator, want, operator)
		}
		if i > 0 && !e.Time.Before(all[i-1].Time) {
			t.Errorf("entry %d at %v is not older than entry %d at %v", i, e.Time, i-1, all[i-1].Time)
		}
	}
	two, err := r.client.Journal(ctx, 2)
	if err != nil {
		t.Fatalf("journal: %v", err)
	}
	if len(two) != 2 || two[0].To != commits[2] || two[1].To != commits[1] {
		t.Errorf("journal limit 2 = %+v, want the two newest", two)
	}
	// The lock was never needed, and the session is still usable.
	if err := r.client.Bye(ctx); err != nil {
		t.Fatalf("bye: %v", err)
	}
}

func TestJournalRequestOnFreshHost(t *testing.T) {
	h := newTestHost(t)
	r := h.start(h.opts)
	r.hello(t)
	got, err := r.client.Journal(context.Background(), 5)
	if err != nil || len(got) != 0 {
		t.Fatalf("journal of a fresh host = %v, %v; want none", got, err)
	}
}

func TestApplyRequestKeepOverridesAgentDefault(t *testing.T) {
	h := newTestHost(t)
	h.keep = 1 // the agent's own default stays 5
	var trees []string
	var last deployment
	for i := 1; i <= 4; i++ {
		fs := files{"v.conf": strings.Repeat(fmt.Sprint(i), 100)}
		trees = append(trees, h.appTree(fs))
		last = h.deploy(apps{"app": fs}).mustSucceed(t)
	}
	if got := h.entries(appsDir + "/app"); !sameSet(got, []string{"current", "previous", trees[2], trees[3]}) {
		t.Errorf("keep 1 in the request: app holds %v", got)
	}
	if last.result.Freed < 100 {
		t.Errorf("freed %d bytes, want at least the 100 of the checkout removed", last.result.Freed)
	}
}

func TestGCRemovesOldAgentBinaries(t *testing.T) {
	h := newTestHost(t)
	binDir := stateDir + "/bin"
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	names := []string{"deptool-1-running", "deptool-1-old", "deptool-1-newer", "deptool-1-newest"}
	for i, name := range names {
		h.write(binDir+"/"+name, strings.Repeat("x", 1000*(i+1)), 0o755)
		mt := base.Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(h.path(binDir+"/"+name), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	// An upload in progress is left alone.
	h.write(binDir+"/.upload-tmp", "partial", 0o600)
	opts := h.opts
	opts.executable = func() (string, error) { return h.path(binDir + "/deptool-1-running"), nil }

	d := h.deployWith(opts, apps{"app": files{"v.conf": "1"}}).mustSucceed(t)

	want := []string{".upload-tmp", "deptool-1-running", "deptool-1-newer", "deptool-1-newest"}
	if got := h.entries(binDir); !sameSet(got, want) {
		t.Errorf("bin holds %v, want %v", got, want)
	}
	if d.result.Freed < 2000 {
		t.Errorf("freed %d bytes, want at least the 2000 of the old binary", d.result.Freed)
	}
}
