package diff

import (
	"bytes"
	"strings"
	"testing"
	"time"
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
	var out bytes.Buffer
	if err := RenderPlan(&out, plan, false); err != nil {
		t.Fatal(err)
	}
	want := "web2: pinned at " + at.String()[:7] + ", 2 apps differ\n"
	if !strings.HasPrefix(out.String(), want) {
		t.Errorf("plan text:\n%s\nwant it to start with %q", out.String(), want)
	}
}
