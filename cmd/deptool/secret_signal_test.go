package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// secretEditPTY runs `deptool secret edit web1 FILE` on a terminal with
// the editor script given, and returns the session and the secret's path.
func secretEditPTY(t *testing.T, editor string) (*ptySession, string) {
	t.Helper()
	root := t.TempDir()
	cfg := filepath.Join(root, "ssh_config")
	os.WriteFile(cfg, []byte(fakeHost(t, root, "web1", "198.18.1.2")), 0o600)
	script := filepath.Join(root, "editor")
	os.WriteFile(script, []byte("#!/bin/sh\n"+editor), 0o755)
	file := filepath.Join(root, "db.password.age")
	cmd := exec.Command(deptoolBinary(t), "secret", "edit", "web1", file)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "EDITOR="+script, "DEPTOOL_SSH_CONFIG="+cfg, "DEPTOOL_STORE="+filepath.Join(root, ".deptool"), "NO_COLOR=1")
	s := startPty(t, cmd)
	return s, file
}

// exitSoon is exit with a deadline: an edit that a signal does not end
// fails the test instead of hanging it.
func (s *ptySession) exitSoon() int {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		s.t.Fatalf("deptool still runs 20s later:\n%s", s.all())
	}
	return s.exit()
}

var editingLine = regexp.MustCompile(`EDITING (\d+) (\S+)`)

// editing waits for the editor to say it runs, and returns its pid and
// the plaintext's path.
func (s *ptySession) editing() (int, string) {
	s.t.Helper()
	s.expect("EDITING ")
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := editingLine.FindStringSubmatch(s.all()); m != nil && strings.Contains(s.all()[strings.Index(s.all(), m[0]):], "\n") {
			var pid int
			fmt.Sscan(m[1], &pid)
			return pid, m[2]
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("no editor line:\n%s", s.all())
	return 0, ""
}

// secret edit ended by any signal that can be caught removes the
// plaintext, kills the editor, and exits as a process ended by that
// signal does by convention (128+n).
func TestSecretEditRemovesThePlaintextOnEverySignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			s, file := secretEditPTY(t, `echo "EDITING $$ $1"; exec sleep 600`)
			editor, plain := s.editing()
			if _, err := os.Stat(plain); err != nil {
				t.Fatalf("the plaintext is not where the editor was told: %v", err)
			}
			s.cmd.Process.Signal(sig)
			if code := s.exitSoon(); code != 128+int(sig) {
				t.Errorf("exit status %d, want %d:\n%s", code, 128+int(sig), s.all())
			}
			if _, err := os.Stat(filepath.Dir(plain)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the plaintext's directory is still there after %s: %v", sig, err)
			}
			if err := syscall.Kill(editor, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("the editor (pid %d) still runs after %s: %v", editor, sig, err)
			}
			if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("an interrupted edit wrote the secret: %v", err)
			}
		})
	}
}

// Ctrl-C typed at the editor is the editor's (vi uses it): the edit goes
// on and is saved.
func TestSecretEditLeavesCtrlCToTheEditor(t *testing.T) {
	s, file := secretEditPTY(t, `trap 'echo GOT-INT' INT; echo "EDITING $$ $1"; while ! test -e "$1.done"; do sleep 0.05; done; rm "$1.done"; printf two > "$1"`)
	_, plain := s.editing()
	s.send("\x03")
	s.expect("GOT-INT")
	os.WriteFile(plain+".done", nil, 0o600)
	if code := s.exitSoon(); code != 0 {
		t.Fatalf("exit status %d after Ctrl-C in the editor:\n%s", code, s.all())
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("the edit was not saved: %v\n%s", err, s.all())
	}
}

// A run finds the plaintext an edit killed with SIGKILL left, removes it
// and says so; an edit still running is left alone.
func TestSecretEditRemovesWhatAKilledEditLeft(t *testing.T) {
	running, _ := secretEditPTY(t, `echo "EDITING $$ $1"; exec sleep 600`)
	_, livePlain := running.editing()
	s, _ := secretEditPTY(t, `echo "EDITING $$ $1"; exec sleep 600`)
	editor, plain := s.editing()
	s.cmd.Process.Kill()
	s.exit()
	syscall.Kill(editor, syscall.SIGKILL)
	if _, err := os.Stat(plain); err != nil {
		t.Fatalf("SIGKILL left nothing to find (%v): the test proves nothing", err)
	}

	s2, _ := secretEditPTY(t, `echo "EDITING $$ $1"`)
	s2.expect("removed " + filepath.Dir(plain) + ": the plaintext a killed secret edit left")
	s2.exit()
	if _, err := os.Stat(filepath.Dir(plain)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed edit's plaintext is still there: %v", err)
	}
	if _, err := os.Stat(livePlain); err != nil {
		t.Errorf("a running edit's plaintext was removed: %v", err)
	}
	running.cmd.Process.Signal(syscall.SIGTERM)
	running.exit()
}
