package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	skh "github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyPreference orders host key algorithms: ed25519 first, because it
// is the cheapest to verify and what a modern sshd offers; RSA last.
var hostKeyPreference = []string{
	ssh.CertAlgoED25519v01, ssh.KeyAlgoED25519,
	ssh.CertAlgoECDSA256v01, ssh.KeyAlgoECDSA256,
	ssh.CertAlgoECDSA384v01, ssh.KeyAlgoECDSA384,
	ssh.CertAlgoECDSA521v01, ssh.KeyAlgoECDSA521,
	ssh.CertAlgoRSASHA512v01, ssh.KeyAlgoRSASHA512,
	ssh.CertAlgoRSASHA256v01, ssh.KeyAlgoRSASHA256,
}

// hostKeys checks one hop's host key against its known_hosts files.
type hostKeys struct {
	hop   *hop
	files []string // the hop's known_hosts files that exist
	db    *skh.HostKeyDB
	// known are the host key algorithms of the keys known for the host,
	// best first; empty when the host is unknown.
	known  []string
	notify func(string)
	// sshCmd is how the operator reaches this hop's jump host with OpenSSH
	// ("ssh -F cfg web1"), to scan a key from there.
	sshCmd string

	mu       sync.Mutex
	verified bool  // the key was accepted, so later failures are not its fault
	err      error // why the key was refused
}

func loadHostKeys(h *hop, notify func(string)) (*hostKeys, error) {
	k := &hostKeys{hop: h, notify: notify}
	for _, f := range h.KnownHosts {
		if _, err := os.Stat(f); err == nil {
			k.files = append(k.files, f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("host %s: known hosts: %w", h.Alias, err)
		}
	}
	if len(k.files) == 0 {
		return k, nil
	}
	db, err := hostKeyDB(k.files)
	if err != nil {
		return nil, fmt.Errorf("host %s: known hosts: %w", h.Alias, err)
	}
	k.db = db
	k.known = sortAlgos(db.HostKeyAlgorithms(h.addr()))
	return k, nil
}

// sortAlgos orders algorithms by hostKeyPreference; unlisted ones (say,
// post-quantum) keep their order at the end.
func sortAlgos(algos []string) []string {
	rank := func(a string) int {
		if i := slices.Index(hostKeyPreference, a); i >= 0 {
			return i
		}
		return len(hostKeyPreference)
	}
	slices.SortStableFunc(algos, func(a, b string) int { return rank(a) - rank(b) })
	return algos
}

// algorithms are the host key algorithms to offer. For a known host only
// the known key types are offered: otherwise the server may present, say,
// its RSA key while known_hosts holds its ed25519 key, which would look
// like an unknown host.
func (k *hostKeys) algorithms() []string {
	if len(k.known) > 0 {
		return k.known
	}
	return hostKeyPreference
}

func (k *hostKeys) callback(hostname string, remote net.Addr, key ssh.PublicKey) error {
	err := k.check(hostname, remote, key)
	k.mu.Lock()
	k.verified, k.err = err == nil, err
	k.mu.Unlock()
	return err
}

// failure is the host key check's own error, if it refused the key.
func (k *hostKeys) failure() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}

// removeCommand is how to drop the host's keys from its known_hosts files.
func (k *hostKeys) removeCommand() string {
	host := k.hop.HostName
	if k.hop.Port != 22 {
		host = fmt.Sprintf("[%s]:%d", host, k.hop.Port)
	}
	var cmds []string
	for _, f := range k.files {
		cmds = append(cmds, "ssh-keygen -R "+shellQuote(host)+" -f "+shellQuote(f))
	}
	return strings.Join(cmds, " && ")
}

func (k *hostKeys) wasVerified() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.verified
}

func (k *hostKeys) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	if k.hop.Strict == strictNo {
		return nil
	}
	var err error = &knownhosts.KeyError{}
	if k.db != nil {
		err = k.db.HostKeyCallback()(hostname, remote, key)
	}
	var ke *knownhosts.KeyError
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &ke):
		return fmt.Errorf("host %s: known hosts: %w", k.hop.where(), err)
	case len(ke.Want) > 0:
		return k.keyError(key, ke.Want)
	case k.hop.Strict == strictAcceptNew:
		return k.add(hostname, remote, key)
	}
	return k.keyError(key, nil)
}

func (k *hostKeys) keyError(key ssh.PublicKey, known []knownhosts.KnownKey) *HostKeyError {
	return &HostKeyError{
		Host: k.hop.Alias, Addr: k.hop.addr(), Via: k.hop.Via,
		Key: key, Known: known, File: k.firstFile(), sshCmd: k.sshCmd,
	}
}

// add appends a new host's key to the first known_hosts file, as
// accept-new asks. One write of one line with O_APPEND, so concurrent
// dials to many new hosts do not interleave their lines.
func (k *hostKeys) add(hostname string, remote net.Addr, key ssh.PublicKey) error {
	file := k.firstFile()
	if file == "" {
		return fmt.Errorf("host %s: StrictHostKeyChecking accept-new, but UserKnownHostsFile is none: nowhere to record the key", k.hop.where())
	}
	var line strings.Builder
	if err := skh.WriteKnownHost(&line, hostname, remote, key); err != nil {
		return fmt.Errorf("host %s: %w", k.hop.where(), err)
	}
	if err := appendLine(file, line.String()); err != nil {
		return fmt.Errorf("host %s: recording its host key (accept-new): %w", k.hop.where(), err)
	}
	k.notify(fmt.Sprintf("host %s: added host key %s %s to %s (StrictHostKeyChecking accept-new)",
		k.hop.where(), key.Type(), ssh.FingerprintSHA256(key), file))
	return nil
}

func (k *hostKeys) firstFile() string {
	if len(k.hop.KnownHosts) == 0 {
		return ""
	}
	return k.hop.KnownHosts[0]
}

func appendLine(file, line string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	// A file edited by hand may lack its final newline; the new line must
	// not be glued to the last one.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
