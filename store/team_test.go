package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// The default cluster one clone publishes reaches a store that fetches
// from the remote, relative to that store's own directory.
func TestTheDefaultClusterTravelsThroughTheRemote(t *testing.T) {
	remote := bareRemote(t)
	ctx := context.Background()
	a, b := initStore(t), initStore(t)
	if err := a.SetDefaultCluster(filepath.Join(filepath.Dir(a.path), "clusters", "eu")); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.PublishDefaultCluster(); err != nil || !ok {
		t.Fatalf("publish: %v, %v", ok, err)
	}
	if _, err := a.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := b.SharedCluster(); err != nil || ok {
		t.Fatalf("before a fetch b has a shared cluster: %v, %v", ok, err)
	}
	if _, err := b.Fetch(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	dir, ok, err := b.SharedCluster()
	if err != nil || !ok || dir != filepath.Join("clusters", "eu") {
		t.Fatalf("b's shared cluster: %q, %v, %v; want clusters/eu", dir, ok, err)
	}
	// Publishing the same again makes no new commit: nothing to push.
	if _, err := a.PublishDefaultCluster(); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Unpushed(); err != nil || n != 0 {
		t.Fatalf("republishing the same cluster left %d refs to push (%v)", n, err)
	}
}

// A cluster outside the store's directory names no place in a clone: it
// is not published.
func TestAClusterOutsideTheCheckoutIsNotPublished(t *testing.T) {
	s := initStore(t)
	if err := s.SetDefaultCluster(filepath.Join(t.TempDir(), "elsewhere")); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.PublishDefaultCluster(); err != nil || ok {
		t.Fatalf("published a cluster outside the checkout: %v, %v", ok, err)
	}
	if _, ok, _ := s.SharedCluster(); ok {
		t.Fatal("a shared cluster is recorded")
	}
}

// CompareRemote counts the deploys on main and the host refs and pins
// that one side has and the other lacks, as of the last exchange.
func TestCompareRemoteCountsWhatDiffers(t *testing.T) {
	remote := bareRemote(t)
	ctx := context.Background()
	a, b := initStore(t), initStore(t)
	deployTo(t, a, "web1", t0)
	if _, err := a.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{a, b} {
		if st, err := s.CompareRemote(); err != nil || !st.InStep() {
			t.Fatalf("after a sync: %+v, %v; want in step", st, err)
		}
	}
	// a deploys twice and pins, offline: two commits and two refs ahead.
	deployTo(t, a, "web1", t0.Add(time.Minute))
	deployTo(t, a, "db1", t0.Add(2*time.Minute))
	st, err := a.CompareRemote()
	if err != nil {
		t.Fatal(err)
	}
	if st.Ahead != 2 || st.Behind != 0 || st.Refs != 2 {
		t.Fatalf("a after two offline deploys: %+v; want 2 ahead, 0 behind, 2 refs (web1 moved, db1 new)", st)
	}
	if _, err := a.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	// b deploys too, then only learns of the remote's state through a
	// push refused and a fetch: in step again once integrated.
	deployTo(t, b, "db2", t0.Add(3*time.Minute))
	if st, err := b.CompareRemote(); err != nil || st.Ahead != 1 || st.Behind != 0 || st.Refs != 1 {
		t.Fatalf("b before its sync: %+v, %v; want 1 ahead, 1 ref", st, err)
	}
	if _, err := b.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	if st, err := b.CompareRemote(); err != nil || !st.InStep() {
		t.Fatalf("b after its sync: %+v, %v; want in step", st, err)
	}
}
