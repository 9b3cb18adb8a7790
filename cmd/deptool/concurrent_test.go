package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// unreachableOperator is a checkout whose hosts advp and advq refuse every
// connection (127.0.0.1 port 1): deploys to them commit, contact nobody
// and record an outcome, quickly.
func unreachableOperator(t *testing.T) *operator {
	t.Helper()
	root := t.TempDir()
	sshConfig := filepath.Join(root, "ssh_config")
	conf := "Host advp advq\n  HostName 127.0.0.1\n  Port 1\n  User root\n  UserKnownHostsFile " + filepath.Join(root, "known_hosts") + "\n"
	if err := os.WriteFile(sshConfig, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	op := &operator{t: t, bin: deptoolBinary(t), root: root,
		env: append(os.Environ(), "DEPTOOL_SSH_CONFIG="+sshConfig, "NO_COLOR=1", "DEPTOOL_STORE="+filepath.Join(root, ".deptool"))}
	if out, code := op.run("init", "prod"); code != 0 {
		t.Fatalf("init: %s", out)
	}
	op.write(map[string]string{
		"advp/app/app.conf": "p\n",
		"advq/app/app.conf": "q\n",
	})
	return op
}

func (op *operator) git(args ...string) string {
	op.t.Helper()
	out, err := exec.Command("git", append([]string{"--git-dir", filepath.Join(op.root, ".deptool")}, args...)...).Output()
	if err != nil {
		op.t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

// The reproduction of issue 13's first finding: two shells deploying from
// one store in a loop. Main must keep one root and every deploy commit,
// its length only grow, and every run either deploy (and print its
// summary) or be refused, naming the deploy that runs.
func TestConcurrentDeploysFromOneStoreKeepMain(t *testing.T) {
	op := unreachableOperator(t)
	const runs = 30
	type result struct {
		host string
		out  string
		code int
	}
	results := make(chan result, 2*runs)
	counts := make(chan []int, 2)
	var wg sync.WaitGroup
	for _, host := range []string{"advp", "advq"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var seen []int
			for range runs {
				cmd := exec.Command(op.bin, "deploy", "--yes", "--limit", host)
				cmd.Dir, cmd.Env = op.root, op.env
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				err := cmd.Run()
				code := 0
				var exit *exec.ExitError
				if errors.As(err, &exit) {
					code = exit.ExitCode()
				} else if err != nil {
					results <- result{host, err.Error(), -1}
					return
				}
				results <- result{host, out.String(), code}
				n, err := exec.Command("git", "--git-dir", filepath.Join(op.root, ".deptool"), "rev-list", "--ignore-missing", "--count", "main").Output()
				if err != nil {
					var stderr []byte
					if exit, ok := err.(*exec.ExitError); ok {
						stderr = exit.Stderr
					}
					results <- result{host, "rev-list: " + err.Error() + ": " + string(stderr), -1}
					return
				}
				c, _ := strconv.Atoi(strings.TrimSpace(string(n)))
				seen = append(seen, c)
			}
			counts <- seen
		}()
	}
	wg.Wait()
	close(results)
	close(counts)
	deployed, refused := 0, 0
	for r := range results {
		switch {
		case r.code == exitHostFailed && strings.Contains(r.out, r.host) && strings.Contains(r.out, "unreachable"):
			deployed++
		case r.code == exitFailure && strings.Contains(r.out, "another deploy from this store is running") && strings.Contains(r.out, "deploy --yes --limit adv") && strings.Contains(r.out, "pid "):
			refused++
		default:
			t.Errorf("deploy --limit %s: exit %d:\n%s", r.host, r.code, r.out)
		}
	}
	for seen := range counts {
		for i := 1; i < len(seen); i++ {
			if seen[i] < seen[i-1] {
				t.Errorf("rev-list --count main went from %d to %d", seen[i-1], seen[i])
			}
		}
	}
	if got := op.git("rev-list", "--count", "main"); got != strconv.Itoa(deployed) {
		t.Errorf("main has %s commits after %d deploys (%d refused)", got, deployed, refused)
	}
	if roots := strings.Fields(op.git("rev-list", "--max-parents=0", "main")); len(roots) != 1 {
		t.Errorf("main has %d roots", len(roots))
	}
	// Every deploy recorded its outcome: one note per commit of main.
	notes := strings.Split(op.git("notes", "--ref", "deptool", "list"), "\n")
	if len(notes) != deployed {
		t.Errorf("%d outcome notes for %d deploys", len(notes), deployed)
	}
	t.Logf("%d deploys, %d refused as busy", deployed, refused)
}

// When the record fails after hosts were contacted, deploy still prints
// every host's outcome and exits with a code that says hosts were touched.
func TestDeployPrintsTheSummaryWhenRecordingFails(t *testing.T) {
	op := unreachableOperator(t)
	notes := filepath.Join(op.root, ".deptool", "refs", "notes", "deptool")
	t.Cleanup(func() { os.Remove(notes) }) // the damage done on purpose, before git fsck
	if err := os.MkdirAll(filepath.Dir(notes), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notes, []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := op.run("deploy", "--yes", "--limit", "advp")
	if code != exitHostFailed {
		t.Errorf("exit %d, want %d", code, exitHostFailed)
	}
	for _, want := range []string{"advp", "unreachable", "record the outcomes", notes} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "Deployed 0 of 1 hosts") {
		t.Errorf("no summary:\n%s", out)
	}
}
