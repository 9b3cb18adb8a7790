package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"golang.org/x/crypto/ssh"
)

// The team's allowed signers travel with the store, as a history of their
// own at SignersRef: each commit's tree holds one file, allowed_signers,
// in Git's allowed-signers format, and each commit is signed (as deploys
// are) by a key the list before it allows. Anyone who can push to the
// remote can move the ref, but not forge a change: a fetched change is
// taken only when every commit from the list this store trusts to the
// remote's verifies, so trust starts where this store's chain starts, at
// init or at the first fetch that brings a chain (the clone), which
// prints the fingerprints it took.

// SignersRef is the team's allowed signers, shared through the remote.
const SignersRef plumbing.ReferenceName = "refs/deptool/signers"

// signersRefusedOption remembers the last remote signers commit refused,
// so that a forged change is reported once, not at every command.
const signersRefusedOption = "signersrefused"

// AllowedSigner is one line of an allowed-signers list.
type AllowedSigner struct {
	Principal string
	// Options as Git's format has them (namespaces="git",
	// cert-authority), comma-separated; "" for none.
	Options string
	Key     ssh.PublicKey
}

// Fingerprint is the key's SHA256 fingerprint, as ssh-keygen -l shows it.
func (a AllowedSigner) Fingerprint() string { return ssh.FingerprintSHA256(a.Key) }

func (a AllowedSigner) line() string {
	key := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(a.Key)))
	if a.Options == "" {
		return a.Principal + " " + key
	}
	return a.Principal + " " + a.Options + " " + key
}

// NewAllowedSigner is key allowed to sign deploys (Git's namespace) as
// principal, which must be one word (an email, user@host).
func NewAllowedSigner(principal string, key ssh.PublicKey) (AllowedSigner, error) {
	if principal == "" || strings.ContainsAny(principal, " \t\r\n\"") || strings.HasPrefix(principal, "#") {
		return AllowedSigner{}, fmt.Errorf("signer name %q: want one word, such as ann@laptop", principal)
	}
	return AllowedSigner{Principal: principal, Options: `namespaces="git"`, Key: CertifiedKey(key)}, nil
}

// CertifiedKey is the key a certificate certifies (key itself when it is
// no certificate): what to trust for an operator who signs with one. A
// certificate listed as such matches no signature, and expires.
func CertifiedKey(key ssh.PublicKey) ssh.PublicKey {
	if c, ok := key.(*ssh.Certificate); ok {
		return c.Key
	}
	return key
}

// ParseAllowedSigners reads Git's allowed-signers format; where names the
// source in errors.
func ParseAllowedSigners(data []byte, where string) ([]AllowedSigner, error) {
	var out []AllowedSigner
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		principal, rest, _ := strings.Cut(line, " ")
		pub, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(rest))
		if err != nil {
			return nil, fmt.Errorf("store: %s line %d: %w", where, n+1, err)
		}
		out = append(out, AllowedSigner{Principal: principal, Options: strings.Join(opts, ","), Key: pub})
	}
	return out, nil
}

// FormatAllowedSigners writes list in Git's allowed-signers format.
func FormatAllowedSigners(list []AllowedSigner) []byte {
	var b bytes.Buffer
	for _, a := range list {
		b.WriteString(a.line() + "\n")
	}
	return b.Bytes()
}

// Allows reports whether list allows pub to sign: pub is listed, or pub
// is a certificate whose authority is.
func Allows(list []AllowedSigner, pub ssh.PublicKey) bool {
	key, ca := pub, ssh.PublicKey(nil)
	if c, ok := pub.(*ssh.Certificate); ok {
		key, ca = c.Key, c.SignatureKey
	}
	for _, a := range list {
		k := a.Key.Marshal()
		if bytes.Equal(k, key.Marshal()) || (ca != nil && bytes.Equal(k, ca.Marshal())) {
			return true
		}
	}
	return false
}

// TeamSigners is the team's allowed signers as this store trusts them:
// the list at SignersRef and that commit; ok false when the store keeps
// none there (a store from before the list travelled).
func (s *Store) TeamSigners() (list []AllowedSigner, tip ID, ok bool, err error) {
	tip, ok, err = s.ref(SignersRef)
	if err != nil || !ok {
		return nil, ZeroID, false, err
	}
	list, err = s.signersAt(tip)
	return list, tip, true, err
}

// signersAt reads the list signers commit id holds.
func (s *Store) signersAt(id ID) ([]AllowedSigner, error) {
	info, err := s.CommitInfo(id)
	if err != nil {
		return nil, err
	}
	entries, err := s.ReadTree(info.Tree)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.Name == AllowedSignersName && e.Mode == ModeFile {
			data, err := s.ReadBlob(e.ID)
			if err != nil {
				return nil, err
			}
			return ParseAllowedSigners(data, SignersRef.String()+" at "+id.Short())
		}
	}
	return nil, fmt.Errorf("store: %s at %s holds no %s", SignersRef, id.Short(), AllowedSignersName)
}

