package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/store"

	"github.com/deptool/deptool/internal/storetest"
)

// ptySession is deptool running on a pseudo-terminal, as an operator
// types at it: Ctrl-C there is the terminal's interrupt, Ctrl-D its end
// of input.
type ptySession struct {
	t    *testing.T
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	out  strings.Builder
	read int // how much of out expect has consumed
	done chan struct{}
}

func startPTY(t *testing.T, dir string, args ...string) *ptySession {
	t.Helper()
	return startPTYEnv(t, dir, []string{"PAGER=cat"}, args...)
}

func startPTYEnv(t *testing.T, dir string, env []string, args ...string) *ptySession {
	t.Helper()
	cmd := exec.Command(deptoolBinary(t), args...)
	cmd.Dir = dir
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PAGER=") && !strings.HasPrefix(kv, "LESS=") {
			base = append(base, kv)
		}
	}
	cmd.Env = append(append(base, env...), "NO_COLOR=1", "TERM=xterm", "DEPTOOL_STORE="+filepath.Join(dir, ".deptool"),
		"DEPTOOL_SSH_CONFIG="+filepath.Join(dir, "no_ssh_config"))
	s := startPty(t, cmd)
	return s
}

// expect waits until the output after what was expected before holds want.
func (s *ptySession) expect(want string) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		rest := s.out.String()[s.read:]
		if i := strings.Index(rest, want); i >= 0 {
			s.read += i + len(want)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		select {
		case <-s.done:
			s.mu.Lock()
			rest = s.out.String()[s.read:]
			s.mu.Unlock()
			if !strings.Contains(rest, want) {
				s.t.Fatalf("deptool ended without printing %q:\n%s", want, s.all())
			}
		case <-time.After(10 * time.Millisecond):
		}
	}
	s.t.Fatalf("no %q within 20s:\n%s", want, s.all())
}

func (s *ptySession) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

func (s *ptySession) send(text string) {
	s.t.Helper()
	if _, err := s.tty.WriteString(text); err != nil {
		s.t.Fatal(err)
	}
}

// exit waits for deptool to end and returns its exit status.
func (s *ptySession) exit() int {
	s.t.Helper()
	err := s.cmd.Wait()
	<-s.done
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return 0
}

// ptyCluster is a store and a cluster dir with one host, never deployed.
func ptyCluster(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	storetest.Fsck(t, filepath.Join(dir, ".deptool"))
	cmd := exec.Command(deptoolBinary(t), "init", "prod")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "DEPTOOL_STORE="+filepath.Join(dir, ".deptool"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	writeFiles(t, filepath.Join(dir, "prod"), map[string]string{"web1/site/index.html": "v1\n"})
	return dir
}

func mainOf(t *testing.T, dir string) store.ID {
	t.Helper()
	s, err := store.Open(filepath.Join(dir, ".deptool"))
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := s.Main()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// The confirmation prompt asks again after an answer it does not know,
// and Ctrl-C or Ctrl-D cancel it: exit 1, nothing committed, no host
// contacted (the host is not even in the ssh config).
func TestPromptOnATerminal(t *testing.T) {
	for _, tc := range []struct{ name, key string }{{"ctrl-c", "\x03"}, {"ctrl-d", "\x04"}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := ptyCluster(t)
			s := startPTY(t, dir, "deploy")
			s.expect("Apply to 1 host in cluster 'prod'? [y/N/d] ")
			s.send("maybe\r")
			s.expect("Answer y to apply, n to cancel, or d to see the diff.")
			s.expect("[y/N/d] ")
			s.send(tc.key)
			if code := s.exit(); code != 1 {
				t.Errorf("exit %d, want 1:\n%s", code, s.all())
			}
			if !strings.Contains(s.all(), "cancelled: nothing was changed") {
				t.Errorf("no word of the cancel:\n%s", s.all())
			}
			if strings.Contains(s.all(), "web1  ") || strings.Contains(s.all(), "Deployed") {
				t.Errorf("a host was contacted:\n%s", s.all())
			}
			if id := mainOf(t, dir); !id.IsZero() {
				t.Errorf("main moved to %s: the cancelled deploy was committed", id)
			}
		})
	}
}

// The rollback picker offers the version before the current one; Enter
// takes it, but Ctrl-D is not Enter: it cancels, as Ctrl-C does, and an
// answer out of range asks again.
func TestRollbackPickerOnATerminal(t *testing.T) {
	for _, tc := range []struct{ name, key string }{{"ctrl-c", "\x03"}, {"ctrl-d", "\x04"}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := ptyCluster(t)
			before := twoDeployedVersions(t, dir)
			s := startPTY(t, dir, "rollback")
			s.expect("Deployed versions, newest first:")
			s.expect("Roll back to which version? [2] ")
			s.send("7\r")
			s.expect("Answer with a number from 1 to 2")
			s.expect("Roll back to which version? [2] ")
			s.send(tc.key)
			if code := s.exit(); code != 1 {
				t.Errorf("exit %d, want 1:\n%s", code, s.all())
			}
			if strings.Contains(s.all(), "Apply to") || !strings.Contains(s.all(), "cancelled: nothing was changed") {
				t.Errorf("the picker went on:\n%s", s.all())
			}
			if id := mainOf(t, dir); id != before {
				t.Errorf("main moved from %s to %s", before, id)
			}
		})
	}
}

