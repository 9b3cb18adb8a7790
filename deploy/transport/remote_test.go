package transport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A Git remote resolves through the same ssh_config as hosts: its address,
// user and known_hosts come from the alias's block; a URL's user wins.
func TestDialRemoteResolvesTheAliasLikeAHost(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	writeKey(t, key, "")
	conf := filepath.Join(dir, "ssh_config")
	body := "Host gitbox\n  HostName 198.18.9.9\n  Port 2222\n  User git\n  IdentityFile " + key + "\n  IdentitiesOnly yes\n" +
		"Host jumped\n  HostName 198.18.9.10\n  ProxyJump gitbox\n  IdentityFile " + key + "\n"
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := Options{ConfigFile: conf, NoAgent: true}
	r, err := DialRemote("gitbox", "", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Addr != "198.18.9.9:2222" || r.Config.User != "git" || r.Config.HostKeyCallback == nil {
		t.Errorf("resolved %s as user %q (host key check set: %v); want 198.18.9.9:2222 as git", r.Addr, r.Config.User, r.Config.HostKeyCallback != nil)
	}
	if r, err := DialRemote("gitbox", "alice", opts); err != nil || r.Config.User != "alice" {
		t.Errorf("the URL's user: %v, %v; want alice", r, err)
	}
	_, err = DialRemote("jumped", "", opts)
	if err == nil || !strings.Contains(err.Error(), "remote jumped") || !strings.Contains(err.Error(), "ProxyJump") {
		t.Errorf("a remote behind ProxyJump: %v; want a refusal naming it and ProxyJump", err)
	}
}
