package diff

import (
	"testing"

	"github.com/deptool/deptool/store"
)

// Status names the source-of-truth commit of each host's deploy, from the
// deploy commit's trailer, in text and JSON fields alike.
func TestStatusNamesTheSourceOfEachHostsDeploy(t *testing.T) {
	s := newStore(t)
	tree := buildFiles(t, s, map[string]file{"web1/app/f": {data: "a\n"}, "web2/app/f": {data: "b\n"}})
	commit, err := s.Commit(tree, "deploy\n\n"+store.SourceTrailer+"3f9c2e1d4b5a69788c7d6e5f4a3b2c1d0e9f8a7b-dirty\n", "alice@laptop", testTime)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := s.ReadTree(tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name != "web1" {
			continue // web2 stays new
		}
		hc, err := s.CommitHost(e.Name, e.ID, commit, "alice@laptop", testTime)
		if err == nil {
			err = s.SetHostRef(e.Name, hc)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	hosts, err := Status(s, tree, nil)
	if err != nil {
		t.Fatal(err)
	}
	if hosts[0].Source != "3f9c2e1d4b5a69788c7d6e5f4a3b2c1d0e9f8a7b-dirty" || hosts[1].Source != "" {
		t.Fatalf("sources: %q, %q; want web1's trailer, none for the new web2", hosts[0].Source, hosts[1].Source)
	}
	if len(hosts[0].Undeployed) > 0 || hosts[0].New || !hosts[1].New {
		t.Errorf("web1 %+v, web2 %+v: want web1 up to date, web2 new", hosts[0], hosts[1])
	}
}

// Issue 24, item 4: a host whose ref names a host commit made for a
// deploy commit this store does not hold (a stale fetch of a host last
// deployed from another store) is one line in status, not an error that
// lists no host.
func TestStatusOfAHostDeployedFromAnotherStoreIsALine(t *testing.T) {
	s := store.OpenMemory()
	tree := buildFiles(t, s, map[string]file{"web1/app/f": {data: "a\n"}, "web2/app/f": {data: "b\n"}, "web3/app/f": {data: "c\n"}})
	entries, err := s.ReadTree(tree)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := store.ID{0xde, 0xad, 0xbe, 0xef} // a deploy commit of another store
	hc, err := s.CommitHost("web1", entries[0].ID, elsewhere, "bob@other", testTime)
	if err == nil {
		err = s.SetHostRef("web1", hc)
	}
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := Status(s, tree, nil)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	if len(hosts) != 3 || hosts[0].Unknown != elsewhere || !hosts[1].New || !hosts[2].New {
		t.Errorf("status: %+v; want web1 deployed from the unknown %s, web2 and web3 new", hosts, elsewhere)
	}
}
