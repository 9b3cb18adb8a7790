package secret

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"

	"filippo.io/age"
	"github.com/deptool/deptool/deploy/transport"
	"github.com/deptool/deptool/diff"
	"golang.org/x/crypto/ssh"
)

// RecipientsFile is the team's extra recipients, one a line, read from the
// directory holding the store: whoever may edit secrets (age keys or SSH
// public keys of the team), so that a secret stays readable by them and
// not only by its host.
const RecipientsFile = "secrets.recipients"

// Encrypter encrypts secrets for hosts.
type Encrypter struct {
	// HostKeys returns the keys known_hosts holds for a host.
	HostKeys func(host string) ([]ssh.PublicKey, error)
	// Team is the recipients file; missing means none.
	Team string
}

// Recipients are who a secret for host is encrypted to: the host's
// ed25519 and RSA keys from known_hosts, then the team's.
func (e Encrypter) Recipients(host string) ([]age.Recipient, error) {
	keys, err := e.HostKeys(host)
	if err != nil {
		return nil, err
	}
	rs := HostRecipients(keys)
	if len(rs) == 0 {
		if len(keys) > 0 {
			return nil, fmt.Errorf("host %s: known_hosts holds only %s keys, and age encrypts to ssh-ed25519 and ssh-rsa host keys only; add the host's ed25519 key to known_hosts (ssh-keyscan -t ed25519)", host, keys[0].Type())
		}
		return nil, fmt.Errorf("host %s: no host key in known_hosts to encrypt to; connect once (deptool ping %s, or ssh) so that its key is known, then encrypt", host, host)
	}
	team, err := ReadRecipients(e.Team)
	if err != nil {
		return nil, err
	}
	return append(rs, team...), nil
}

// Encrypt encrypts plaintext for host.
func (e Encrypter) Encrypt(host string, plaintext []byte) ([]byte, error) {
	rs, err := e.Recipients(host)
	if err != nil {
		return nil, err
	}
	return Encrypt(plaintext, rs)
}

// Editor edits a secret in place: decrypt, edit, re-encrypt.
type Editor struct {
	Encrypter
	// Identities decrypt the secret: the operator's, which must be among
	// its recipients (through the team's recipients file).
	Identities []age.Identity
	// Command runs the editor on a file: it gets the file's path.
	Command func(path string) *exec.Cmd
	// TempRoot holds the private directory the plaintext is edited in;
	// empty means /dev/shm when it exists (memory, not disk), else the
	// system's temp dir.
	TempRoot string
}

// ErrUnchanged is Edit's answer when the editor changed nothing and the
// file is encrypted to the recipients it should be: it is left as it was.
var ErrUnchanged = errors.New("unchanged")

// ErrReencrypted is Edit's answer when the editor changed nothing but the
// recipients did (a host key rotated, a team member added or removed): the
// file was encrypted again, to the recipients it should have. Not a
// failure.
var ErrReencrypted = errors.New("unchanged, but re-encrypted: its recipients changed")

// Edit opens the secret at file (NAME.age) for host in the editor and
// writes it back encrypted. A missing file starts empty. The plaintext
// lives only in a 0700 directory of its own, removed before Edit returns.
func (ed Editor) Edit(host, file string) error {
	var plain []byte
	ct, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if len(ed.Identities) == 0 {
			return fmt.Errorf("%s: no identity to decrypt it with; pass --identity (an age key or SSH key listed in %s)", file, RecipientsFile)
		}
		if plain, err = Decrypt(ct, ed.Identities...); err != nil {
			return fmt.Errorf("%s: cannot decrypt it with your identities: %v; only the host and the recipients in %s can, and a secret encrypted before you were added must be re-encrypted by someone who can read it", file, err, RecipientsFile)
		}
	}
	// Recipients first: a host deptool cannot encrypt for fails before
	// the plaintext is written anywhere.
	rs, err := ed.Recipients(host)
	if err != nil {
		return err
	}
	edited, err := ed.editPlain(filepath.Base(file), plain)
	if err != nil {
		return err
	}
	unchanged := ct != nil && bytes.Equal(edited, plain)
	if unchanged {
		same, err := ed.encryptedTo(host, ct)
		if err != nil {
			return err
		}
		if same {
			return ErrUnchanged
		}
	}
	out, err := Encrypt(edited, rs)
	if err != nil {
		return err
	}
	if err := WriteFile(file, out); err != nil {
		return err
	}
	if unchanged {
		return ErrReencrypted
	}
	return nil
}

