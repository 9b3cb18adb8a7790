package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// keyring holds what ssh-agent offers, shared by every hop of one Dial.
type keyring struct {
	signers []ssh.Signer
	conn    net.Conn
	note    string // why there are no agent keys, when that is a surprise
}

// keyrings opens each ssh-agent a Dial's hops name once (IdentityAgent
// may differ per hop).
type keyrings struct {
	opts  Options
	rings map[string]*keyring
}

func (k *keyrings) get(h *hop) *keyring {
	sock := k.opts.AgentSocket
	if sock == "" {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if h.AgentSet && k.opts.AgentSocket == "" {
		sock = h.Agent
	}
	if k.opts.NoAgent || sock == "" {
		return &keyring{}
	}
	if r := k.rings[sock]; r != nil {
		return r
	}
	if k.rings == nil {
		k.rings = map[string]*keyring{}
	}
	r := openAgent(sock)
	k.rings[sock] = r
	return r
}

func (k *keyrings) Close() {
	for _, r := range k.rings {
		r.Close()
	}
}

func openAgent(sock string) *keyring {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return &keyring{note: fmt.Sprintf("ssh-agent at %s: %v", sock, err)}
	}
	signers, err := agent.NewClient(c).Signers()
	if err != nil {
		c.Close()
		return &keyring{note: fmt.Sprintf("ssh-agent at %s: %v", sock, err)}
	}
	return &keyring{signers: signers, conn: c}
}

// Close ends the agent connection; signing happens only during login.
func (k *keyring) Close() {
	if k.conn != nil {
		k.conn.Close()
	}
}

func (k *keyring) find(pub ssh.PublicKey) ssh.Signer {
	for _, s := range k.signers {
		if bytes.Equal(s.PublicKey().Marshal(), pub.Marshal()) {
			return s
		}
	}
	return nil
}

// credentials are the keys one hop logs in with, and what to tell the
// operator if the login is refused.
type credentials struct {
	signers []ssh.Signer
	tried   []string // "agent keys (2)", "/root/.ssh/id_ed25519"
	notes   []string // identity files that could not be used, and why
	missing int      // default identity files that do not exist
}

func loadCredentials(h *hop, ring *keyring) (*credentials, error) {
	c := &credentials{}
	var agentOnly []ssh.Signer // agent keys chosen by an identity file
	for _, path := range h.Identities {
		s, fromAgent, note := identity(path, ring, h.DefaultIdentity)
		switch {
		case note != "":
			c.notes = append(c.notes, note)
		case fromAgent:
			agentOnly = append(agentOnly, s)
		case s != nil:
			c.add(s, path)
		default:
			c.missing++
		}
	}
	if h.IdentitiesOnly {
		for _, s := range agentOnly {
			c.add(s, "agent key "+ssh.FingerprintSHA256(s.PublicKey()))
		}
	} else {
		c.addAgent(ring)
	}
	c.addCertificates(h, ring, agentOnly)
	if ring.note != "" {
		c.notes = append(c.notes, ring.note)
	}
	if len(c.signers) == 0 {
		return nil, c.noKeys(h, ring)
	}
	return c, nil
}

// addAgent puts the agent's keys first, as OpenSSH does: a key in the
// agent is usually the one meant, and files it duplicates are dropped.
func (c *credentials) addAgent(ring *keyring) {
	if len(ring.signers) == 0 {
		return
	}
	files, tried := c.signers, c.tried
	c.signers = append([]ssh.Signer(nil), ring.signers...)
	c.tried = []string{fmt.Sprintf("agent keys (%d)", len(ring.signers))}
	for i, s := range files {
		if ring.find(s.PublicKey()) == nil {
			c.add(s, tried[i])
		}
	}
}

