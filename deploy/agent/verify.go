package agent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/deptool/deptool/deploy/wire"
	hostlayout "github.com/deptool/deptool/diff/layout"
	"github.com/deptool/deptool/store"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/crypto/ssh"
)

// The host checks every apply's signature itself: the agent runs as root,
// and whoever can write the team's Git remote, or runs a modified
// deptool, must not get to choose what it runs. What it trusts lives on
// the host, never in the request.

const (
	// AllowedSignersFile, when present on a host, lists the keys that may
	// sign deploys to it, in Git's allowed-signers format; deploying it
	// (an app's symlink) is how a team rotates keys. Without it the keys
	// that may log in as the deploying user may sign.
	AllowedSignersFile = "/etc/deptool/allowed_signers"
	// signedMark exists once the host has applied a signed deploy: from
	// then on it refuses unsigned ones, whatever the operator's store says.
	signedMark = hostlayout.StateDir + "/signed"
)

// allowedKey is one key that may sign deploys to this host; ca marks a
// certificate authority (cert-authority), whose user certificates may.
type allowedKey struct {
	key        ssh.PublicKey
	ca         bool
	principals []string // from principals="..." or the allowed-signers line
}

// verifySigned checks that the host commit's tree (tree) is the host's
// entry in a deploy commit signed by a key allowed here. Without a
// signature it refuses when the request or the host's own history
// requires one.
func (s *session) verifySigned(req *wire.ApplyRequest, tree store.ID) *wire.AgentError {
	mark := s.l.host(signedMark)
	if req.Signed == nil {
		if req.RequireSigned {
			return wire.Errorf(wire.CodeBadRequest, "host commit %s (deploy %s) is not signed, and the store requires signed deploys: deploy with a signing key (see docs/security.md)", short(req.Commit), short(req.Deploy))
		}
		if data, err := os.ReadFile(mark); err == nil {
			return wire.Errorf(wire.CodeBadRequest, "host commit %s (deploy %s) is not signed, and this host has run signed deploys (first %s): it refuses unsigned ones; deploy with a signing key (see docs/security.md)", short(req.Commit), short(req.Deploy), strings.TrimSpace(string(data)))
		}
		return nil
	}
	pub, err := s.checkProof(req, tree)
	if err != nil {
		return wire.Errorf(wire.CodeBadRequest, "host commit %s (deploy %s): %v", short(req.Commit), short(req.Deploy), err)
	}
	allowed, where, err := s.allowedKeys()
	if err != nil {
		return wire.Errorf(wire.CodeBadRequest, "host commit %s: read the keys allowed to sign deploys here: %v", short(req.Commit), err)
	}
	if why := permitted(pub, allowed, s.loginUser(), s.opts.Now()); why != "" {
		return wire.Errorf(wire.CodeBadRequest, "host commit %s (deploy %s) is signed by %s %s, which may not deploy to %s (%s; allowed: %s): sign with a key allowed there, or deploy that key first with a key already allowed", short(req.Commit), short(req.Deploy), pub.Type(), ssh.FingerprintSHA256(keyOf(pub)), s.host, why, where)
	}
	if _, err := os.Stat(mark); errors.Is(err, fs.ErrNotExist) {
		// Best effort: a lost mark only lets the store's switch decide.
		writeFileAtomic(mark, []byte(req.Deploy.String()+"\n"), 0o644)
	}
	return nil
}

// checkProof checks the proof itself: the deploy commit is the one the
// request names, its signature verifies, and its tree's entry for this
// host is tree. It returns the key that signed.
func (s *session) checkProof(req *wire.ApplyRequest, tree store.ID) (ssh.PublicKey, error) {
	commit := &plumbing.MemoryObject{}
	commit.SetType(plumbing.CommitObject)
	commit.Write(req.Signed.Commit)
	if ID := store.ID(commit.Hash()); ID != req.Deploy {
		return nil, fmt.Errorf("the signed commit sent is %s, not the deploy", short(ID))
	}
	payload, sig := store.SplitSigned(req.Signed.Commit)
	if sig == nil {
		return nil, errors.New("the deploy commit is not signed")
	}
	pub, err := store.VerifySSH(sig, store.GitNamespace, payload)
	if err != nil {
		return nil, err
	}
	var c object.Commit
	if err := c.Decode(commit); err != nil {
		return nil, fmt.Errorf("the deploy commit: %w", err)
	}
	want, err := s.signedEntry(req.Signed, &c)
	if err != nil {
		return nil, err
	}
	if want != tree {
		return nil, fmt.Errorf("its tree %s is not what deploy %s signed for %s (%s)", short(tree), short(req.Deploy), s.host, short(want))
	}
	return pub, nil
}