// localSigners is the operator's own allowed_signers file, as stores kept
// it before the list travelled through the remote.
func (s *Store) localSigners() ([]AllowedSigner, error) {
	if s.path == "" {
		return nil, nil
	}
	path := filepath.Join(s.path, AllowedSignersName)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return ParseAllowedSigners(data, path)
}

// ChangeSigners makes list the team's allowed signers: a commit on
// SignersRef signed by sign with pub, which the list it changes must
// allow. The first list (the chain's start) must allow pub itself, and
// also the store's own allowed_signers file when that lists keys. An
// unchanged list makes no commit.
func (s *Store) ChangeSigners(list []AllowedSigner, message string, sign SignCommit, pub ssh.PublicKey) (ID, error) {
	if len(list) == 0 {
		return ZeroID, errors.New("that would leave the team with no signers, and no one could change the list again: add another key first")
	}
	if sign == nil || pub == nil {
		return ZeroID, errors.New("no signing key was found to sign the change with: add your key to ssh-agent, or name one with DEPTOOL_SIGNING_KEY")
	}
	blob, err := s.WriteBlob(FormatAllowedSigners(list))
	if err != nil {
		return ZeroID, err
	}
	tree, err := s.WriteTree([]Entry{{Name: AllowedSignersName, Mode: ModeFile, ID: blob}})
	if err != nil {
		return ZeroID, err
	}
	id, err := s.update(SignersRef, true, func(old ID, ok bool) (ID, error) {
		var parents []ID
		allowed := list
		if ok {
			info, err := s.CommitInfo(old)
			if err != nil {
				return ZeroID, err
			}
			if info.Tree == tree {
				return old, nil
			}
			if allowed, err = s.signersAt(old); err != nil {
				return ZeroID, err
			}
			parents = []ID{old}
		} else if local, err := s.localSigners(); err != nil {
			return ZeroID, err
		} else if len(local) > 0 && !Allows(local, pub) {
			return ZeroID, fmt.Errorf("%s is not in the store's %s, so it cannot start the team's signers", ssh.FingerprintSHA256(pub), AllowedSignersName)
		}
		if !Allows(allowed, pub) {
			return ZeroID, fmt.Errorf("%s is not one of the team's signers, so it cannot change them: ask one of them to ('deptool signers' lists them)", ssh.FingerprintSHA256(pub))
		}
		return s.writeSignedCommit(tree, parents, message, Operator(), s.now(), sign)
	})
	if err != nil {
		return ZeroID, err
	}
	return id, s.writeSignersFile()
}

// writeSignersFile writes the team's list to the store's allowed_signers,
// the file stock Git reads (gpg.ssh.allowedSignersFile) to verify deploys.
func (s *Store) writeSignersFile() error {
	list, tip, ok, err := s.TeamSigners()
	if err != nil || !ok || s.path == "" {
		return err
	}
	head := fmt.Sprintf("# The team's signers, %s at %s, written by deptool: change them with\n# 'deptool signers add' or 'remove', not here.\n", SignersRef, tip.Short())
	return replaceFile(s.path, filepath.Join(s.path, AllowedSignersName), append([]byte(head), FormatAllowedSigners(list)...))
}

// SignersRefusal is a signers change from the remote that does not
// verify.
type SignersRefusal struct {
	// Commit is the remote's signers commit that was refused.
	Commit ID
	// Why names the commit of the chain at fault, and the key.
	Why string
}

func (r *SignersRefusal) Error() string {
	return fmt.Sprintf("%s (commit %s) does not verify: %s", SignersRef, r.Commit.Short(), r.Why)
}

// SignersNews says what a fetch did with the remote's signers.
type SignersNews struct {
	// Taken is the remote's signers commit this store now trusts; zero
	// when the list did not change.
	Taken ID
	// First is true when Taken starts this store's chain (a clone, or a
	// store from before the list travelled): its fingerprints are
	// trusted on first sight and must be printed.
	First bool
	// Dropped is a change made here that had not reached the remote
	// when the team's list changed there: it is lost and must be made
	// again.
	Dropped ID
	// Refused is set the first time a remote signers commit does not
	// verify.
	Refused *SignersRefusal
}