// addCertificates pairs each user certificate with its private key, from
// the identity files or the agent, and tries the pairs first: a host that
// trusts the certificate's CA has the plain key in no authorized_keys.
// Certificates are CertificateFile's, and IDENTITY-cert.pub next to an
// identity file, as OpenSSH loads them.
func (c *credentials) addCertificates(h *hop, ring *keyring, agentOnly []ssh.Signer) {
	keys := append(append(append([]ssh.Signer(nil), c.signers...), agentOnly...), ring.signers...)
	type certFile struct {
		path     string
		optional bool
	}
	var files []certFile
	for _, p := range h.Certificates {
		files = append(files, certFile{p, false})
	}
	for _, p := range h.Identities {
		files = append(files, certFile{p + "-cert.pub", true})
	}
	var certs []ssh.Signer
	var tried []string
	seen := map[string]bool{}
	for _, f := range files {
		cert, note := readCertificate(f.path, f.optional)
		if note != "" {
			c.notes = append(c.notes, note)
		}
		if cert == nil || seen[string(cert.Marshal())] {
			continue
		}
		seen[string(cert.Marshal())] = true
		var signer ssh.Signer
		for _, k := range keys {
			if _, isCert := k.PublicKey().(*ssh.Certificate); !isCert && bytes.Equal(k.PublicKey().Marshal(), cert.Key.Marshal()) {
				signer = k
				break
			}
		}
		if signer == nil {
			c.notes = append(c.notes, fmt.Sprintf("certificate %s: its private key is in no identity file and not in ssh-agent", f.path))
			continue
		}
		cs, err := ssh.NewCertSigner(cert, signer)
		if err != nil {
			c.notes = append(c.notes, fmt.Sprintf("certificate %s: %v", f.path, err))
			continue
		}
		certs = append(certs, cs)
		tried = append(tried, "certificate "+f.path)
	}
	c.signers = append(certs, c.signers...)
	c.tried = append(tried, c.tried...)
}

// readCertificate reads a user certificate (ssh-keygen -s output).
func readCertificate(path string, optional bool) (*ssh.Certificate, string) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && optional {
		return nil, ""
	}
	if err != nil {
		return nil, fmt.Sprintf("certificate %s: %v", path, err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil, fmt.Sprintf("certificate %s: %v", path, err)
	}
	cert, ok := pub.(*ssh.Certificate)
	if !ok || cert.CertType != ssh.UserCert {
		return nil, fmt.Sprintf("certificate %s: not a user certificate", path)
	}
	return cert, ""
}

func (c *credentials) add(s ssh.Signer, what string) {
	c.signers = append(c.signers, s)
	c.tried = append(c.tried, what)
}

func (c *credentials) noKeys(h *hop, ring *keyring) error {
	var why []string
	switch {
	case ring.note != "":
		// Already among the notes.
	case ring.conn == nil:
		why = append(why, "no ssh-agent (SSH_AUTH_SOCK is unset)")
	default:
		why = append(why, "ssh-agent holds no keys")
	}
	if h.DefaultIdentity && c.missing == len(h.Identities) {
		why = append(why, "none of "+strings.Join(h.Identities, ", ")+" exists")
	}
	why = append(why, c.notes...)
	return fmt.Errorf("host %s: no key to log in as %s with: %s", h.Alias, h.User, strings.Join(why, "; "))
}

// identity loads one identity file. An encrypted key is used through the
// agent if the agent holds it: deptool never prompts for a passphrase, as
// it talks to many hosts at once.
func identity(path string, ring *keyring, optional bool) (s ssh.Signer, fromAgent bool, note string) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if optional {
			return nil, false, ""
		}
		return nil, false, fmt.Sprintf("identity file %s does not exist", path)
	}
	if err != nil {
		return nil, false, fmt.Sprintf("identity file %s: %v", path, err)
	}
	s, err = ssh.ParsePrivateKey(b)
	var pm *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return s, false, ""
	case !errors.As(err, &pm):
		return nil, false, fmt.Sprintf("identity file %s: %v", path, err)
	}
	pub := pm.PublicKey
	if pub == nil {
		pub = readPublicKey(path + ".pub")
	}
	if pub != nil {
		if s := ring.find(pub); s != nil {
			return s, true, ""
		}
	}
	return nil, false, fmt.Sprintf("identity file %s is encrypted and not in ssh-agent: add it with: ssh-add %s", path, shellQuote(path))
}

func readPublicKey(path string) ssh.PublicKey {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil
	}
	return pub
}
