package deploy

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/deptool/deptool/diff"

	"github.com/deptool/deptool/store"
	"github.com/go-git/go-git/v5/plumbing"
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
	// verdicts and trees are per deploy commit, for VerifyHost: the
	// hosts of one deploy share them.
	verdicts map[store.ID]Verdict
	trees    map[store.ID][]store.Entry
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

// VerifyHost judges host's record, host commit id (refs/remotes/<host>,
// which anyone who can push to the team's remote can move): it passes
// only as the host commit of a deploy that verifies, whose signed tree
// holds id's tree for host, the same proof a host asks for.
func (t *Trust) VerifyHost(host string, id store.ID) Verdict {
	// What the host itself said it runs, taken over a verified
	// connection, is the host's truth, whoever's deploy made it (another
	// store's, whose deploy commit this one lacks).
	if seen, ok, err := t.s.SeenOnHost(host); err == nil && ok && seen == id {
		return Verdict{}
	}
	info, err := t.s.CommitInfo(id)
	if err != nil {
		return Verdict{Problem: err.Error()}
	}
	// The trailer DeployOf reads, from the commit already read: a
	// record per host, and each read counts at 10,000 hosts.
	var dep store.ID
	for _, line := range strings.Split(info.Message, "\n") {
		if v, ok := strings.CutPrefix(line, "Deptool-Deploy: "); ok {
			dep = store.ID(plumbing.NewHash(strings.TrimSpace(v)))
		}
	}
	if dep.IsZero() {
		return Verdict{Problem: "it names no deploy commit"}
	}
	if t.verdicts == nil {
		t.verdicts, t.trees = map[store.ID]Verdict{}, map[store.ID][]store.Entry{}
	}
	v, seen := t.verdicts[dep]
	if !seen {
		if _, err := t.s.CommitInfo(dep); err != nil {
			v = Verdict{Problem: fmt.Sprintf("its deploy %s is not in this store", dep.Short())}
		} else if v = t.Verify(dep); v.Problem != "" {
			v.Problem = fmt.Sprintf("its deploy %s does not verify: %s", dep.Short(), v.Problem)
		}
		t.verdicts[dep] = v
	}
	if v.Problem != "" {
		return v
	}
	entries, seen := t.trees[dep]
	if !seen {
		d, err := t.s.CommitInfo(dep)
		if err == nil {
			entries, err = t.s.ReadTree(d.Tree)
		}
		if err != nil {
			return Verdict{Problem: err.Error()}
		}
		t.trees[dep] = entries
	}
	want := store.EmptyTree
	for _, e := range entries {
		if e.Name == host {
			want = e.ID
		}
	}
	if info.Tree != want {
		v.Problem = fmt.Sprintf("its tree is not what deploy %s holds for %s", dep.Short(), host)
	}
	return v
}

// Unverified is a record, or a deploy, left out because it does not
// verify: which ref, which commit, and why.
type Unverified struct {
	Ref    string   `json:"ref"`
	Commit store.ID `json:"commit"`
	Why    string   `json:"why"`
}

// String is the one line that reports it.
func (u Unverified) String() string {
	return fmt.Sprintf("%s (commit %s) does not verify: %s", u.Ref, u.Commit.Short(), u.Why)
}

// UnverifiedHosts are the hosts (all, when hosts is empty) whose record
// in the store does not verify: they are not planned against, and not
// counted as deployed, until 'deptool sync' takes the host's own.
func UnverifiedHosts(s *store.Store, hosts []string) (map[string]Unverified, error) {
	refs, err := s.HostRefs()
	if err != nil {
		return nil, err
	}
	t, err := NewTrust(s)
	if err != nil {
		return nil, err
	}
	out := map[string]Unverified{}
	if len(t.keys) == 0 && !t.require {
		// A store with no signers and no switch verifies nothing (a
		// store from before signing): its records are taken as they
		// were, and reading 10,000 of them would cost seconds.
		return out, nil
	}
	selected := map[string]bool{}
	for _, h := range hosts {
		selected[h] = true
	}
	for host, id := range refs {
		if len(hosts) > 0 && !selected[host] {
			continue
		}
		if v := t.VerifyHost(host, id); v.Problem != "" {
			out[host] = Unverified{Ref: "refs/remotes/" + host, Commit: id, Why: v.Problem}
		}
	}
	return out, nil
}

// CheckPlan refuses to plan desired against a host record that does
// not verify, for every host opts selects, up to date or not (a forged
// record is most often one that says "up to date"): one error naming
// each such host, its ref, its commit and why, and what to do.
func CheckPlan(s *store.Store, desired store.ID, opts diff.PlanOptions) error {
	bad, err := UnverifiedHosts(s, nil)
	if err != nil {
		return err
	}
	var names []string
	if desired != store.EmptyTree && !desired.IsZero() {
		entries, err := s.ReadTree(desired)
		if err != nil {
			return err
		}
		for _, e := range entries {
			names = append(names, e.Name)
		}
	}
	selected := names
	if len(opts.Limit) > 0 {
		if selected, err = diff.Select(names, opts.Groups, opts.Limit); err != nil {
			return err
		}
	}
	var hosts []string
	for _, h := range selected {
		if _, ok := bad[h]; ok && opts.Shard.Has(h) {
			hosts = append(hosts, h)
		}
	}
	// A pin is a ref anyone who can push may write too: one at a deploy
	// that does not verify is not honoured either.
	pins, err := s.Pins()
	if err != nil {
		return err
	}
	t, err := NewTrust(s)
	if err != nil {
		return err
	}
	for _, h := range selected {
		at, ok := pins[h]
		if !ok || !opts.Shard.Has(h) {
			continue
		}
		if _, dup := bad[h]; dup {
			continue
		}
		if v := t.Verify(at); v.Problem != "" {
			hosts = append(hosts, h)
			bad[h] = Unverified{Ref: "refs/pins/" + h, Commit: at, Why: v.Problem}
		}
	}
	if len(hosts) == 0 {
		return nil
	}
	slices.Sort(hosts)
	lines := make([]string, len(hosts))
	for i, h := range hosts {
		lines[i] = "  " + bad[h].String()
	}
	return fmt.Errorf("the store's record of %s does not verify, so nothing is planned against it; run 'deptool sync --limit %s' to take the host's own (or 'deptool unpin' for a pin):\n%s",
		strings.Join(hosts, ", "), strings.Join(hosts, ","), strings.Join(lines, "\n"))
}

// MarkUnverified marks the deploys among entries that do not verify and
// drops their outcomes: an outcome note is anyone's to write, so it is
// shown only for a deploy that verifies.
func MarkUnverified(s *store.Store, entries []Entry) error {
	t, err := NewTrust(s)
	if err != nil {
		return err
	}
	for i := range entries {
		e := &entries[i]
		if v := t.Verify(e.Commit); v.Problem != "" {
			e.Unverified, e.Hosts, e.Recorded = v.Problem, nil, false
		}
	}
	return nil
}
