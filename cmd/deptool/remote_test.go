package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/deptool/deptool/internal/storetest"
)

// cloneOperator is a second checkout cloned from remote with deptool
// clone, reaching the same (unreachable) hosts as op.
func cloneOperator(t *testing.T, op *operator, remote string) *operator {
	t.Helper()
	root := t.TempDir()
	b := &operator{t: t, bin: op.bin, root: filepath.Join(root, "b")}
	for _, e := range op.env {
		if !strings.HasPrefix(e, "DEPTOOL_STORE=") {
			b.env = append(b.env, e)
		}
	}
	b.env = append(b.env, "DEPTOOL_STORE="+filepath.Join(b.root, ".deptool"))
	cmd := exec.Command(op.bin, "clone", remote, b.root)
	cmd.Env = b.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clone: %v: %s", err, out)
	}
	return b
}

// Two clones of one remote deploy to disjoint hosts at the same time: both
// deploy commits and both outcome notes are on the remote afterwards, main
// holds both, and nothing was rewritten.
func TestTwoClonesDeployAtOnceAndBothLand(t *testing.T) {
	a := unreachableOperator(t)
	remote := filepath.Join(t.TempDir(), "team.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", remote).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	storetest.Fsck(t, remote)
	if out, code := a.run("init", "--remote", remote, "prod"); code != 0 {
		t.Fatalf("init --remote: %s", out)
	}
	if out, code := a.run("deploy", "--yes", "--limit", "advp", "-m", "first"); code != exitHostFailed {
		t.Fatalf("first deploy exited %d:\n%s", code, out)
	}
	b := cloneOperator(t, a, remote)
	b.write(map[string]string{"advp/app/app.conf": "p\n", "advq/app/app.conf": "q\n"})
	if out, code := b.run("log"); code != 0 || !strings.Contains(out, "first") {
		t.Fatalf("log in the clone exited %d:\n%s", code, out)
	}
	var wg sync.WaitGroup
	outs := make([]string, 2)
	for i, o := range []*operator{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(o.bin, "deploy", "--yes", "--limit", []string{"advp", "advq"}[i], "-m", []string{"from a", "from b"}[i])
			cmd.Dir, cmd.Env = o.root, o.env
			out, _ := cmd.CombinedOutput()
			outs[i] = string(out)
		}()
	}
	wg.Wait()
	for _, out := range outs {
		if strings.Contains(out, "not reached") || strings.Contains(out, "kept moving") {
			t.Errorf("a deploy did not push its records:\n%s", out)
		}
	}
	// Whichever pushed second integrated the first; one more exchange
	// brings the other clone level.
	a.run("log")
	b.run("log")
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"--git-dir", remote}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	subjects := git("log", "--format=%s", "main")
	for _, want := range []string{"first", "from a", "from b"} {
		if !strings.Contains(subjects, want) {
			t.Errorf("remote main lacks %q:\n%s\n(deploys said:\n%s\n%s)", want, subjects, outs[0], outs[1])
		}
	}
	if notes := strings.Split(git("notes", "--ref", "deptool", "list"), "\n"); len(notes) != 3 {
		t.Errorf("%d outcome notes on the remote, want 3", len(notes))
	}
	for _, o := range []*operator{a, b} {
		out, _ := o.run("log")
		if !strings.Contains(out, "from a") || !strings.Contains(out, "from b") {
			t.Errorf("log in %s lacks a deploy:\n%s", o.root, out)
		}
	}
}

// With the remote out of reach, planning goes on from the local store,
// with one line saying so.
func TestAnUnreachableRemoteLeavesPlanningOffline(t *testing.T) {
	op := unreachableOperator(t)
	gone := filepath.Join(t.TempDir(), "gone.git")
	if out, err := exec.Command("git", "--git-dir", filepath.Join(op.root, ".deptool"), "config", "deptool.remote", gone).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	out, code := op.run("diff")
	if code != 0 || strings.Count(out, "remote "+gone+" not reached") != 1 || !strings.Contains(out, "advp") {
		t.Errorf("diff with the remote gone exited %d:\n%s", code, out)
	}
	if _, err := os.Stat(gone); err == nil {
		t.Error("the fetch created the remote")
	}
}

// A deploy records the source-of-truth commit its tree came from: the
// HEAD of the Git work tree the cluster directory is in (dirty when it
// has uncommitted changes there), or --source; log shows it, and
// rollback --to takes it.
func TestDeploysRecordTheirSourceCommit(t *testing.T) {
	op := unreachableOperator(t)
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", op.root, "-c", "user.name=t", "-c", "user.email=t@x"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", "prod")
	git("commit", "-qm", "generated")
	head := git("rev-parse", "HEAD")
	if out, code := op.run("deploy", "--yes", "--limit", "advp", "-m", "clean"); code != exitHostFailed {
		t.Fatalf("deploy exited %d:\n%s", code, out)
	}
	op.write(map[string]string{"advp/app/app.conf": "changed\n"})
	if out, code := op.run("deploy", "--yes", "--limit", "advp", "-m", "dirty"); code != exitHostFailed {
		t.Fatalf("deploy exited %d:\n%s", code, out)
	}
	if out, code := op.run("deploy", "--yes", "--limit", "advp", "-m", "from ci", "--source", "0123456789abcdef"); code != exitHostFailed {
		t.Fatalf("deploy exited %d:\n%s", code, out)
	}
	log, _ := op.run("log")
	for _, want := range []string{"Deptool-Source: " + head + "\n", "Deptool-Source: " + head + "-dirty", "Deptool-Source: 0123456789abcdef"} {
		if !strings.Contains(log, want) {
			t.Errorf("log does not show %q:\n%s", want, log)
		}
	}
	out, code := op.run("rollback", "--to", "0123456", "--plan-only")
	if code != 0 {
		t.Errorf("rollback --to a source commit exited %d:\n%s", code, out)
	}
}

