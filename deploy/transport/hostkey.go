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
	// sshTo is how the operator reaches this hop itself with OpenSSH.
	sshTo string

	mu       sync.Mutex
	called   bool  // the host presented a key: it is up and speaking SSH
	verified bool  // the key was accepted, so later failures are not its fault
	err      error // why the key was refused
}

// lookupName is the name the host's keys are filed under in known_hosts:
// its HostKeyAlias when it has one (with no port, as OpenSSH does), else
// its address.
func (h *hop) lookupName() string {
	if h.HostKeyAlias != "" {
		return net.JoinHostPort(h.HostKeyAlias, "22")
	}
	return h.addr()
}

func loadHostKeys(h *hop, notify func(string)) (*hostKeys, error) {
	k := &hostKeys{hop: h, notify: notify}
	for _, f := range append(append([]string(nil), h.KnownHosts...), h.GlobalKnown...) {
		if _, err := os.Stat(f); err == nil {
			k.files = append(k.files, f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("known hosts: %w", err)
		}
	}
	if len(k.files) == 0 {
		return k, nil
	}
	db, err := hostKeyDB(k.files)
	if err != nil {
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	k.db = db
	k.known = sortAlgos(db.HostKeyAlgorithms(h.lookupName()))
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
//
// An unknown host is offered plain keys only: a host with a certificate
// would otherwise present it, and be refused for want of a CA, where the
// operator needs the key's fingerprint and how to record it.
func (k *hostKeys) algorithms() []string {
	if len(k.known) > 0 {
		return k.known
	}
	var plain []string
	for _, a := range hostKeyPreference {
		if !strings.Contains(a, "-cert-") {
			plain = append(plain, a)
		}
	}
	return plain
}

func (k *hostKeys) callback(_ string, remote net.Addr, key ssh.PublicKey) error {
	err := k.check(k.hop.lookupName(), remote, key)
	k.mu.Lock()
	k.called, k.verified, k.err = true, err == nil, err
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
	if k.hop.HostKeyAlias != "" {
		host = k.hop.HostKeyAlias
	} else if k.hop.Port != 22 {
		host = fmt.Sprintf("[%s]:%d", host, k.hop.Port)
	}
	var cmds []string
	for _, f := range k.files {
		cmds = append(cmds, "ssh-keygen -R "+shellQuote(host)+" -f "+shellQuote(f))
	}
	return strings.Join(cmds, " && ")
}

// checked reports whether the host got as far as presenting its key.
func (k *hostKeys) checked() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.called
}

func (k *hostKeys) wasVerified() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.verified
}

// check accepts the key known_hosts holds for the host. Whatever
// StrictHostKeyChecking says, a key that differs from the one recorded
// or is marked @revoked is refused: "no" and "accept-new" only decide
// what happens to a host never seen before, and the handshake ends here
// before any password, agent or sudo password could reach an impostor.
func (k *hostKeys) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	var err error = &knownhosts.KeyError{}
	if k.db != nil {
		err = nil
		if cert, ok := key.(*ssh.Certificate); ok {
			err = k.revokedCert(hostname, remote, cert)
		}
		if err == nil {
			err = k.db.HostKeyCallback()(hostname, remote, key)
		}
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return fmt.Errorf("%s: key %s %s is marked @revoked in %s:%d: refusing to connect",
			k.hop.where(), re.Revoked.Key.Type(), ssh.FingerprintSHA256(re.Revoked.Key), re.Revoked.Filename, re.Revoked.Line)
	case !errors.As(err, &ke):
		return k.certError(key, err)
	case len(ke.Want) > 0:
		return k.keyError(key, ke.Want)
	case k.hop.Strict == strictAcceptNew:
		return k.add(hostname, remote, key)
	case k.hop.Strict == strictNo:
		k.notify(fmt.Sprintf("warning: host %s (%s): unknown host key %s %s accepted unverified (StrictHostKeyChecking no)",
			k.hop.Alias, k.hop.where(), key.Type(), ssh.FingerprintSHA256(key)))
		return nil
	}
	return k.keyError(key, nil)
}

// revokedCert applies @revoked lines to a host certificate as OpenSSH
// does: revoking the host's plain key or the CA's key revokes the
// certificate too. Checked first, so the error names the line.
func (k *hostKeys) revokedCert(hostname string, remote net.Addr, cert *ssh.Certificate) error {
	for _, key := range []ssh.PublicKey{cert.Key, cert.SignatureKey} {
		var re *knownhosts.RevokedError
		if err := k.db.HostKeyCallback()(hostname, remote, key); errors.As(err, &re) {
			return re
		}
	}
	return nil
}

// certError explains a host certificate that known_hosts does not vouch
// for (the errors come from ssh.CertChecker).
func (k *hostKeys) certError(key ssh.PublicKey, err error) error {
	cert, ok := key.(*ssh.Certificate)
	if !ok {
		return fmt.Errorf("%s: known hosts: %w", k.hop.where(), err)
	}
	name, _, _ := net.SplitHostPort(k.hop.lookupName())
	msg := strings.TrimPrefix(err.Error(), "ssh: ")
	switch {
	case strings.HasPrefix(msg, "no authorities"):
		msg = fmt.Sprintf("no @cert-authority line in known_hosts vouches for %s", name)
	case strings.Contains(msg, "not in the set of valid principals"):
		msg = fmt.Sprintf("%s is not among its principals %s", name, strings.Join(cert.ValidPrincipals, ","))
	}
	return fmt.Errorf("%s: its host certificate (signed by %s %s) is refused: %s; refusing to connect",
		k.hop.where(), cert.SignatureKey.Type(), ssh.FingerprintSHA256(cert.SignatureKey), msg)
}

func (k *hostKeys) keyError(key ssh.PublicKey, known []knownhosts.KnownKey) *HostKeyError {
	return &HostKeyError{
		Host: k.hop.Alias, Addr: k.hop.addr(), Via: k.hop.Via, Alias: k.hop.HostKeyAlias,
		Key: key, Known: known, File: k.firstFile(), sshCmd: k.sshCmd,
		proxied: k.hop.ProxyCommand != "", sshTo: k.sshTo,
	}
}

// add appends a new host's key to the first known_hosts file, as
// accept-new asks. One write of one line with O_APPEND, so concurrent
// dials to many new hosts do not interleave their lines.
func (k *hostKeys) add(hostname string, remote net.Addr, key ssh.PublicKey) error {
	file := k.firstFile()
	if file == "" {
		return fmt.Errorf("%s: StrictHostKeyChecking accept-new, but UserKnownHostsFile is none: nowhere to record the key", k.hop.where())
	}
	name := knownhosts.Normalize(hostname)
	if k.hop.HashKnown {
		name = knownhosts.HashHostname(name)
	}
	line := knownhosts.Line([]string{name}, key) + "\n"
	if err := appendLine(file, line); err != nil {
		return fmt.Errorf("%s: recording its host key (accept-new): %w", k.hop.where(), err)
	}
	k.notify(fmt.Sprintf("%s: added host key %s %s to %s (StrictHostKeyChecking accept-new)",
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
