// Package secret encrypts and decrypts deptool's secrets: age files
// (filippo.io/age) encrypted to hosts' SSH host keys, so that a secret in
// the config tree, the store and every Git remote is ciphertext, and only
// the host it is for (and the team's own recipients) can read it.
//
// The operator encrypts to the host key it already trusts, the one in
// known_hosts; the agent decrypts on the host with the matching private
// key in /etc/ssh. See docs/secrets.md for what this protects and what it
// does not.
package secret

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"golang.org/x/crypto/ssh"
)

// HostKeyFiles are the host private keys the agent decrypts with, as host
// paths: the ones age can use (ed25519, RSA).
var HostKeyFiles = []string{"/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key"}

// maxSecret bounds what is decrypted into memory: secrets are keys and
// passwords, not data sets.
const maxSecret = 16 << 20

// HostIdentities loads the host's SSH private keys under root, for
// decrypting secrets. It fails when there is none.
func HostIdentities(root string) ([]age.Identity, error) {
	var ids []age.Identity
	var tried []string
	for _, p := range HostKeyFiles {
		tried = append(tried, p)
		data, err := os.ReadFile(filepath.Join(root, p))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read host key %s: %w", p, err)
		}
		id, err := agessh.ParseIdentity(data)
		if err != nil {
			return nil, fmt.Errorf("host key %s: %w", p, err)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no SSH host key to decrypt secrets with (looked for %s)", strings.Join(tried, ", "))
	}
	return ids, nil
}

// Decrypt decrypts an age file, binary or armored, with the first of ids
// that is a recipient.
func Decrypt(data []byte, ids ...age.Identity) ([]byte, error) {
	var r io.Reader = bytes.NewReader(data)
	if isArmored(data) {
		r = armor.NewReader(r)
	}
	pr, err := age.Decrypt(r, ids...)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, errors.New("it is not encrypted to this key")
		}
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(pr, maxSecret+1))
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	if len(out) > maxSecret {
		return nil, fmt.Errorf("larger than %d MiB; secrets are for keys and passwords", maxSecret>>20)
	}
	return out, nil
}

func isArmored(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("-----BEGIN AGE ENCRYPTED FILE-----"))
}

// Encrypt encrypts plaintext to recipients, armored so that the file reads
// as text in Git and in review tools.
func Encrypt(plaintext []byte, recipients []age.Recipient) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, errors.New("no recipients to encrypt to")
	}
	var b bytes.Buffer
	a := armor.NewWriter(&b)
	w, err := age.Encrypt(a, recipients...)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := a.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// HostRecipients turns a host's SSH public keys into recipients: the
// ed25519 and RSA ones; age has no stanza for the other kinds.
func HostRecipients(keys []ssh.PublicKey) []age.Recipient {
	var out []age.Recipient
	for _, k := range keys {
		var r age.Recipient
		var err error
		switch k.Type() {
		case ssh.KeyAlgoED25519:
			r, err = agessh.NewEd25519Recipient(k)
		case ssh.KeyAlgoRSA:
			r, err = agessh.NewRSARecipient(k)
		default:
			continue
		}
		if err == nil {
			out = append(out, r)
		}
	}
	return out
}

// ReadRecipients reads a recipients file as age -R does: one recipient a
// line (an age1... key, or an ssh-ed25519 or ssh-rsa public key), "#"
// comments and blank lines ignored. A missing file is no recipients.
func ReadRecipients(file string) ([]age.Recipient, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []age.Recipient
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := parseRecipient(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", file, n, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

func parseRecipient(s string) (age.Recipient, error) {
	if strings.HasPrefix(s, "age1") {
		return age.ParseX25519Recipient(s)
	}
	if strings.HasPrefix(s, "ssh-") {
		r, err := agessh.ParseRecipient(s)
		if err != nil {
			return nil, fmt.Errorf("%v (want an ssh-ed25519 or ssh-rsa public key)", err)
		}
		return r, nil
	}
	return nil, fmt.Errorf("%q is not a recipient: want an age1... key or an ssh-ed25519/ssh-rsa public key", clip(s))
}

// ReadIdentity reads an operator's identity file: an age identity file
// (AGE-SECRET-KEY-1...) or an unencrypted SSH private key. A passphrase
// protected SSH key is refused with what to do instead.
func ReadIdentity(file string) ([]age.Identity, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
		id, err := agessh.ParseIdentity(data)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("%s is passphrase-protected; use an age identity (age-keygen) as a team recipient instead", file)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return []age.Identity{id}, nil
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return ids, nil
}

func clip(s string) string {
	if len(s) > 30 {
		return s[:30] + "..."
	}
	return s
}