// integrateSigners takes the remote's signers when the chain from the
// list this store trusts to the remote's verifies, and refuses them
// otherwise, keeping its own.
func (s *Store) integrateSigners(base, theirs map[string]ID) (SignersNews, error) {
	var news SignersNews
	name := strings.TrimPrefix(SignersRef.String(), "refs/")
	remote := theirs[name]
	mine, ok, err := s.ref(SignersRef)
	if err != nil || remote.IsZero() || remote == mine || (ok && s.descends(mine, remote)) {
		return news, err
	}
	if refused, err := s.Config(signersRefusedOption); err != nil || refused == remote.String() {
		return news, err
	}
	var from ID
	var anchor []AllowedSigner
	switch b := base[name]; {
	case !ok:
		if anchor, err = s.localSigners(); err != nil {
			return news, err
		}
		news.First = true
	case s.descends(remote, mine):
		from = mine
	case !b.IsZero() && b != mine && s.descends(mine, b) && s.descends(remote, b):
		// Changed here and there since the last fetch: the team's
		// verified list wins, and this change is made again.
		from, news.Dropped = b, mine
	default:
		from = mine // fails: the remote's chain does not descend from ours
	}
	if err := s.verifySignersChain(from, remote, anchor); err != nil {
		var r *SignersRefusal
		if !errors.As(err, &r) {
			return SignersNews{}, err
		}
		return SignersNews{Refused: r}, s.setConfig(signersRefusedOption, remote.String())
	}
	if err := s.setRef(SignersRef, remote, mine); err != nil {
		return SignersNews{}, err
	}
	news.Taken = remote
	return news, s.writeSignersFile()
}

// verifySignersChain checks every signers commit after from up to to:
// each is signed by a key its parent's list allows. The chain's first
// commit (from zero) must be signed by a key anchor allows, or with no
// anchor, by one its own list allows (trust on first sight).
func (s *Store) verifySignersChain(from, to ID, anchor []AllowedSigner) error {
	refuse := func(format string, args ...any) error {
		return &SignersRefusal{Commit: to, Why: fmt.Sprintf(format, args...)}
	}
	var chain []ID
	for c := to; c != from; {
		info, err := s.CommitInfo(c)
		if err != nil {
			// Not a commit, or one the remote did not send: refused,
			// not an error that would stop every fetch.
			return refuse("%v", err)
		}
		if len(info.Parents) > 1 {
			return refuse("commit %s is a merge: the signers change one signed commit at a time", c.Short())
		}
		chain = append(chain, c)
		if len(info.Parents) == 0 {
			if !from.IsZero() {
				return refuse("it does not descend from %s, the signers this store trusts", from.Short())
			}
			break
		}
		c = info.Parents[0]
	}
	var prev []AllowedSigner // the list before c, read once
	for i := len(chain) - 1; i >= 0; i-- {
		c := chain[i]
		list, err := s.signersAt(c)
		if err != nil {
			return refuse("commit %s: %v", c.Short(), err)
		}
		if len(list) == 0 {
			return refuse("commit %s lists no signers", c.Short())
		}
		allowed, by := anchor, "this store's "+AllowedSignersName
		switch {
		case i+1 < len(chain):
			allowed, by = prev, "the list before it"
		case !from.IsZero():
			allowed, by = nil, "the list this store trusts"
			if allowed, err = s.signersAt(from); err != nil {
				return err
			}
		case len(anchor) == 0:
			allowed, by = list, "its own list"
		}
		prev = list
		pub, err := s.CommitSignature(c)
		if err != nil {
			return refuse("commit %s: %v", c.Short(), err)
		}
		if pub == nil {
			return refuse("commit %s is unsigned", c.Short())
		}
		if !Allows(allowed, pub) {
			return refuse("commit %s is signed by %s, which %s does not allow", c.Short(), ssh.FingerprintSHA256(pub), by)
		}
	}
	return nil
}

// pushableSigners reports whether the local signers may replace the
// remote's last fetched value: only a list that grew from it. A remote
// list this store refused, or one it never took, is left for the team to
// settle, not overwritten.
func (s *Store) pushableSigners(u refUpdate) bool {
	return u.name != strings.TrimPrefix(SignersRef.String(), "refs/") || u.from.IsZero() || s.descends(u.to, u.from)
}

// SignersVouchedBy reports whether a commit of the team's signers chain,
// as this store trusts it, is signed by the key with fingerprint fp (or
// a certificate of that key): a clone told a teammate's fingerprint
// out of band then knows the list is that teammate's, or grew from it by
// signed changes, and not one a forger started with keys of their own.
func (s *Store) SignersVouchedBy(fp string) (bool, error) {
	c, ok, err := s.ref(SignersRef)
	for err == nil && ok {
		var pub ssh.PublicKey
		if pub, err = s.CommitSignature(c); err != nil {
			return false, err
		}
		if pub != nil && ssh.FingerprintSHA256(CertifiedKey(pub)) == fp {
			return true, nil
		}
		var info CommitInfo
		if info, err = s.CommitInfo(c); err == nil && len(info.Parents) == 1 {
			c = info.Parents[0]
		} else {
			ok = false
		}
	}
	return false, err
}
