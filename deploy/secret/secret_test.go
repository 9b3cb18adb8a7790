package secret

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/deptool/deptool/diff"
	"golang.org/x/crypto/ssh"
)

// hostKey writes an SSH host key under root, as sshd keeps it, and
// returns its public half.
func hostKey(t *testing.T, root string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, HostKeyFiles[0])
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func keysOf(m map[string][]ssh.PublicKey) func(string) ([]ssh.PublicKey, error) {
	return func(h string) ([]ssh.PublicKey, error) { return m[h], nil }
}

func TestEncryptForHostAndTeam(t *testing.T) {
	hostRoot := t.TempDir()
	web1 := hostKey(t, hostRoot)
	team, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	teamFile := filepath.Join(t.TempDir(), RecipientsFile)
	os.WriteFile(teamFile, []byte("# the team\n\n"+team.Recipient().String()+"\n"), 0o644)
	e := Encrypter{HostKeys: keysOf(map[string][]ssh.PublicKey{"web1": {web1}}), Team: teamFile}
	ct, err := e.Encrypt("web1", []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := HostIdentities(hostRoot)
	if err != nil {
		t.Fatal(err)
	}
	for who, id := range map[string][]age.Identity{"host": ids, "team": {team}} {
		if got, err := Decrypt(ct, id...); err != nil || string(got) != "s3cret" {
			t.Errorf("the %s decrypts %q, %v", who, got, err)
		}
	}
	st, err := diff.ParseAgeHeader(ct)
	if err != nil || !diff.ForKey(st, web1) {
		t.Errorf("validation does not see web1's key in what encrypt wrote: %v", err)
	}
	if _, err := e.Encrypt("web2", nil); err == nil || !strings.Contains(err.Error(), "host web2: no host key in known_hosts") {
		t.Errorf("encrypting for an unknown host: %v", err)
	}
	other, err := Decrypt(ct, mustIdentity(t))
	if err == nil || !strings.Contains(err.Error(), "not encrypted to this key") {
		t.Errorf("decrypting with a stranger's key: %q, %v", other, err)
	}
	os.WriteFile(teamFile, []byte("bogus\n"), 0o644)
	if _, err := e.Encrypt("web1", nil); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a bad recipients file: %v", err)
	}
}

