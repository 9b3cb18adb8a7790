package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/deptool/deptool/internal/lab"

	"github.com/deptool/deptool/internal/storetest"
)

// Issue 20: two clones of one remote, deploying to real hosts.
func TestTeamClonesShareTheRecord(t *testing.T) {
	l := lab.StartFresh(t, "team1", "team2")
	remote := filepath.Join(t.TempDir(), "team.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", remote).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	storetest.Fsck(t, remote)
	a := newOperator(t, l)
	if out, code := a.run("init", "--remote", remote, "prod"); code != 0 {
		t.Fatalf("init --remote: %s", out)
	}
	tree := func(v string) map[string]string {
		return map[string]string{"team1/app/conf": "team1 " + v + "\n", "team2/app/conf": "team2 " + v + "\n"}
	}
	a.write(tree("v1"))
	if out, code := a.run("deploy", "--yes", "--settle", "0s", "--limit", "team1"); code != 0 {
		t.Fatalf("a's first deploy exited %d:\n%s", code, out)
	}
	b := cloneOperator(t, a, remote)
	b.write(tree("v1"))
	// b sees a's deploy: team1 is up to date, team2 still pending.
	out, code := b.run("diff")
	if code != 0 || strings.Contains(out, "team1") || !strings.Contains(out, "team2") {
		t.Errorf("diff in the clone exited %d (want team2 pending, team1 not):\n%s", code, out)
	}

	t.Run("disjoint hosts at once", func(t *testing.T) {
		a.write(tree("v2"))
		b.write(tree("v2"))
		var wg sync.WaitGroup
		outs, codes := make([]string, 2), make([]int, 2)
		for i, o := range []*operator{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[i], codes[i] = o.runAsync("deploy", "--yes", "--settle", "0s", "--limit", []string{"team1", "team2"}[i])
			}()
		}
		wg.Wait()
		for i := range outs {
			if codes[i] != 0 || strings.Contains(outs[i], "not reached") || strings.Contains(outs[i], "kept moving") {
				t.Errorf("deploy %d exited %d:\n%s", i, codes[i], outs[i])
			}
		}
		for _, o := range []*operator{a, b} {
			if out, code := o.run("diff"); code != 0 || strings.Contains(out, "team") {
				t.Errorf("diff in %s after both deploys exited %d:\n%s", o.root, code, out)
			}
		}
		hosts, err := exec.Command("git", "--git-dir", remote, "for-each-ref", "--format=%(refname)", "refs/remotes/").Output()
		if err != nil || strings.Count(string(hosts), "\n") != 2 {
			t.Errorf("host refs on the remote: %q (%v)", hosts, err)
		}
	})

	t.Run("the same host at once", func(t *testing.T) {
		a.write(tree("v3"))
		b.write(tree("v3"))
		var wg sync.WaitGroup
		outs, codes := make([]string, 2), make([]int, 2)
		for i, o := range []*operator{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[i], codes[i] = o.runAsync("deploy", "--yes", "--settle", "0s", "--limit", "team1")
			}()
		}
		wg.Wait()
		won := 0
		for i := range outs {
			t.Logf("deploy %d exited %d:\n%s", i, codes[i], outs[i])
			if codes[i] == 0 {
				won++
			} else if !strings.Contains(outs[i], "busy") && !strings.Contains(outs[i], "stale") && !strings.Contains(outs[i], "Nothing to deploy") {
				t.Errorf("the losing deploy exited %d for another reason:\n%s", codes[i], outs[i])
			}
		}
		if won < 1 {
			t.Fatalf("no deploy won:\n%s\n%s", outs[0], outs[1])
		}
		for _, o := range []*operator{a, b} {
			if out, code := o.run("deploy", "--yes", "--settle", "0s", "--limit", "team1"); code != 0 || !strings.Contains(out, "Nothing to deploy") {
				t.Errorf("re-run in %s exited %d:\n%s", o.root, code, out)
			}
		}
	})
}

// runAsync is run for use from another goroutine: it reports failures to
// start as output, since only the test's goroutine may stop the test.
func (op *operator) runAsync(args ...string) (string, int) {
	cmd := exec.Command(op.bin, args...)
	cmd.Dir, cmd.Env = op.root, op.env
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); ok {
		return string(out), exit.ExitCode()
	}
	if err != nil {
		return err.Error(), -1
	}
	return string(out), 0
}

// A remote on a lab host over SSH, through deptool's own SSH layer: the
// URL names the host by its alias in DEPTOOL_SSH_CONFIG, which alone says
// where it is, which key logs in (IdentityFile, no agent) and which
// known_hosts checks it (no SSH_KNOWN_HOSTS).
func TestTeamRemoteOverSSH(t *testing.T) {
	l := lab.StartFresh(t, "tgit", "team3")
	onHost(t, l, "tgit", "git init -q --bare /srv/team.git")
	url := "ssh://tgit/srv/team.git"
	a := newOperator(t, l)
	a.env = append(a.env, "SSH_AUTH_SOCK=", "SSH_KNOWN_HOSTS="+filepath.Join(t.TempDir(), "none"))
	if out, code := a.run("init", "--remote", url, "prod"); code != 0 || strings.Contains(out, "not reached") {
		t.Fatalf("init --remote %s exited %d:\n%s", url, code, out)
	}
	a.write(map[string]string{"team3/app/conf": "v1\n"})
	if out, code := a.run("deploy", "--yes", "--settle", "0s"); code != 0 || strings.Contains(out, "not reached") {
		t.Fatalf("deploy exited %d:\n%s", code, out)
	}
	if got := onHost(t, l, "tgit", "git --git-dir /srv/team.git log --format=%s main | wc -l"); got != "1" {
		t.Errorf("the remote's main has %s commits, want 1", got)
	}
	b := cloneOperator(t, a, url)
	b.write(map[string]string{"team3/app/conf": "v1\n"})
	if out, code := b.run("diff"); code != 0 || strings.Contains(out, "team3") {
		t.Errorf("diff in the clone over SSH exited %d:\n%s", code, out)
	}
	// The remote's host key is checked against the config's known_hosts:
	// with an empty one (and StrictHostKeyChecking yes) the clone is
	// refused, and says which host.
	conf, err := os.ReadFile(l.SSHConfig())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	empty := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, line := range strings.Split(string(conf), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "UserKnownHostsFile") {
			line = "  UserKnownHostsFile " + empty
		}
		lines = append(lines, line)
	}
	strict := filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(strict, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	clone := exec.Command(a.bin, "clone", url, filepath.Join(t.TempDir(), "c"))
	clone.Env = append(os.Environ(), "SSH_AUTH_SOCK=", "DEPTOOL_SSH_CONFIG="+strict)
	out, err := clone.CombinedOutput()
	if err == nil {
		t.Errorf("clone with an unknown host key succeeded:\n%s", out)
	} else if !strings.Contains(string(out), "tgit") {
		t.Errorf("the refusal does not name the host:\n%s", out)
	}
}