// twoDeployedVersions records two deploys of web1 in the store, as if
// both had deployed, and returns main.
func twoDeployedVersions(t *testing.T, dir string) store.ID {
	t.Helper()
	s, err := store.Open(filepath.Join(dir, ".deptool"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"v1\n", "v2\n"} {
		writeFiles(t, filepath.Join(dir, "prod"), map[string]string{"web1/site/index.html": v})
		snap, err := s.Snapshot(filepath.Join(dir, "prod"))
		if err != nil {
			t.Fatal(err)
		}
		id, err := s.Commit(snap.Tree, "deploy "+v, "ann@laptop", time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		note, _ := json.Marshal(deploy.Result{Deploy: id, Hosts: []deploy.HostResult{{Host: "web1", Outcome: deploy.Deployed}}})
		if err := s.RecordOutcomes(id, note, "ann@laptop", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	return mainOf(t, dir)
}

// 'd' at the prompt pages the diff through less, as Git does: a diff that
// fits the screen is printed and less exits at once (LESS=FRX), so the
// prompt comes back without a keypress and the diff stays on the screen.
func TestDiffAtThePromptPagesLikeGit(t *testing.T) {
	if _, err := exec.LookPath("less"); err != nil {
		t.Fatal("less is not installed: apt-get install less")
	}
	dir := ptyCluster(t)
	s := startPTYEnv(t, dir, nil, "deploy")
	s.expect("[y/N/d] ")
	s.send("d\r")
	s.expect("+v1")
	s.expect("[y/N/d] ")
	s.send("n\r")
	if code := s.exit(); code != 1 {
		t.Errorf("exit %d after n, want 1:\n%s", code, s.all())
	}
}

// longCluster is ptyCluster with a file longer than any screen, so the
// diff does not fit and less waits for the reader.
func longCluster(t *testing.T, lines int) string {
	t.Helper()
	dir := ptyCluster(t)
	var b strings.Builder
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	writeFiles(t, filepath.Join(dir, "prod"), map[string]string{"web1/site/long.txt": b.String()})
	return dir
}

// q in less, before the end of the diff, returns to the prompt: the
// reader stopped reading, nothing failed.
func TestQuitThePagerAtThePromptAsksAgain(t *testing.T) {
	if _, err := exec.LookPath("less"); err != nil {
		t.Fatal("less is not installed: apt-get install less")
	}
	dir := longCluster(t, 100_000)
	s := startPTYEnv(t, dir, []string{"PAGER=less"}, "deploy")
	s.expect("[y/N/d] ")
	s.send("d\r")
	s.expect("+line 1")
	s.send("q")
	s.expect("[y/N/d] ")
	s.send("n\r")
	if code := s.exit(); code != 1 {
		t.Errorf("exit %d after n, want 1:\n%s", code, s.all())
	}
	if out := s.all(); strings.Contains(out, "broken pipe") || !strings.Contains(out, "cancelled: nothing was changed") {
		t.Errorf("quitting the pager was not a return to the prompt:\n%s", out)
	}
}

// A pager that is not installed is said once; the diff is printed
// without it and the prompt comes back.
func TestMissingPagerFallsBackToPlainOutput(t *testing.T) {
	dir := ptyCluster(t)
	s := startPTYEnv(t, dir, []string{"PAGER=nonexistent-pager -x"}, "deploy")
	s.expect("[y/N/d] ")
	s.send("d\r")
	s.expect(`no pager "nonexistent-pager -x" (nonexistent-pager is not installed)`)
	s.expect("+v1")
	s.expect("[y/N/d] ")
	s.send("n\r")
	if code := s.exit(); code != 1 || strings.Contains(s.all(), "broken pipe") {
		t.Errorf("exit %d:\n%s", code, s.all())
	}
}

// With stdout redirected, the question still reaches the operator: it is
// asked on the terminal, while the plan goes where stdout goes.
func TestPromptGoesToTheTerminalWhenStdoutDoesNot(t *testing.T) {
	dir := ptyCluster(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(deptoolBinary(t), "deploy")
	cmd.Dir, cmd.Stdout = dir, f
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "PAGER=cat", "DEPTOOL_STORE="+filepath.Join(dir, ".deptool"), "DEPTOOL_SSH_CONFIG="+filepath.Join(dir, "no_ssh_config"))
	s := startPty(t, cmd)
	s.expect("Apply to 1 host in cluster 'prod'? [y/N/d] ")
	s.send("n\r")
	if code := s.exit(); code != 1 {
		t.Errorf("exit %d, want 1:\n%s", code, s.all())
	}
	plan, _ := os.ReadFile(f.Name())
	if !strings.Contains(string(plan), "web1") || strings.Contains(string(plan), "[y/N/d]") {
		t.Errorf("stdout got %q; want the plan without the question", plan)
	}
}

// startPty starts cmd on a new terminal and collects what it prints.
func startPty(t *testing.T, cmd *exec.Cmd) *ptySession {
	t.Helper()
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	s := &ptySession{t: t, cmd: cmd, tty: tty, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); tty.Close() })
	return s
}