func mustIdentity(t *testing.T) age.Identity {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestHostIdentitiesNeedAKey(t *testing.T) {
	if _, err := HostIdentities(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no SSH host key") {
		t.Errorf("no host key: %v", err)
	}
}

// editor returns an Editor whose "editor" is a shell script, recording
// where the plaintext was.
func editor(t *testing.T, script string, team age.Identity, keys map[string][]ssh.PublicKey) (Editor, *string) {
	teamFile := filepath.Join(t.TempDir(), RecipientsFile)
	os.WriteFile(teamFile, []byte(team.(*age.X25519Identity).Recipient().String()+"\n"), 0o644)
	seen := new(string)
	tmp := t.TempDir()
	return Editor{
		Encrypter:  Encrypter{HostKeys: keysOf(keys), Team: teamFile},
		Identities: []age.Identity{team},
		TempRoot:   tmp,
		Command: func(p string) *exec.Cmd {
			*seen = p
			return exec.Command("sh", "-c", script, "editor", p)
		},
	}, seen
}

func TestEditRoundTripLeavesNoPlaintext(t *testing.T) {
	web1 := hostKey(t, t.TempDir())
	team := mustIdentity(t)
	file := filepath.Join(t.TempDir(), "db.password.age")
	keys := map[string][]ssh.PublicKey{"web1": {web1}}

	// A new secret, written by the editor; the script checks the
	// private directory while it runs.
	ed, seen := editor(t, `test "$(stat -c %a "$(dirname "$1")")" = 700 && test "$(stat -c %a "$1")" = 600 && printf one > "$1"`, team, keys)
	if err := ed.Edit("web1", file); err != nil {
		t.Fatal(err)
	}
	if filepath.Base(*seen) != "db.password" {
		t.Errorf("the editor got %s; it should see the secret's own name", *seen)
	}
	if _, err := os.Stat(filepath.Dir(*seen)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the plaintext's directory %s is still there: %v", filepath.Dir(*seen), err)
	}
	ct, _ := os.ReadFile(file)
	if got, err := Decrypt(ct, team); err != nil || string(got) != "one" {
		t.Fatalf("after the edit: %q, %v", got, err)
	}

	// An edit of the existing secret sees its plaintext.
	ed, _ = editor(t, `test "$(cat "$1")" = one && printf two > "$1"`, team, keys)
	ed.Identities = []age.Identity{team}
	if err := ed.Edit("web1", file); err != nil {
		t.Fatal(err)
	}
	ct2, _ := os.ReadFile(file)
	if got, _ := Decrypt(ct2, team); string(got) != "two" {
		t.Errorf("after the second edit: %q", got)
	}

	// Nothing changed: the file is not rewritten.
	ed, _ = editor(t, `true`, team, keys)
	if err := ed.Edit("web1", file); !errors.Is(err, ErrUnchanged) {
		t.Errorf("an edit that changes nothing: %v", err)
	}
	if ct3, _ := os.ReadFile(file); string(ct3) != string(ct2) {
		t.Error("an unchanged secret was re-encrypted")
	}

	// An editor that fails leaves the secret as it was.
	ed, _ = editor(t, `printf three > "$1"; exit 1`, team, keys)
	if err := ed.Edit("web1", file); err == nil || !strings.Contains(err.Error(), "left as it was") {
		t.Errorf("a failing editor: %v", err)
	}
	if ct4, _ := os.ReadFile(file); string(ct4) != string(ct2) {
		t.Error("a failed edit changed the secret")
	}

	// Someone who is not a recipient cannot edit it.
	ed, _ = editor(t, `true`, team, keys)
	ed.Identities = []age.Identity{mustIdentity(t)}
	if err := ed.Edit("web1", file); err == nil || !strings.Contains(err.Error(), "cannot decrypt it with your identities") {
		t.Errorf("a stranger's edit: %v", err)
	}
}

// ssh-rsa host keys work too: encrypt to the public key from known_hosts,
// decrypt with /etc/ssh/ssh_host_rsa_key, and validation sees the tag.
func TestRSAHostKey(t *testing.T) {
	root := t.TempDir()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, HostKeyFiles[1])
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	e := Encrypter{HostKeys: keysOf(map[string][]ssh.PublicKey{"old1": {pub}})}
	ct, err := e.Encrypt("old1", []byte("rsa secret"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := HostIdentities(root)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Decrypt(ct, ids...); err != nil || string(got) != "rsa secret" {
		t.Errorf("decrypt with the RSA host key: %q, %v", got, err)
	}
	st, err := diff.ParseAgeHeader(ct)
	if err != nil || !diff.ForKey(st, pub) {
		t.Errorf("validation does not see the RSA key's stanza: %v %+v", err, st)
	}
}

// A host key rotated (known_hosts holds the new key): an edit that changes
// nothing still re-encrypts, to the new key and without the old one, and
// says so; once the recipients match, it is unchanged again.
func TestEditReencryptsWhenTheRecipientsChanged(t *testing.T) {
	old, rotated := hostKey(t, t.TempDir()), hostKey(t, t.TempDir())
	team := mustIdentity(t)
	file := filepath.Join(t.TempDir(), "db.password.age")
	ed, _ := editor(t, `printf one > "$1"`, team, map[string][]ssh.PublicKey{"web1": {old}})
	if err := ed.Edit("web1", file); err != nil {
		t.Fatal(err)
	}
	ed, _ = editor(t, `true`, team, map[string][]ssh.PublicKey{"web1": {rotated}})
	if err := ed.Edit("web1", file); !errors.Is(err, ErrReencrypted) {
		t.Fatalf("unchanged plaintext, new host key: %v, want ErrReencrypted", err)
	}
	ct, _ := os.ReadFile(file)
	stanzas, err := diff.ParseAgeHeader(ct)
	if err != nil {
		t.Fatal(err)
	}
	if !diff.ForKey(stanzas, rotated) || diff.ForKey(stanzas, old) {
		t.Errorf("after re-encryption: for the new key %v, for the old key %v; want only the new", diff.ForKey(stanzas, rotated), diff.ForKey(stanzas, old))
	}
	if got, err := Decrypt(ct, team); err != nil || string(got) != "one" {
		t.Errorf("after re-encryption: %q, %v", got, err)
	}
	if err := ed.Edit("web1", file); !errors.Is(err, ErrUnchanged) {
		t.Errorf("recipients as they should be: %v, want ErrUnchanged", err)
	}
	// A team member added is a recipient changed too.
	ed.Team = filepath.Join(t.TempDir(), RecipientsFile)
	other := mustIdentity(t)
	os.WriteFile(ed.Team, []byte(team.(*age.X25519Identity).Recipient().String()+"\n"+other.(*age.X25519Identity).Recipient().String()+"\n"), 0o644)
	if err := ed.Edit("web1", file); !errors.Is(err, ErrReencrypted) {
		t.Errorf("a team recipient added: %v, want ErrReencrypted", err)
	}
	if ct, _ := os.ReadFile(file); func() bool { _, err := Decrypt(ct, other); return err != nil }() {
		t.Error("the added team member cannot decrypt the re-encrypted secret")
	}
}
