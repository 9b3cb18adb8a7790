package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deptool/deptool/internal/simfleet"
)

// simShardHosts is the fleet TestFourShardsDeployThroughOneRemote deploys;
// DEPTOOL_SIM_SHARD_HOSTS=10000 is the recorded run (docs/performance.md).
func simShardHosts(t *testing.T) int {
	if v := os.Getenv("DEPTOOL_SIM_SHARD_HOSTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 4 {
			t.Fatalf("DEPTOOL_SIM_SHARD_HOSTS=%q: want a number of hosts, at least 4", v)
		}
		return n
	}
	return 200
}

// After a first deploy of one host, four runners, each a clone of one team store, deploy their --shard i/4
// of a simulated fleet (real SSH, the real agent) at the same time,
// through one bare Git remote. Every host is deployed by exactly one of
// them, and the remote ends with one forward-only history: one root, every
// runner's deploy commit on main with its outcome note, every host's ref,
// and git fsck --strict clean.
func TestFourShardsDeployThroughOneRemote(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	n := simShardHosts(t)
	bin := deptoolBinary(t)
	dir := t.TempDir()
	names := make([]string, n)
	files := map[string]string{}
	for i := range names {
		names[i] = fmt.Sprintf("h%05d", i)
		files[names[i]+"/app/conf"] = fmt.Sprintf("x=%d\n", i)
	}
	fleet, err := simfleet.Start(filepath.Join(dir, "sim"), names)
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	if _, err := fleet.Preinstall(bin); err != nil {
		t.Fatal(err)
	}
	remote := filepath.Join(dir, "team.git")
	git(t, "", "init", "-q", "--bare", remote)
	env := append(os.Environ(), "DEPTOOL_SSH_CONFIG="+fleet.ConfigFile, "NO_COLOR=1")
	deptool := func(wd string, args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		// A new slice each: the runners' appends to env would share its spare room.
		cmd.Dir, cmd.Env = wd, slices.Concat(env, []string{"DEPTOOL_STORE=" + filepath.Join(wd, ".deptool")})
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	first := filepath.Join(dir, "first")
	if err := os.MkdirAll(first, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := deptool(first, "init", "--remote", remote, "prod"); err != nil {
		t.Fatalf("init --remote: %v\n%s", err, out)
	}
	// The team's history starts before the runners split the fleet: four
	// runners that each made the first commit of an empty store would
	// start four histories, joined by merges but with four roots.
	writeFiles(t, filepath.Join(first, "prod"), files)
	if out, err := deptool(first, "deploy", "--yes", "--limit", names[0], "--confirm-timeout", "60s", "--settle", "0s"); err != nil {
		t.Fatalf("first deploy: %v\n%s", err, out)
	}
	runners := make([]string, 4)
	for i := range runners {
		runners[i] = filepath.Join(dir, fmt.Sprintf("runner%d", i+1))
		if out, err := deptool(dir, "clone", remote, runners[i]); err != nil {
			t.Fatalf("clone: %v\n%s", err, out)
		}
		writeFiles(t, filepath.Join(runners[i], "prod"), files)
	}
	start := time.Now()
	outs := make([]string, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = deptool(runners[i], "deploy", "--yes", "--shard", fmt.Sprintf("%d/4", i+1), "--confirm-timeout", "60s", "--settle", "0s")
		}()
	}
	wg.Wait()
	t.Logf("4 runners deployed %d hosts in %s", n, time.Since(start).Round(time.Millisecond))
	for i, err := range errs {
		if err != nil {
			t.Fatalf("runner %d: %v\n%s", i+1, err, lastLines(outs[i], 20))
		}
		t.Logf("runner %d: %s", i+1, lastLines(outs[i], 1))
	}
	// A runner whose push lost the race four rounds running keeps its
	// records; its next exchange sends them.
	for i, r := range runners {
		if strings.Contains(outs[i], "kept moving") {
			t.Logf("runner %d: the remote kept moving; pushing with sync --limit of one host", i+1)
			if out, err := deptool(r, "sync", "--limit", names[0]); err != nil {
				t.Fatalf("runner %d sync: %v\n%s", i+1, err, out)
			}
		}
	}

	roots := strings.Fields(git(t, remote, "rev-list", "--max-parents=0", "main"))
	if len(roots) != 1 {
		t.Errorf("the remote's main has %d roots, want 1: %v", len(roots), roots)
	}
	deployed := map[string]int{}
	for i, r := range append([]string{first}, runners...) {
		// The runner's own deploy: the newest commit on its main's
		// first-parent line that is not a merge (a merge of another
		// runner's records keeps its own main as first parent; by date
		// alone, another runner's later deploy came first).
		mine := strings.TrimSpace(git(t, filepath.Join(r, ".deptool"), "rev-list", "-1", "--first-parent", "--no-merges", "main"))
		if _, err := gitErr(remote, "merge-base", "--is-ancestor", mine, "main"); err != nil {
			t.Errorf("runner %d: its deploy %s is not on the remote's main", i, mine)
			continue
		}
		note, err := gitErr(remote, "notes", "--ref=deptool", "show", mine)
		if err != nil {
			t.Errorf("runner %d: no outcome note for %s on the remote: %v", i, mine, err)
			continue
		}
		var rec struct {
			Hosts []struct{ Host, Outcome string }
		}
		if err := json.Unmarshal([]byte(note), &rec); err != nil {
			t.Fatalf("runner %d: note: %v", i, err)
		}
		for _, h := range rec.Hosts {
			if h.Outcome == "deployed" {
				deployed[h.Host]++
			}
		}
	}
	refs := git(t, remote, "for-each-ref", "--format=%(refname)", "refs/remotes/")
	for _, h := range names {
		if deployed[h] != 1 {
			t.Errorf("%s deployed %d times, want once", h, deployed[h])
		}
		if !strings.Contains(refs, "refs/remotes/"+h+"\n") {
			t.Errorf("%s has no host ref on the remote", h)
		}
	}
	for _, repo := range append([]string{remote}, filepath.Join(runners[0], ".deptool")) {
		if out, err := gitErr(repo, "fsck", "--strict", "--no-progress"); err != nil {
			t.Errorf("git fsck --strict %s: %v\n%s", repo, err, out)
		}
	}
}

func git(t *testing.T, gitDir string, args ...string) string {
	t.Helper()
	out, err := gitErr(gitDir, args...)
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return out
}

func gitErr(gitDir string, args ...string) (string, error) {
	if gitDir != "" {
		args = append([]string{"--git-dir", gitDir}, args...)
	}
	out, err := exec.Command("git", args...).CombinedOutput()
	return string(out), err
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
