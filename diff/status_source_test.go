package diff

import (
	"bytes"
	"strings"
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
	var b bytes.Buffer
	if err := RenderStatus(&b, hosts, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "source 3f9c2e1d4b5a-dirty; up to date") {
		t.Fatalf("status does not name the source:\n%s", b.String())
	}
}