// signedEntry is this host's entry in the signed deploy commit c's root
// tree, as the proof shows it: through the host index the commit names
// (its root and this host's bucket), or for a commit signed before the
// index existed, through the whole root tree.
func (s *session) signedEntry(p *wire.Signed, c *object.Commit) (store.ID, error) {
	index, ok, err := store.HostsIn(c.Message)
	if err != nil {
		return store.ZeroID, err
	}
	if !ok {
		if treeID(p.Root) != store.ID(c.TreeHash) {
			return store.ZeroID, errors.New("the tree sent is not the deploy commit's")
		}
		want, err := treeEntry(p.Root, s.host)
		if err != nil {
			return store.ZeroID, fmt.Errorf("the deploy's tree: %w", err)
		}
		return want, nil
	}
	if treeID(p.Index) != index {
		return store.ZeroID, fmt.Errorf("the host index sent is not the one the deploy commit names (%s)", short(index))
	}
	bucket, err := treeEntry(p.Index, store.BucketOf(s.host))
	if err != nil {
		return store.ZeroID, fmt.Errorf("the deploy's host index: %w", err)
	}
	if treeID(p.Bucket) != bucket {
		return store.ZeroID, fmt.Errorf("the index bucket sent is not the one the deploy's host index names for %s (bucket %s)", s.host, store.BucketOf(s.host))
	}
	want, err := treeEntry(p.Bucket, s.host)
	if err != nil {
		return store.ZeroID, fmt.Errorf("the deploy's index bucket %s: %w", store.BucketOf(s.host), err)
	}
	return want, nil
}

// treeID is the id of the tree whose raw content is raw.
func treeID(raw []byte) store.ID {
	obj := &plumbing.MemoryObject{}
	obj.SetType(plumbing.TreeObject)
	obj.Write(raw)
	return store.ID(obj.Hash())
}

// treeEntry finds name's entry in a raw tree object without decoding
// the rest: a deploy to thousands of hosts has a root tree of thousands
// of entries, and each host wants one. A host left out of the tree has
// all its apps removed: the empty tree.
func treeEntry(raw []byte, name string) (store.ID, error) {
	for len(raw) > 0 {
		sp := bytes.IndexByte(raw, ' ')
		if sp < 0 {
			return store.ZeroID, errors.New("malformed entry")
		}
		nul := bytes.IndexByte(raw[sp:], 0)
		if nul < 0 || len(raw) < sp+nul+1+20 {
			return store.ZeroID, errors.New("malformed entry")
		}
		entry := raw[sp+1 : sp+nul]
		var id store.ID
		copy(id[:], raw[sp+nul+1:sp+nul+21])
		if string(entry) == name {
			return id, nil
		}
		raw = raw[sp+nul+21:]
	}
	return store.EmptyTree, nil
}

// keyOf is the key a signature is made with: a certificate's own key.
func keyOf(pub ssh.PublicKey) ssh.PublicKey {
	if c, ok := pub.(*ssh.Certificate); ok {
		return c.Key
	}
	return pub
}

