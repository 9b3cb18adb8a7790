package store

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

// What a host itself said it runs is recorded beside its ref, locally:
// a push never carries it, so nothing on the team remote can claim it.
func TestSeenOnHostIsLocal(t *testing.T) {
	s := initStore(t)
	d := deployTo(t, s, "web1", t0)
	id, ok, err := s.HostRef("web1")
	if err != nil || !ok {
		t.Fatalf("host ref after deployTo: %v %v", ok, err)
	}
	if _, ok, _ := s.SeenOnHost("web1"); ok {
		t.Errorf("a deploy's own ref is not something the host said")
	}
	if err := s.SetHostRefFromHost("web1", id); err != nil {
		t.Fatal(err)
	}
	if seen, ok, err := s.SeenOnHost("web1"); err != nil || !ok || seen != id {
		t.Errorf("SeenOnHost = %v %v %v, want %v", seen, ok, err, id)
	}
	if err := s.SetHostRefFromHost("../heads/main", d); err == nil {
		t.Errorf("a hostile host name was taken")
	}
	remote := bareRemote(t)
	if _, err := s.Sync(context.Background(), remote, nil); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "--git-dir", remote, "for-each-ref", "--format=%(refname)").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if strings.Contains(string(out), "seen") || !strings.Contains(string(out), "refs/remotes/web1") {
		t.Errorf("the remote holds:\n%s", out)
	}
}
