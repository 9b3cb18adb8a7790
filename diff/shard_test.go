package diff

import (
	"fmt"
	"strings"
	"testing"

	"github.com/deptool/deptool/store"
)

func TestParseShard(t *testing.T) {
	for in, want := range map[string]Shard{"": {}, "1/1": {1, 1}, "2/4": {2, 4}, "4/4": {4, 4}, " 3 / 8 ": {3, 8}} {
		got, err := ParseShard(in)
		if err != nil || got != want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0/4", "5/4", "1/0", "-1/2", "2", "a/b", "1/2/3", "/4", "1/"} {
		_, err := ParseShard(in)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("shard %q: want I/N", in)) {
			t.Errorf("ParseShard(%q): err %v, want one naming the value and the form", in, err)
		}
	}
}

// The shares of a fleet are disjoint, cover it, are about even, and keep
// each host where it was when hosts are added.
func TestShardsSplitAFleetStably(t *testing.T) {
	var hosts []string
	for i := range 10000 {
		hosts = append(hosts, fmt.Sprintf("web%05d", i))
	}
	const n = 4
	owner := map[string]int{}
	for i := 1; i <= n; i++ {
		share := Shard{i, n}.Of(hosts)
		if len(share) < 2300 || len(share) > 2700 {
			t.Errorf("shard %d/%d has %d of 10000 hosts, want about 2500", i, n, len(share))
		}
		for _, h := range share {
			if o, dup := owner[h]; dup {
				t.Fatalf("%s is in shards %d and %d", h, o, i)
			}
			owner[h] = i
		}
	}
	if len(owner) != len(hosts) {
		t.Fatalf("the shards hold %d of %d hosts", len(owner), len(hosts))
	}
	more := append(hosts[:len(hosts):len(hosts)], "db1", "db2", "zz-new")
	for i := 1; i <= n; i++ {
		for _, h := range (Shard{i, n}).Of(more) {
			if o, old := owner[h]; old && o != i {
				t.Fatalf("%s moved from shard %d to %d when hosts were added", h, o, i)
			}
		}
	}
	if got := (Shard{}).Of(hosts); len(got) != len(hosts) {
		t.Errorf("the zero shard keeps %d of %d hosts", len(got), len(hosts))
	}
}

// A plan with a shard holds the selected hosts of that share only, and
// the shares' plans together hold every host once.
func TestPlanShardKeepsItsShareOfTheSelection(t *testing.T) {
	s := store.OpenMemory()
	files := map[string]string{}
	for i := range 40 {
		files[fmt.Sprintf("web%02d/app/a", i)] = "a\n"
		files[fmt.Sprintf("db%02d/app/a", i)] = "a\n"
	}
	tree := buildTree(t, s, files)
	seen := map[string]int{}
	for i := 1; i <= 3; i++ {
		sh := Shard{i, 3}
		p := mustPlan(t, s, tree, PlanOptions{Limit: []string{"web*"}, Shard: sh})
		for _, h := range p.Hosts {
			if !strings.HasPrefix(h.Host, "web") || !sh.Has(h.Host) {
				t.Errorf("shard %s plans %s", sh, h.Host)
			}
			seen[h.Host]++
		}
	}
	if len(seen) != 40 {
		t.Errorf("the 3 shards plan %d of the 40 web hosts", len(seen))
	}
	for h, n := range seen {
		if n != 1 {
			t.Errorf("%s planned by %d shards", h, n)
		}
	}
}
