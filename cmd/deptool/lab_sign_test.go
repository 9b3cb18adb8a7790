package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/internal/lab"
	"golang.org/x/crypto/ssh"
)

// A deploy from a fresh store is signed with the key the operator logs in
// with, stock git verifies it, and a host refuses a deploy signed by a
// key that may not log in there, naming it, with nothing changed.
func TestSignedDeploysAreCheckedByHosts(t *testing.T) {
	l := lab.StartFresh(t, "a1")
	op := newOperator(t, l)
	op.write(map[string]string{"a1/site/index.html": "v1\n"})
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("signed deploy exited %d:\n%s", code, out)
	}

	pub, err := os.ReadFile(filepath.Join(l.StateDir(), "id_ed25519.pub"))
	if err != nil {
		t.Fatal(err)
	}
	allowed := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(allowed, append([]byte("lab "), pub...), 0o644); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(op.root, ".deptool")
	out, err := exec.Command("git", "--git-dir", store, "-c", "gpg.format=ssh", "-c", "gpg.ssh.allowedSignersFile="+allowed,
		"verify-commit", "main").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `Good "git" signature for lab`) {
		t.Errorf("git verify-commit main: %v\n%s", err, out)
	}
	if out, err := exec.Command("git", "--git-dir", store, "fsck", "--strict").CombinedOutput(); err != nil {
		t.Errorf("git fsck --strict: %v\n%s", err, out)
	}
	// a1 checked its entry through the host index the message names, a
	// trailer that git shows after the subject and deptool log not at all.
	msg, _ := exec.Command("git", "--git-dir", store, "log", "-1", "--format=%s%n--%n%b", "main").Output()
	if subject, body, _ := strings.Cut(string(msg), "\n--\n"); !strings.HasPrefix(subject, "deploy to a1") || !strings.Contains(body, "Deptool-Hosts: ") {
		t.Errorf("git log: subject and body:\n%s", msg)
	}
	if log, _ := op.run("log"); !strings.Contains(log, "deploy to a1") || strings.Contains(log, "Deptool-Hosts") {
		t.Errorf("deptool log:\n%s", log)
	}

	// Another key, not in a1's authorized_keys.
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(k, "")
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other")
	if err := os.WriteFile(other, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(k)
	op.write(map[string]string{"a1/site/index.html": "pwned\n"})
	op.env = append(op.env, "DEPTOOL_SIGNING_KEY="+other)
	out2, code := op.run("deploy", "--yes")
	if code == 0 || !strings.Contains(out2, ssh.FingerprintSHA256(signer.PublicKey())) || !strings.Contains(out2, "may not deploy to a1") {
		t.Errorf("deploy signed by a key a1 does not allow exited %d:\n%s", code, out2)
	}
	if got := onHost(t, l, "a1", "cat /var/lib/deptool/apps/site/current/index.html"); got != "v1" {
		t.Errorf("a1 runs %q after a refused deploy", got)
	}
}

// The two forgeries, made with plain git in the operator's store
// (what a push to the team's remote brings in): a forged deploy with a
// merge and a "deployed" note is refused by rollback, and a forged host
// ref is reported by check as the record disagreeing with the host. a1
// keeps running what was really deployed.
func TestForgeriesWithPlainGitAreRefused(t *testing.T) {
	l := lab.StartFresh(t, "a1")
	op := newOperator(t, l)
	op.write(map[string]string{"a1/site/index.html": "v1\n"})
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("deploy v1 exited %d:\n%s", code, out)
	}
	op.write(map[string]string{"a1/site/index.html": "v2\n"})
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("deploy v2 exited %d:\n%s", code, out)
	}
	store := filepath.Join(op.root, ".deptool")
	index := filepath.Join(t.TempDir(), "index")
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"--git-dir", store}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_INDEX_FILE="+index,
			"GIT_AUTHOR_NAME=root", "GIT_AUTHOR_EMAIL=root@vm", "GIT_COMMITTER_NAME=root", "GIT_COMMITTER_EMAIL=root@vm")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	// Forgery 1: X changes a1's site, dated between the two deploys,
	// joined to main by a merge, with a note saying a1 deployed it.
	git("read-tree", "main")
	blob := gitStdin(t, store, "pwned\n", "hash-object", "-w", "--stdin")
	git("update-index", "--add", "--cacheinfo", "100644,"+blob+",a1/site/index.html")
	tree := git("write-tree")
	x := git("commit-tree", tree, "-p", "main~1", "-m", "deploy to a1")
	m := git("commit-tree", git("rev-parse", "main^{tree}"), "-p", "main", "-p", x, "-m", "merge concurrent deploys")
	git("update-ref", "refs/heads/main", m)
	git("notes", "--ref", "deptool", "add", "-m", `{"deploy":"`+x+`","hosts":[{"host":"a1","outcome":"deployed","commit":"`+x+`"}]}`, x)

	out, code := op.run("rollback", "--to", x, "--limit", "a1", "--yes")
	if code == 0 || !strings.Contains(out, "refusing to roll back to "+x[:12]) || !strings.Contains(out, "unsigned") {
		t.Errorf("rollback to a forged deploy exited %d:\n%s", code, out)
	}
	if got := onHost(t, l, "a1", "cat /var/lib/deptool/apps/site/current/index.html"); got != "v2" {
		t.Errorf("a1 runs %q after the forged rollback", got)
	}

	// Forgery 2: refs/remotes/a1 moved to a commit a1 never ran.
	real := git("rev-parse", "refs/remotes/a1")
	git("update-ref", "refs/remotes/a1", git("commit-tree", tree, "-m", "deploy to a1"))
	out, code = op.run("check", "--limit", "a1")
	if code == 0 || !strings.Contains(out, "the record and the host disagree") {
		t.Errorf("check with a forged host ref exited %d:\n%s", code, out)
	}
	if out, code := op.run("sync", "--limit", "a1"); code != 0 {
		t.Fatalf("sync exited %d:\n%s", code, out)
	}
	if got := git("rev-parse", "refs/remotes/a1"); got != real {
		t.Errorf("after sync refs/remotes/a1 = %s, want the host's %s", got, real)
	}
	if out, code := op.run("check", "--limit", "a1"); code != 0 {
		t.Errorf("check after sync exited %d:\n%s", code, out)
	}
}

func gitStdin(t *testing.T, store, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"--git-dir", store}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}
