package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
)

var v2 = apps{"nginx": files{"nginx.conf": "listen 81;\n", "mime.types": "text/html html;\n"}}

// sendFor locks and sends a pack of want against haves, as the operator's
// sendObjects does, and returns the host's reply.
func sendFor(t *testing.T, r *running, h *testHost, base store.ID, want, haves []store.ID) wire.ObjectsReply {
	t.Helper()
	ctx := context.Background()
	reply, err := r.client.SendObjectsFor(ctx, want, func(w io.Writer) error {
		_, err := h.src.WritePack(w, want, haves)
		return err
	})
	if err != nil {
		t.Fatalf("send objects: %v", err)
	}
	return reply
}

func (h *testHost) removePacks() {
	h.t.Helper()
	dir := h.path("/var/lib/deptool/store/objects/pack")
	entries, err := os.ReadDir(dir)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			h.t.Fatal(err)
		}
	}
}

// A host store that lost its packs keeps its refs: a pack made against
// them leaves it short, and the host says so; the whole history then makes
// it whole, and the apply succeeds.
func TestObjectsReportWhatALostPackTook(t *testing.T) {
	h := newTestHost(t)
	first := h.deploy(v1)
	if first.result.Outcome != wire.Deployed {
		t.Fatalf("first deploy: %+v", first.result)
	}
	h.removePacks()
	d := h.plan(v2)
	r := h.start(h.opts)
	defer r.stop()
	hello := r.hello(t)
	ctx := context.Background()
	if err := r.client.Lock(ctx, wire.LockRequest{Base: d.plan.Base, Operator: operator}); err != nil {
		t.Fatal(err)
	}
	want := []store.ID{d.commit, d.plan.Base}
	if reply := sendFor(t, r, h, d.plan.Base, want, []store.ID{hello.Current}); reply.Missing.IsZero() {
		t.Fatal("the host did not notice it lacks the objects of its current commit")
	}
	if reply := sendFor(t, r, h, d.plan.Base, want, nil); !reply.Missing.IsZero() {
		t.Fatalf("after the whole history the host still lacks %s", reply.Missing)
	}
	res, err := r.client.Apply(ctx, wire.ApplyRequest{Commit: d.commit, Deploy: d.deploy, Operator: operator, Plan: d.plan}, wire.ApplyEvents{})
	if err != nil || res.Outcome != wire.Deployed {
		t.Fatalf("apply after repair: %v %+v", err, res)
	}
	if got := h.read("/var/lib/deptool/apps/nginx/current/mime.types"); got != "text/html html;\n" {
		t.Errorf("mime.types = %q", got)
	}
}

// A host whose store was deleted still runs what its journal says: hello
// reports that, so the operator's plan is not stale, and the store is
// rebuilt from the operator's pack, refs and all.
func TestADeletedHostStoreIsRebuiltFromTheJournal(t *testing.T) {
	h := newTestHost(t)
	first := h.deploy(v1)
	if err := os.RemoveAll(h.path("/var/lib/deptool/store")); err != nil {
		t.Fatal(err)
	}
	if r := h.refs(); r.current != first.commit || !r.fromJournal {
		t.Fatalf("refs of a host without a store = %+v, want %s from the journal", r, first.commit)
	}
	d := h.plan(v2)
	r := h.start(h.opts)
	defer r.stop()
	hello := r.hello(t)
	if hello.Current != first.commit {
		t.Fatalf("hello says current %s, want %s", hello.Current, first.commit)
	}
	ctx := context.Background()
	if err := r.client.Lock(ctx, wire.LockRequest{Base: d.plan.Base, Operator: operator}); err != nil {
		t.Fatalf("lock: %v", err)
	}
	want := []store.ID{d.commit, d.plan.Base}
	if reply := sendFor(t, r, h, d.plan.Base, want, []store.ID{first.commit}); reply.Missing.IsZero() {
		t.Fatal("the rebuilt store did not say it lacks the current commit")
	}
	if reply := sendFor(t, r, h, d.plan.Base, want, nil); !reply.Missing.IsZero() {
		t.Fatalf("still lacks %s", reply.Missing)
	}
	if got := h.refs(); got.fromJournal || got.current != first.commit {
		t.Errorf("refs after the rebuild = %+v, want current %s in the store", got, first.commit)
	}
	res, err := r.client.Apply(ctx, wire.ApplyRequest{Commit: d.commit, Deploy: d.deploy, Operator: operator, Plan: d.plan}, wire.ApplyEvents{})
	if err != nil || res.Outcome != wire.Deployed {
		t.Fatalf("apply after the rebuild: %v %+v", err, res)
	}
}