// bareRepo makes an empty bare Git repository for a team's remote.
func bareRepo(t *testing.T) string {
	t.Helper()
	remote := filepath.Join(t.TempDir(), "team.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", remote).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	storetest.Fsck(t, remote)
	return remote
}

// A clone takes the default cluster init --remote published, so that
// clone then deploy target the same directory; --cluster overrides it.
func TestACloneTakesTheTeamsDefaultCluster(t *testing.T) {
	a := unreachableOperator(t)
	remote := bareRepo(t)
	if out, code := a.run("init", "--remote", remote, "clusters/eu"); code != 0 {
		t.Fatalf("init --remote: %s", out)
	}
	b := cloneOperator(t, a, remote)
	if got := b.git("config", "deptool.cluster"); got != filepath.Join("clusters", "eu") {
		t.Errorf("the clone's default cluster is %q, want clusters/eu", got)
	}
	if _, err := os.Stat(filepath.Join(b.root, "clusters", "eu")); err != nil {
		t.Errorf("the clone has no cluster directory: %v", err)
	}
	writeFiles(t, filepath.Join(b.root, "clusters", "eu"), map[string]string{"advp/app/app.conf": "p\n"})
	if out, code := b.run("diff"); code != 0 || !strings.Contains(out, "advp") {
		t.Errorf("diff in the clone, with no <dir>, exited %d:\n%s", code, out)
	}
	c := filepath.Join(t.TempDir(), "c")
	cmd := exec.Command(a.bin, "clone", "--cluster", "staging", remote, c)
	cmd.Env = a.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clone --cluster: %v: %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(c, "staging")); err != nil {
		t.Errorf("clone --cluster staging made no staging directory: %v", err)
	}
}

// status ends with one line saying how the store compares with its
// remote: in step after an exchange; offline, what it holds that the
// remote lacks, as of the last exchange. JSON says the same in a remote
// event.
func TestStatusSaysHowTheStoreComparesWithTheRemote(t *testing.T) {
	op := unreachableOperator(t)
	remote := bareRepo(t)
	if out, code := op.run("init", "--remote", remote, "prod"); code != 0 {
		t.Fatalf("init --remote: %s", out)
	}
	out, code := op.run("status")
	if code != 0 || !strings.Contains(out, "remote "+remote+", just now: in step\n") {
		t.Fatalf("status exited %d:\n%s", code, out)
	}
	// The remote goes away; two deploys are recorded here alone.
	if err := os.Rename(remote, remote+".away"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if out, code := op.run("deploy", "--yes", "--limit", "advp"); code != exitHostFailed {
			t.Fatalf("deploy exited %d:\n%s", code, out)
		}
	}
	out, _ = op.run("status")
	if want := "remote " + remote + ", as of the last exchange (not reached now): this store's main is 2 commits ahead, 0 behind\n"; !strings.Contains(out, want) {
		t.Errorf("offline status lacks %q:\n%s", want, out)
	}
	out, _ = op.run("status", "-o", "json")
	if !strings.Contains(out, `"event":"remote"`) || !strings.Contains(out, `"reached":false,"ahead":2,"behind":0,"refs":0`) {
		t.Errorf("offline status JSON lacks the remote event:\n%s", out)
	}
	if err := os.Rename(remote+".away", remote); err != nil {
		t.Fatal(err)
	}
	// Reading sends nothing: the two deploys wait for a command that
	// records (issue 24: status pushed, and took minutes on large files).
	refs := func() string {
		out, err := exec.Command("git", "--git-dir", remote, "for-each-ref").CombinedOutput()
		if err != nil {
			t.Fatalf("for-each-ref: %v: %s", err, out)
		}
		return string(out)
	}
	before := refs()
	for _, args := range [][]string{{"status"}, {"log"}, {"diff"}, {"deploy", "--plan-only"}} {
		op.run(args...)
		if after := refs(); after != before {
			t.Errorf("%v pushed: the remote's refs went from\n%s\nto\n%s", args, before, after)
		}
	}
	if out, _ = op.run("status"); !strings.Contains(out, "remote "+remote+", just now: this store's main is 2 commits ahead, 0 behind") {
		t.Errorf("status with the remote back:\n%s", out)
	}
	op.run("sync")
	if out, _ = op.run("status"); !strings.Contains(out, "just now: in step") {
		t.Errorf("status after a sync:\n%s", out)
	}
}
