package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/internal/storetest"
	"github.com/deptool/deptool/store"
)

// gitRemote makes an empty bare repository as a team's remote and
// returns a function that runs git on it.
func gitRemote(t *testing.T) (string, func(args ...string) string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "team.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", dir).CombinedOutput(); err != nil {
		t.Fatalf("git init --bare: %v: %s", err, out)
	}
	storetest.Fsck(t, dir)
	return dir, func(args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"--git-dir", dir}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
}

// Whoever runs a transaction gets the lock and the team sync with it:
// a second transaction on the store is refused and names the first; a
// pin meanwhile goes on and says it exchanged nothing; the deploy's
// records are on the remote once the transaction ends; and a clone's
// transaction takes them in before it plans, so it plans nothing again.
func TestSeamTransactionLocksAndSyncsForAnyCaller(t *testing.T) {
	sm := newSeam(t, "h01")
	remote, git := gitRemote(t)
	if err := sm.store.SetRemote(remote); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var said bytes.Buffer
	tx, err := Begin(ctx, sm.store, "deptool deploy --yes", Team{Log: &said})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.End()
	_, err = Begin(ctx, sm.store, "deptool sync", Team{})
	if !errors.Is(err, store.ErrBusy) || !strings.Contains(err.Error(), "deptool deploy --yes") {
		t.Errorf("a second transaction while the first runs: %v; want busy, naming the first", err)
	}
	var pinSaid bytes.Buffer
	pin := BeginIfFree(ctx, sm.store, "deptool pin h01", Team{Log: &pinSaid})
	pin.End()
	if !strings.Contains(pinSaid.String(), "not exchanging records with the remote: a deploy from this store is running") {
		t.Errorf("a pin while a deploy runs said %q", pinSaid.String())
	}
	conf := fleetOf(web("1", ""), "h01")
	plan, err := tx.Plan(sm.tree(conf), diff.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tx.Deploy(ctx, plan, "", sm.opts)
	if err != nil || res.Hosts[0].Outcome != Deployed {
		t.Fatalf("deploy: %v %+v", err, res)
	}
	tx.End()
	if got := git("rev-parse", "main"); got != res.Deploy.String() {
		t.Errorf("the remote's main is %s once the transaction ended; want the deploy %s", got, res.Deploy)
	}
	if git("notes", "--ref", "deptool", "list", res.Deploy.String()) == "" {
		t.Error("the deploy's outcomes are not on the remote")
	}
	if said.Len() > 0 {
		t.Errorf("the transaction said %q with the remote in reach", said.String())
	}

	clone, err := store.Init(filepath.Join(t.TempDir(), "clone"))
	if err != nil {
		t.Fatal(err)
	}
	storetest.Fsck(t, clone.Path())
	if err := clone.SetRemote(remote); err != nil {
		t.Fatal(err)
	}
	theirs, err := Begin(ctx, clone, "deptool deploy", Team{})
	if err != nil {
		t.Fatal(err)
	}
	defer theirs.End()
	tree := (&seam{t: t, store: clone}).tree(conf)
	again, err := theirs.Plan(tree, diff.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Empty() {
		t.Errorf("the clone plans %d hosts again that the team deployed", len(again.Hosts))
	}
}

// A check records what a host says of a deploy that never heard back,
// but not while a transaction on the store runs: that one writes the
// records then.
func TestSeamCheckRecordsOnlyOutsideATransaction(t *testing.T) {
	sm := newSeam(t, "h01")
	res := sm.deploy(context.Background(), fleetOf(web("1", ""), "h01"), diff.PlanOptions{})
	empty, _ := json.Marshal(Result{Deploy: res.Deploy})
	if err := sm.store.RecordOutcomes(res.Deploy, empty, "ann@laptop", sm.clock.Now()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tx, err := Begin(ctx, sm.store, "deptool deploy", Team{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range CheckRecording(ctx, sm.store, "deptool check", []string{"h01"}, sm.opts.ConnectOptions) {
		if !r.OK() {
			t.Fatalf("check: %+v", r)
		}
	}
	if got, ok := sm.note(res.Deploy)["h01"]; ok {
		t.Errorf("a check during a transaction recorded %+v", got)
	}
	tx.End()
	CheckRecording(ctx, sm.store, "deptool check", []string{"h01"}, sm.opts.ConnectOptions)
	if got := sm.note(res.Deploy)["h01"]; got.Outcome != Deployed || !strings.Contains(got.Detail, "found on the host by 'deptool check'") {
		t.Errorf("the note after a check outside a transaction: %+v", got)
	}
}
