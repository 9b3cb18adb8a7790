package main

import (
	"fmt"
	"strings"
	"testing"
)

// --shard I/N plans each host of the selection in exactly one of the N
// shares, on every command that selects hosts offline.
func TestShardSplitsThePlanAndStatus(t *testing.T) {
	files := map[string]string{}
	for i := range 12 {
		files[fmt.Sprintf("web%02d/a/f", i)] = "1"
	}
	newCluster(t, files)
	for _, args := range [][]string{{"deploy", "--plan-only"}, {"diff", "--stat"}, {"status"}} {
		seen := map[string]int{}
		for i := 1; i <= 3; i++ {
			out, _, err := run(t, append(args, "--shard", fmt.Sprintf("%d/3", i))...)
			if err != nil {
				t.Fatalf("%s --shard %d/3: %v", args, i, err)
			}
			for h := range 12 {
				name := fmt.Sprintf("web%02d", h)
				if strings.Contains(out, name) {
					seen[name]++
				}
			}
		}
		for h := range 12 {
			if name := fmt.Sprintf("web%02d", h); seen[name] != 1 {
				t.Errorf("%s: %s is in %d of the 3 shards' output", args, name, seen[name])
			}
		}
	}
}

func TestShardIsCheckedBeforeAnythingElse(t *testing.T) {
	newCluster(t, map[string]string{"web1/a/f": "1"})
	for _, args := range [][]string{{"deploy", "--plan-only"}, {"diff"}, {"status"}, {"check"}, {"ping"}, {"sync"}} {
		for _, bad := range []string{"0/4", "5/4", "2", "x/y"} {
			_, _, err := run(t, append(args, "--shard", bad)...)
			want := fmt.Sprintf("--shard %q: want I/N", bad)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s --shard %s: err %v, want %q", args, bad, err, want)
			}
		}
	}
}
