package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/internal/lab"
)

// deptoolLab runs the CLI in-process and returns its stdout and error.
func deptoolLab(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(""))
	err := root.Execute()
	t.Logf("deptool-lab %s: stderr:\n%s", strings.Join(args, " "), errb.String())
	return out.String(), err
}

func TestHelpHasExamples(t *testing.T) {
	for _, c := range []string{"up", "down", "exec", "cut", "restore", "freeze", "thaw", "stop", "start", "limit-disk", "unlimit-disk"} {
		out, err := deptoolLab(t, c, "--help")
		if err != nil || !strings.Contains(out, "Examples:\n  deptool-lab "+c+" --state") {
			t.Errorf("%s --help: %v\n%s", c, err, out)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"up", "--state", t.TempDir()},
		{"up", "web1"},
		{"down"},
		{"down", "--state", t.TempDir(), "web1"},
		{"exec", "--state", t.TempDir(), "web1", "true"},
		{"cut", "--state", t.TempDir()},
		{"start", "web1"},
		{"limit-disk", "--state", t.TempDir(), "web1", "/var"},
		{"unlimit-disk", "--state", t.TempDir(), "web1"},
	} {
		if _, err := deptoolLab(t, args...); err == nil {
			t.Errorf("deptool-lab %v: no error", args)
		}
	}
}

func TestDownOfAMissingDirIsFine(t *testing.T) {
	if _, err := deptoolLab(t, "down", "--state", filepath.Join(t.TempDir(), "none")); err != nil {
		t.Error(err)
	}
}

