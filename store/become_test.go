package store

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestBecomeRulesFromGitConfig(t *testing.T) {
	s, err := testInit(t, filepath.Join(t.TempDir(), ".deptool"))
	if err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("git", append([]string{"--git-dir", s.Path(), "config"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git config %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	become, err := s.BecomeRules()
	if err != nil || become("web1") != "" {
		t.Fatalf("no config: %q, %v; want the default", become("web1"), err)
	}
	git("deptool.become", "doas")
	git("deptool.db1.become", "sudo")
	git("deptool.db*.become", "run0")
	become, err = s.BecomeRules()
	if err != nil {
		t.Fatal(err)
	}
	// The first matching section wins, as in ssh_config.
	for host, want := range map[string]string{"web1": "doas", "db1": "sudo", "db2": "run0"} {
		if got := become(host); got != want {
			t.Errorf("become(%s) = %q, want %q", host, got, want)
		}
	}
	git("deptool.web*.become", "su")
	if _, err := s.BecomeRules(); err == nil || err.Error() != `store: deptool.web*.become = "su": want sudo, doas or run0` {
		t.Errorf("bad method: %v", err)
	}
}
