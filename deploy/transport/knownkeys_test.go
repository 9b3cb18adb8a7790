package transport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// The keys secrets are encrypted to are the ones the host is reached by:
// its HostName and Port from ssh_config, in its UserKnownHostsFile; CA
// lines are not the host's key.
func TestKnownHostKeysFollowTheConfig(t *testing.T) {
	dir := t.TempDir()
	known := filepath.Join(dir, "known_hosts")
	web1, web2, ca := newHostKey(t), newHostKey(t), newHostKey(t)
	lines := knownLine("[198.18.1.2]:2222", web1) + knownLine("198.18.1.2", web2) + "@cert-authority * " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ca))) + "\n"
	if err := os.WriteFile(known, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := writeConfig(t, "Host web1\n  HostName 198.18.1.2\n  Port 2222\n  UserKnownHostsFile "+known+"\n\nHost web2\n  HostName 198.18.1.2\n  UserKnownHostsFile "+known+"\n\nHost db1\n  UserKnownHostsFile "+known+"\n")
	for host, want := range map[string][]ssh.PublicKey{"web1": {web1}, "web2": {web2}, "db1": nil} {
		got, err := KnownHostKeys(host, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || (len(want) == 1 && string(got[0].Marshal()) != string(want[0].Marshal())) {
			t.Errorf("%s: got %d keys, want %v", host, len(got), want)
		}
	}
}
