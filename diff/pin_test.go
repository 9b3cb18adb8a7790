package diff

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPinnedHostsAreLeftOutOfPlans(t *testing.T) {
	s := newStore(t)
	tree := buildTree(t, s, map[string]string{"web1/a/f": "1", "web2/a/f": "2", "web2/b/g": "3"})
	at, err := s.Commit(tree, "d", "op@x", time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Pin("web2", at); err != nil {
		t.Fatal(err)
	}
	plan, err := MakePlan(s, tree, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Hosts) != 1 || plan.Hosts[0].Host != "web1" {
		t.Errorf("plan hosts = %v, want only web1", plan.Hosts)
	}
	if want := []PinnedHost{{Host: "web2", At: at, AppsDiffer: 2}}; !cmp.Equal(plan.Pinned, want) {
		t.Errorf("plan.Pinned = %+v, want %+v", plan.Pinned, want)
	}
}