// permitted says why pub may not sign here, "" when it may: it is one of
// the keys, or a user certificate valid now for the login user, signed by
// one of the cert-authority keys.
func permitted(pub ssh.PublicKey, allowed []allowedKey, login string, now time.Time) string {
	cert, isCert := pub.(*ssh.Certificate)
	for _, a := range allowed {
		if a.ca {
			if !isCert || !bytes.Equal(cert.SignatureKey.Marshal(), a.key.Marshal()) {
				continue
			}
			principal := login
			if len(a.principals) > 0 {
				i := slices.IndexFunc(cert.ValidPrincipals, func(p string) bool { return slices.Contains(a.principals, p) })
				if i < 0 {
					return "its certificate names none of the principals the authority is trusted for"
				}
				principal = cert.ValidPrincipals[i]
			}
			checker := ssh.CertChecker{Clock: func() time.Time { return now }}
			if err := checker.CheckCert(principal, cert); err != nil {
				return "its certificate: " + err.Error()
			}
			if cert.CertType != ssh.UserCert {
				return "its certificate is not a user certificate"
			}
			return ""
		}
		if bytes.Equal(keyOf(pub).Marshal(), a.key.Marshal()) {
			return ""
		}
	}
	if isCert {
		return "neither the key nor its certificate's authority is allowed"
	}
	return "the key is not allowed"
}

// allowedKeys reads the keys that may sign deploys here, and names where
// it found them: the allowed-signers file when there is one, else the
// login user's authorized_keys.
func (s *session) allowedKeys() ([]allowedKey, string, error) {
	path := s.l.host(AllowedSignersFile)
	if data, err := os.ReadFile(path); err == nil {
		keys, err := parseKeys(data, true)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", AllowedSignersFile, err)
		}
		return keys, AllowedSignersFile, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	home := s.home(s.loginUser())
	var keys []allowedKey
	var where []string
	for _, name := range []string{"authorized_keys", "authorized_keys2"} {
		p := filepath.Join(home, ".ssh", name)
		data, err := os.ReadFile(s.l.host(p))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		k, err := parseKeys(data, false)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", p, err)
		}
		keys = append(keys, k...)
		where = append(where, p)
	}
	if len(where) == 0 {
		return nil, "no " + filepath.Join(home, ".ssh", "authorized_keys") + " nor " + AllowedSignersFile, nil
	}
	return keys, strings.Join(where, ", "), nil
}

// parseKeys reads authorized_keys lines, or allowed-signers lines (which
// start with the principals the key signs as).
func parseKeys(data []byte, signers bool) ([]allowedKey, error) {
	var out []allowedKey
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var principals []string
		if signers {
			first, rest, _ := strings.Cut(line, " ")
			principals, line = strings.Split(first, ","), strings.TrimSpace(rest)
		}
		pub, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			if signers {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			continue // sshd skips what it cannot read; so do we
		}
		k := allowedKey{key: pub}
		var optPrincipals []string
		for _, o := range opts {
			name, val, _ := strings.Cut(o, "=")
			switch strings.ToLower(name) {
			case "cert-authority":
				k.ca = true
			case "principals":
				optPrincipals = strings.Split(strings.Trim(val, `"`), ",")
			case "namespaces":
				if !slices.Contains(strings.Split(strings.Trim(val, `"`), ","), store.GitNamespace) {
					k.key = nil
				}
			}
		}
		if k.key == nil {
			continue
		}
		if k.ca {
			// The authority vouches for these principals only.
			k.principals = optPrincipals
			if signers {
				k.principals = principals
			}
			if slices.Contains(k.principals, "*") {
				k.principals = nil
			}
		}
		out = append(out, k)
	}
	return out, sc.Err()
}

// loginUser is the user the operator logged in as: sudo's caller when
// the agent runs through sudo, else the agent's own user.
func (s *session) loginUser() string {
	if s.opts.loginUser != "" {
		return s.opts.loginUser
	}
	for _, env := range []string{"SUDO_USER", "DOAS_USER"} {
		if u := os.Getenv(env); u != "" {
			return u
		}
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

// home is user's home directory from the host's /etc/passwd.
func (s *session) home(name string) string {
	if data, err := os.ReadFile(s.l.host("/etc/passwd")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Split(line, ":")
			if len(f) >= 6 && f[0] == name {
				return f[5]
			}
		}
	}
	if name == "root" {
		return "/root"
	}
	return "/home/" + name
}