func TestUpExecDown(t *testing.T) {
	if err := lab.Preflight(); err != nil {
		if os.Getenv(lab.RequireEnv) == "1" {
			t.Fatalf("lab required but cannot start: %v", err)
		}
		t.Skipf("%v (set %s=1 to make this a failure)", err, lab.RequireEnv)
	}
	dir := filepath.Join(t.TempDir(), "lab")
	if _, err := deptoolLab(t, "up", "--state", dir, "web1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deptoolLab(t, "down", "--state", dir) })
	cfg, err := os.ReadFile(filepath.Join(dir, "ssh_config"))
	if err != nil || !strings.Contains(string(cfg), "Host web1\n") || !strings.Contains(string(cfg), "StrictHostKeyChecking yes") {
		t.Fatalf("ssh_config: %v\n%s", err, cfg)
	}
	out, err := deptoolLab(t, "exec", "--state", dir, "web1", "--", "cat", "/etc/hostname")
	if err != nil || out != "web1\n" {
		t.Errorf("exec cat /etc/hostname = %q, %v", out, err)
	}
	_, err = deptoolLab(t, "exec", "--state", dir, "web1", "--", "sh", "-c", "exit 7")
	var ee exitErr
	if !errors.As(err, &ee) || ee.code != 7 {
		t.Errorf("exec exit 7: err = %v", err)
	}
	_, err = deptoolLab(t, "exec", "--state", dir, "nope", "--", "true")
	if !errors.As(err, &ee) || ee.code != 255 {
		t.Errorf("exec on an unknown host: err = %v, want exit status 255", err)
	}
	for range 2 {
		if _, err := deptoolLab(t, "down", "--state", dir); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after down", dir)
	}
}

// The fault commands act on a lab another process started, as a developer
// uses them from a second terminal.
func TestFaultCommands(t *testing.T) {
	if err := lab.Preflight(); err != nil {
		if os.Getenv(lab.RequireEnv) == "1" {
			t.Fatalf("lab required but cannot start: %v", err)
		}
		t.Skipf("%v (set %s=1 to make this a failure)", err, lab.RequireEnv)
	}
	dir := filepath.Join(t.TempDir(), "lab")
	if _, err := deptoolLab(t, "up", "--state", dir, "f1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deptoolLab(t, "down", "--state", dir) })
	works := func(step string) {
		t.Helper()
		if out, err := deptoolLab(t, "exec", "--state", dir, "f1", "--", "hostname"); err != nil || out != "f1\n" {
			t.Fatalf("after %s: exec hostname = %q, %v", step, out, err)
		}
	}
	fails := func(step string) {
		t.Helper()
		var ee exitErr
		if _, err := deptoolLab(t, "exec", "--state", dir, "f1", "--", "true"); !errors.As(err, &ee) || ee.code != 255 {
			t.Fatalf("after %s: exec = %v, want exit status 255", step, err)
		}
	}
	for _, pair := range [][2]string{{"cut", "restore"}, {"stop", "start"}} {
		if _, err := deptoolLab(t, pair[0], "--state", dir, "f1"); err != nil {
			t.Fatal(err)
		}
		fails(pair[0])
		if _, err := deptoolLab(t, pair[1], "--state", dir, "f1"); err != nil {
			t.Fatal(err)
		}
		works(pair[1])
	}
	if _, err := deptoolLab(t, "freeze", "--state", dir, "f1"); err != nil {
		t.Fatal(err)
	}
	if _, err := deptoolLab(t, "thaw", "--state", dir, "f1"); err != nil {
		t.Fatal(err)
	}
	works("thaw")
	if _, err := deptoolLab(t, "limit-disk", "--state", dir, "f1", "/srv/full", "64k"); err != nil {
		t.Fatal(err)
	}
	if _, err := deptoolLab(t, "exec", "--state", dir, "f1", "--", "dd", "if=/dev/zero", "of=/srv/full/x", "bs=1k", "count=128"); err == nil {
		t.Error("writing 128 KiB under a 64 KiB limit succeeded")
	}
	if _, err := deptoolLab(t, "unlimit-disk", "--state", dir, "f1", "/srv/full"); err != nil {
		t.Fatal(err)
	}
	if _, err := deptoolLab(t, "cut", "--state", dir, "nope"); err == nil || !strings.Contains(err.Error(), "no host nope") {
		t.Errorf("cut of an unknown host: %v", err)
	}
}

// The check: one lab mixes releases, each host runs its release's
// systemd, and the lab's per-host preparation holds on each root.
func TestUpMixedReleases(t *testing.T) {
	if err := lab.Preflight(); err != nil {
		if os.Getenv(lab.RequireEnv) == "1" {
			t.Fatalf("lab required but cannot start: %v", err)
		}
		t.Skipf("%v (set %s=1 to make this a failure)", err, lab.RequireEnv)
	}
	dir := filepath.Join(t.TempDir(), "lab")
	if _, err := deptoolLab(t, "up", "--state", dir, "--release", "trixie", "trx1", "old1@bullseye", "mid1@12"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deptoolLab(t, "down", "--state", dir) })
	for host, want := range map[string]string{"trx1": "systemd 257 ", "old1": "systemd 247 ", "mid1": "systemd 252 "} {
		out, err := deptoolLab(t, "exec", "--state", dir, host, "--", "sh", "-c", "systemctl --version | head -1; hostname; systemctl is-system-running; head -1 /root/.bashrc")
		lines := strings.Split(out, "\n")
		if err != nil || len(lines) < 4 || !strings.HasPrefix(lines[0], want) || lines[1] != host || lines[2] != "running" || lines[3] != "case $- in *i*) ;; *) return;; esac" {
			t.Errorf("%s: %q, %v; want %s, its name, running and the .bashrc guard", host, out, err, want)
		}
	}
	l, err := lab.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Release("old1") + " " + l.Release("trx1") + " " + l.Release("mid1"); got != "bullseye trixie bookworm" {
		t.Errorf("Release() = %s", got)
	}
	if _, err := deptoolLab(t, "up", "--state", dir, "x@sid"); err == nil || !strings.Contains(err.Error(), "unknown release") {
		t.Errorf("up x@sid: %v", err)
	}
}
