package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/deptool/deptool/deploy/transport"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

var errNoSigningKey = errors.New("this store requires signed deploys and no signing key was found: add your key to ssh-agent, or name one with DEPTOOL_SIGNING_KEY or 'git --git-dir .deptool config deptool.signingKey PATH' (nothing was committed or deployed)")

// SigningEnv names the key deploys are signed with: a private key file,
// or a public key (file or authorized_keys line) whose private half is
// in ssh-agent. It wins over the store's deptool.signingKey.
const SigningEnv = "DEPTOOL_SIGNING_KEY"

// SigningKey finds the key the operator signs deploys with: the one
// DEPTOOL_SIGNING_KEY or the store's deptool.signingKey names, else the
// first key ssh-agent holds (the one logins use first), else the identity
// files ssh would offer to host (ssh -G's IdentityFile: the lab's key, a
// team's deploy key), else OpenSSH's default ones, when they are not
// passphrase-protected. No key at all is (nil, nil, nil): the deploy is
// unsigned. close releases the agent connection once the deploy is done.
func SigningKey(s *store.Store, topts transport.Options, host string) (sign store.SignCommit, pub ssh.PublicKey, close func(), err error) {
	close = func() {}
	spec := os.Getenv(SigningEnv)
	if spec == "" && s != nil {
		if spec, err = s.SigningKeyConfig(); err != nil {
			return nil, nil, close, err
		}
	}
	var signers []ssh.Signer
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if c, err := net.Dial("unix", sock); err == nil {
			if ss, err := agent.NewClient(c).Signers(); err == nil && len(ss) > 0 {
				signers = ss
				close = func() { c.Close() }
			} else {
				c.Close()
			}
		}
	}
	fail := func(err error) (store.SignCommit, ssh.PublicKey, func(), error) {
		close()
		return nil, nil, func() {}, err
	}
	if spec != "" {
		signer, err := namedSigner(spec, signers)
		if err != nil {
			return fail(fmt.Errorf("signing key %s: %w", spec, err))
		}
		return store.SignerFunc(signer), signer.PublicKey(), close, nil
	}
	if len(signers) > 0 {
		return store.SignerFunc(signers[0]), signers[0].PublicKey(), close, nil
	}
	var files []string
	if host != "" {
		files, _ = transport.IdentityFiles(topts, host)
	}
	if home, err := os.UserHomeDir(); err == nil {
		for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			files = append(files, filepath.Join(home, ".ssh", name))
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		signer, err := ssh.ParsePrivateKey(data)
		if err != nil {
			continue // passphrase-protected: the agent is the way to use it
		}
		signer = withCertificate(signer, f+"-cert.pub")
		return store.SignerFunc(signer), signer.PublicKey(), close, nil
	}
	return nil, nil, close, nil
}

// withCertificate signs with the key's certificate when ssh would log in
// with one (the file ssh pairs with the identity), so hosts that trust a
// cert-authority accept the signature as they accept the login.
func withCertificate(signer ssh.Signer, certFile string) ssh.Signer {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return signer
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(data)
	cert, ok := pub.(*ssh.Certificate)
	if err != nil || !ok || !bytes.Equal(cert.Key.Marshal(), signer.PublicKey().Marshal()) {
		return signer
	}
	if cs, err := ssh.NewCertSigner(cert, signer); err == nil {
		return cs
	}
	return signer
}

// namedSigner resolves a key the operator named: a private key file
// that is not passphrase-protected, or a public key whose private half is
// in ssh-agent.
func namedSigner(spec string, agentKeys []ssh.Signer) (ssh.Signer, error) {
	data := []byte(spec)
	if !strings.HasPrefix(spec, "ssh-") && !strings.HasPrefix(spec, "ecdsa-") && !strings.HasPrefix(spec, "sk-") {
		var err error
		if strings.HasPrefix(spec, "~/") {
			if home, herr := os.UserHomeDir(); herr == nil {
				spec = filepath.Join(home, spec[2:])
			}
		}
		if data, err = os.ReadFile(spec); err != nil {
			return nil, err
		}
	}
	if pub, _, _, _, err := ssh.ParseAuthorizedKey(data); err == nil {
		for _, s := range agentKeys {
			if bytes.Equal(s.PublicKey().Marshal(), pub.Marshal()) {
				return s, nil
			}
		}
		return nil, fmt.Errorf("%s is not in ssh-agent: add it with ssh-add", ssh.FingerprintSHA256(pub))
	}
	signer, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		for _, s := range agentKeys {
			if bytes.Equal(s.PublicKey().Marshal(), missing.PublicKey.Marshal()) {
				return s, nil
			}
		}
		return nil, errors.New("the key is passphrase-protected and not in ssh-agent: add it with ssh-add")
	}
	if err != nil {
		return nil, err
	}
	return signer, nil
}

// loadProof reads what hosts are sent to check the deploy's signature,
// once per deploy: the signed deploy commit and, when its message names
// a host index, that index (recomputed from the tree: it is not stored),
// else its root tree. proofFor picks each host's part.
func (d *deployer) loadProof() error {
	req, err := d.store.RequireSignatures()
	if err != nil {
		return err
	}
	d.require = req
	raw, err := d.store.RawObject(d.deploy)
	if err != nil {
		return err
	}
	if _, sig := store.SplitSigned(raw); sig == nil {
		return nil
	}
	info, err := d.store.CommitInfo(d.deploy)
	if err != nil {
		return err
	}
	if id, ok, err := store.HostsIn(info.Message); err != nil {
		return fmt.Errorf("deploy %s: %w", d.deploy.Short(), err)
	} else if ok {
		x, err := d.store.HostIndex(d.tree)
		if err != nil {
			return err
		}
		if x.ID != id {
			return fmt.Errorf("deploy %s names host index %s, and its tree's is %s: deploy again", d.deploy.Short(), id.Short(), x.ID.Short())
		}
		d.proof, d.index = &wire.Signed{Commit: raw, Index: x.Root}, x
		return nil
	}
	root, err := d.store.RawObject(d.tree)
	if err != nil {
		return err
	}
	d.proof = &wire.Signed{Commit: raw, Root: root}
	return nil
}

// proofFor is host's proof: the deploy's, with host's index bucket.
func (d *deployer) proofFor(host string) *wire.Signed {
	if d.proof == nil || d.index == nil {
		return d.proof
	}
	p := *d.proof
	p.Bucket = d.index.Bucket(host)
	return &p
}
