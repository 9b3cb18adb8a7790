package transport

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// writeKey writes a new ed25519 private key, encrypted when passphrase is
// not empty, and returns its public key.
func writeKey(t *testing.T, path, passphrase string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	k, _ := ssh.NewPublicKey(pub)
	return k
}

// agentRing is an in-memory ssh-agent holding the given keys.
func agentRing(t *testing.T, keys ...ed25519.PrivateKey) *keyring {
	t.Helper()
	a := agent.NewKeyring()
	for _, k := range keys {
		if err := a.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	signers, err := a.Signers()
	if err != nil {
		t.Fatal(err)
	}
	return &keyring{signers: signers}
}

func TestEncryptedKeyWithoutAgentSaysSSHAdd(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	writeKey(t, key, "secret")
	h := &hop{Alias: "web1", User: "root", Identities: []string{key}}
	_, err := loadCredentials(h, &keyring{})
	if err == nil {
		t.Fatal("no error")
	}
	want := "no key to log in as root with: no ssh-agent (SSH_AUTH_SOCK is unset); identity file " +
		key + " is encrypted and not in ssh-agent: add it with: ssh-add " + key
	if err.Error() != want {
		t.Errorf("message:\n got %s\nwant %s", err, want)
	}
}

func TestEncryptedKeyUsedThroughAgent(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	pub := writeKey(t, key, "secret")
	// Load the same key into the agent, as `ssh-add` would.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	raw, err := ssh.ParseRawPrivateKeyWithPassphrase(mustRead(t, key), []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	ring := agentRing(t, *raw.(*ed25519.PrivateKey), other)
	h := &hop{Alias: "web1", User: "root", Identities: []string{key}, IdentitiesOnly: true}
	c, err := loadCredentials(h, ring)
	if err != nil {
		t.Fatal(err)
	}
	// IdentitiesOnly: only the agent key that matches the file.
	if len(c.signers) != 1 || string(c.signers[0].PublicKey().Marshal()) != string(pub.Marshal()) {
		t.Errorf("signers = %d, want just the file's key from the agent", len(c.signers))
	}
}

func TestAgentKeysFirstAndFilesDeduplicated(t *testing.T) {
	dir := t.TempDir()
	inAgent, alone := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeKey(t, alone, "")
	writeKey(t, inAgent, "")
	raw, _ := ssh.ParseRawPrivateKey(mustRead(t, inAgent))
	ring := agentRing(t, *raw.(*ed25519.PrivateKey))
	h := &hop{Alias: "web1", User: "root", Identities: []string{inAgent, alone}}
	c, err := loadCredentials(h, ring)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.tried, ", "); got != "agent keys (1), "+alone {
		t.Errorf("tried = %s, want the agent's key then %s only", got, alone)
	}
}

func TestMissingIdentities(t *testing.T) {
	dir := t.TempDir()
	defaults := []string{filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "id_rsa")}
	h := &hop{Alias: "web1", User: "deploy", Identities: defaults, DefaultIdentity: true}
	_, err := loadCredentials(h, &keyring{})
	want := "no key to log in as deploy with: no ssh-agent (SSH_AUTH_SOCK is unset); none of " + strings.Join(defaults, ", ") + " exists"
	if err == nil || err.Error() != want {
		t.Errorf("defaults missing:\n got %v\nwant %s", err, want)
	}
	h = &hop{Alias: "web1", User: "deploy", Identities: defaults[:1]}
	_, err = loadCredentials(h, &keyring{note: "ssh-agent at /x: connection refused"})
	if err == nil || !strings.Contains(err.Error(), "identity file "+defaults[0]+" does not exist") ||
		!strings.Contains(err.Error(), "ssh-agent at /x: connection refused") {
		t.Errorf("named identity missing, agent down: %v", err)
	}
}

func TestAuthErrorNamesUserAndKeys(t *testing.T) {
	h := &hop{Alias: "web1", User: "root"}
	c := &credentials{tried: []string{"agent keys (2)", "/root/.ssh/id_ed25519"}, notes: []string{"identity file /k is encrypted and not in ssh-agent: add it with: ssh-add /k"}}
	want := "login as root refused (tried: agent keys (2), /root/.ssh/id_ed25519): check User and IdentityFile in ssh config; also: identity file /k is encrypted and not in ssh-agent: add it with: ssh-add /k"
	if got := authError(h, c).Error(); got != want {
		t.Errorf("message:\n got %s\nwant %s", got, want)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
