package deploy

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/deptool/deptool/store"
	"golang.org/x/crypto/ssh"
)

// Verdict is what the operator's side makes of a deploy commit's
// signature: history anyone who can push to the team's remote could have
// written is never offered to roll back to.
type Verdict struct {
	Signed bool
	// Key is the signing key's fingerprint, when signed.
	Key string
	// Problem says why the commit must not be used; "" when it may.
	Problem string
}

// Trust checks deploy commits against the store's allowed signers.
type Trust struct {
	s       *store.Store
	keys    []ssh.PublicKey
	require bool
	// covered are the unsigned commits a trusted signed deploy commit
	// has among its ancestors: history from before signing, which the
	// signature vouches for (a commit's id covers its parents'). nil
	// until needed.
	covered map[store.ID]bool
}

// NewTrust reads the store's allowed signers and its requireSignatures.
func NewTrust(s *store.Store) (*Trust, error) {
	keys, err := s.AllowedSigners()
	if err != nil {
		return nil, err
	}
	req, err := s.RequireSignatures()
	if err != nil {
		return nil, err
	}
	return &Trust{s: s, keys: keys, require: req}, nil
}

// Verify judges deploy commit id. Unsigned commits pass only in stores
// that do not require signatures (history from before signing).
func (t *Trust) Verify(id store.ID) Verdict {
	pub, err := t.s.CommitSignature(id)
	if err != nil {
		return Verdict{Signed: true, Problem: "its signature does not verify: " + err.Error()}
	}
	if pub == nil {
		if t.require {
			return Verdict{Problem: "it is unsigned, and this store requires signed deploys"}
		}
		if len(t.keys) > 0 {
			if err := t.cover(); err != nil {
				return Verdict{Problem: err.Error()}
			}
			if !t.covered[id] {
				return Verdict{Problem: "it is unsigned, and no signed deploy of the store's signers has it in its history"}
			}
		}
		return Verdict{}
	}
	key := pub
	var ca ssh.PublicKey
	if c, ok := pub.(*ssh.Certificate); ok {
		key, ca = c.Key, c.SignatureKey
	}
	v := Verdict{Signed: true, Key: ssh.FingerprintSHA256(key)}
	trusted := slices.ContainsFunc(t.keys, func(k ssh.PublicKey) bool {
		return bytes.Equal(k.Marshal(), key.Marshal()) || (ca != nil && bytes.Equal(k.Marshal(), ca.Marshal()))
	})
	// A store with no signers yet and no switch (from before signing)
	// has no anchor to judge by: it takes unsigned history too.
	if !trusted && (len(t.keys) > 0 || t.require) {
		v.Problem = fmt.Sprintf("it is signed by %s, which is not in the store's %s", v.Key, store.AllowedSignersName)
	}
	return v
}

// cover finds the unsigned history that trusted signed deploys vouch for.
func (t *Trust) cover() error {
	if t.covered != nil {
		return nil
	}
	t.covered = map[store.ID]bool{}
	main, ok, err := t.s.Main()
	if err != nil || !ok {
		return err
	}
	parents := map[store.ID][]store.ID{}
	var signed []store.ID
	queue := []store.ID{main}
	parents[main] = nil
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		info, err := t.s.CommitInfo(id)
		if err != nil {
			return err
		}
		parents[id] = info.Parents
		if pub, err := t.s.CommitSignature(id); err == nil && pub != nil && t.Verify(id).Problem == "" {
			signed = append(signed, id)
		}
		for _, p := range info.Parents {
			if _, ok := parents[p]; !ok {
				parents[p] = nil
				queue = append(queue, p)
			}
		}
	}
	for len(signed) > 0 {
		id := signed[len(signed)-1]
		signed = signed[:len(signed)-1]
		for _, p := range parents[id] {
			if !t.covered[p] {
				t.covered[p] = true
				signed = append(signed, p)
			}
		}
	}
	return nil
}

// Rejected is a deploy left out because it does not verify.
type Rejected struct {
	Commit store.ID
	Why    string
}

// TrustedVersions is DeployedVersions without the deploys that do not
// verify, which it returns apart so that they are reported, not offered.
func TrustedVersions(s *store.Store, hosts []string) ([]Entry, []Rejected, error) {
	entries, err := DeployedVersions(s, hosts)
	if err != nil {
		return nil, nil, err
	}
	t, err := NewTrust(s)
	if err != nil {
		return nil, nil, err
	}
	var rejected []Rejected
	entries = slices.DeleteFunc(entries, func(e Entry) bool {
		if v := t.Verify(e.Commit); v.Problem != "" {
			rejected = append(rejected, Rejected{Commit: e.Commit, Why: v.Problem})
			return true
		}
		return false
	})
	return entries, rejected, nil
}