// encryptedTo reports whether ct is encrypted to exactly the recipients a
// secret for host gets now, as far as its header tells: one stanza per SSH
// key (host or team), known by its tag, and as many X25519 stanzas as the
// team has age keys (those stanzas do not say whose key they are for).
func (e Encrypter) encryptedTo(host string, ct []byte) (bool, error) {
	stanzas, err := diff.ParseAgeHeader(ct)
	if err != nil {
		return false, err
	}
	keys, err := e.HostKeys(host)
	if err != nil {
		return false, err
	}
	teamKeys, ageKeys, err := teamKeys(e.Team)
	if err != nil {
		return false, err
	}
	want := map[string]bool{}
	for _, k := range append(keys, teamKeys...) {
		if t := k.Type(); t == ssh.KeyAlgoED25519 || t == ssh.KeyAlgoRSA {
			want[t+" "+diff.SSHTag(k)] = true
		}
	}
	got, x25519 := map[string]bool{}, 0
	for _, s := range stanzas {
		switch {
		case s.Type == "X25519":
			x25519++
		case (s.Type == ssh.KeyAlgoED25519 || s.Type == ssh.KeyAlgoRSA) && len(s.Args) > 0:
			got[s.Type+" "+s.Args[0]] = true
		}
	}
	return maps.Equal(want, got) && x25519 == ageKeys, nil
}

// teamKeys are the SSH keys of the team's recipients file, and how many
// age keys it lists besides.
func teamKeys(file string) ([]ssh.PublicKey, int, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var keys []ssh.PublicKey
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "age1"):
			n++
		case strings.HasPrefix(line, "ssh-"):
			k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
			if err != nil {
				return nil, 0, fmt.Errorf("%s: %w", file, err)
			}
			keys = append(keys, k)
		}
	}
	return keys, n, nil
}

func (ed Editor) tempRoot() string {
	if ed.TempRoot != "" {
		return ed.TempRoot
	}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

// editPlain runs the editor on the plaintext in a private directory and
// returns what it saved. The directory is removed however this ends: the
// editor exiting, or a signal that would end deptool (a dropped SSH
// session's SIGHUP, SIGTERM, SIGINT, SIGQUIT), which kills the editor and
// returns a *SignalError. Only SIGKILL leaves it, for RemoveLeftovers.
func (ed Editor) editPlain(name string, plain []byte) ([]byte, error) {
	// Caught before the plaintext exists, so that no moment is left in
	// which a signal ends deptool with the file written.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, endSignals...)
	defer signal.Stop(sigs)
	dir, err := os.MkdirTemp(ed.tempRoot(), fmt.Sprintf("%s%d-", leftoverPrefix, os.Getpid()))
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, trimAge(name))
	if err := os.WriteFile(p, plain, 0o600); err != nil {
		return nil, err
	}
	if err := runEditor(ed.Command(p), sigs); err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

func trimAge(name string) string {
	if n := len(name) - len(".age"); n > 0 && name[n:] == ".age" {
		return name[:n]
	}
	return name
}

// WriteFile replaces file with data through a temp file and a rename, so
// that a failed write leaves the old secret.
func WriteFile(file string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := io.Copy(f, bytes.NewReader(data)); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), file)
}

// KnownHosts returns the host keys deptool trusts for each host, from
// known_hosts as the SSH config resolves the host, read once per host:
// for diff.ValidateSecrets and for Encrypter. It may be called for many
// hosts at once.
func KnownHosts(opts transport.Options) func(host string) ([]ssh.PublicKey, error) {
	var once sync.Once
	var kh *transport.KnownHosts
	var khErr error
	return func(host string) ([]ssh.PublicKey, error) {
		once.Do(func() { kh, khErr = transport.NewKnownHosts(opts) })
		if khErr != nil {
			return nil, khErr
		}
		return kh.Keys(host)
	}
}