// What an interrupted pack write leaves (a temp pack, an index without
// its pack) is removed before the next pack is stored.
func TestUnfinishedPacksAreRemoved(t *testing.T) {
	h := newTestHost(t)
	h.deploy(v1)
	dir := h.path("/var/lib/deptool/store/objects/pack")
	h.write("/var/lib/deptool/store/objects/pack/tmp_pack_123456", strings.Repeat("x", 4096), 0o644)
	h.write("/var/lib/deptool/store/objects/pack/pack-"+strings.Repeat("a", 40)+".idx", "half", 0o644)
	if d := h.deploy(v2); d.result.Outcome != wire.Deployed {
		t.Fatalf("deploy: %+v", d.result)
	}
	for _, name := range []string{"tmp_pack_123456", "pack-" + strings.Repeat("a", 40) + ".idx"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", name, err)
		}
	}
}

// A journal whose last line was cut short (a crash, a full disk) still
// reads, leaving that line out with a warning; the next line starts on a
// line of its own.
func TestAJournalCutShortStillReads(t *testing.T) {
	h := newTestHost(t)
	h.deploy(v1)
	path := h.path("/var/lib/deptool/journal.jsonl")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := data[:len(data)-20]
	if err := os.WriteFile(path, cut, 0o600); err != nil {
		t.Fatal(err)
	}
	r := h.start(h.opts)
	r.hello(t)
	reply, err := r.client.JournalReply(context.Background(), 0)
	if err != nil {
		t.Fatalf("journal of a cut file: %v", err)
	}
	if len(reply.Entries) != 0 || len(reply.Warnings) != 1 || !strings.Contains(reply.Warnings[0], "line 1") || !strings.Contains(reply.Warnings[0], path) {
		t.Errorf("journal reply = %+v, want no entries and one warning naming line 1 of %s", reply, path)
	}
	r.client.Bye(context.Background())
	r.stop()
	second := h.deploy(v2)
	data, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 2 || lines[0] != string(cut) {
		t.Fatalf("journal lines = %q, want the cut line and a new one", lines)
	}
	got := h.journal()
	if len(got) != 1 || got[0].To != second.commit {
		t.Errorf("journal = %+v, want the second deploy only", got)
	}
}

// Every deploy adds a pack to the host store; gc folds them into one past
// repackAt, and the host's history stays whole.
func TestGCRepacksTheHostStore(t *testing.T) {
	h := newTestHost(t)
	var last deployment
	for i := range repackAt + 2 {
		last = h.deploy(apps{"nginx": files{"nginx.conf": fmt.Sprintf("listen %d;\n", 8000+i)}})
		if last.result.Outcome != wire.Deployed {
			t.Fatalf("deploy %d: %+v", i, last.result)
		}
	}
	hs := hostStore{l: layout{root: h.root}}
	st, err := hs.open(false)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.Packs(); n > repackAt {
		t.Errorf("%d packs after %d deploys, want at most %d", n, repackAt+2, repackAt)
	}
	if missing, ok, err := st.Missing(last.commit); ok || err != nil {
		t.Errorf("the host store lost %s (%v)", missing, err)
	}
	// The whole history is still there to fetch.
	var buf bytes.Buffer
	if _, err := st.WritePack(&buf, []store.ID{last.commit}, nil); err != nil {
		t.Errorf("write a pack of the whole history: %v", err)
	}
}
