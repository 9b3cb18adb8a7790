package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/deptool/deptool/deploy/secret"
	"golang.org/x/crypto/ssh"
)

// fakeHost is a host known to the SSH config and known_hosts, with its
// private key kept under root as sshd keeps it; nothing connects to it.
func fakeHost(t *testing.T, root, name, addr string) string {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(root, name, secret.HostKeyFiles[0])
	os.MkdirAll(filepath.Dir(keyFile), 0o700)
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, _ := ssh.NewPublicKey(pub)
	known := filepath.Join(root, "known_hosts")
	f, err := os.OpenFile(known, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(addr + " " + string(ssh.MarshalAuthorizedKey(sp)))
	f.Close()
	return "Host " + name + "\n  HostName " + addr + "\n  UserKnownHostsFile " + known + "\n  StrictHostKeyChecking yes\n\n"
}

func runIn(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetIn(strings.NewReader(stdin))
	err := cmd.Execute()
	return stdout.String(), stderr.String(), err
}

func TestSecretEncryptEditAndValidate(t *testing.T) {
	root := t.TempDir()
	cfg := fakeHost(t, root, "web1", "198.18.1.2") + fakeHost(t, root, "web2", "198.18.2.2")
	cfgFile := filepath.Join(root, "ssh_config")
	os.WriteFile(cfgFile, []byte(cfg), 0o600)
	t.Setenv("DEPTOOL_SSH_CONFIG", cfgFile)
	dir := newCluster(t, map[string]string{"web2/db/db.conf": "x"})

	team, _ := age.GenerateX25519Identity()
	idFile := filepath.Join(root, "ann.key")
	os.WriteFile(idFile, []byte(team.String()+"\n"), 0o600)
	os.WriteFile(filepath.Join(filepath.Dir(os.Getenv("DEPTOOL_STORE")), secret.RecipientsFile), []byte(team.Recipient().String()+"\n"), 0o644)

	out, _, err := runIn(t, "one", "secret", "encrypt", "web1")
	if err != nil || !strings.HasPrefix(out, "-----BEGIN AGE ENCRYPTED FILE-----") {
		t.Fatalf("encrypt: %v\n%s", err, out)
	}
	file := filepath.Join(dir, "web1/app/db.password.age")
	os.MkdirAll(filepath.Dir(file), 0o755)
	os.WriteFile(file, []byte(out), 0o644)

	t.Setenv("EDITOR", "sed -i s/one/two/")
	if _, stderr, err := runIn(t, "", "secret", "edit", "-i", idFile, "web1", file); err != nil {
		t.Fatalf("edit: %v\n%s", err, stderr)
	}
	ct, _ := os.ReadFile(file)
	hostIDs, err := secret.HostIdentities(filepath.Join(root, "web1"))
	if err != nil {
		t.Fatal(err)
	}
	for who, ids := range map[string][]age.Identity{"web1": hostIDs, "the team": {team}} {
		if got, err := secret.Decrypt(ct, ids...); err != nil || string(got) != "two" {
			t.Errorf("%s decrypts the edited secret to %q, %v", who, got, err)
		}
	}

	plan, _, err := run(t, "deploy", "--plan-only")
	if err != nil || !strings.Contains(plan, "+ db.password (secret)") || strings.Contains(plan, "AGE") {
		t.Errorf("plan: %v\n%s", err, plan)
	}
	// The same file under web2 is web1's secret, and deploy says so.
	os.MkdirAll(filepath.Join(dir, "web2/db"), 0o755)
	os.WriteFile(filepath.Join(dir, "web2/db/stray.age"), ct, 0o644)
	_, _, err = run(t, "deploy", "--plan-only")
	if err == nil || !strings.Contains(err.Error(), "web2/db/stray.age: is encrypted for host web1, not for web2") {
		t.Errorf("a web1 secret under web2: %v", err)
	}
}
