package diff

import (
	"fmt"
	"strings"

	"github.com/deptool/deptool/store"
	fdiff "github.com/go-git/go-git/v5/plumbing/format/diff"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Changes calls each, in plan order, once per group of hosts going from
// the same tree to the same tree, with the hosts' names and the patch
// between the two trees: equal trees make equal patches, so a group's is
// computed once, and each is let go before the next is made. Secrets are
// binary files in the patch, so that no display shows ciphertext.
func Changes(s *store.Store, p *Plan, each func(hosts []string, patch fdiff.Patch) error) error {
	for _, g := range sameChanges(p) {
		patch, err := hostPatch(s, g[0])
		if err != nil {
			return err
		}
		if err := each(hostNames(g), hideSecrets(patch)); err != nil {
			return err
		}
	}
	return nil
}

// hideSecrets shows secrets as binary files, so that an armored age file
// is named, not printed: a diff never shows ciphertext.
func hideSecrets(p *object.Patch) fdiff.Patch {
	fps := p.FilePatches()
	for i, fp := range fps {
		from, to := fp.Files()
		if IsSecret(changedPath(from, to)) {
			fps[i] = secretPatch{fp}
		}
	}
	return patchOf{fps, p.Message()}
}

type patchOf struct {
	fps []fdiff.FilePatch
	msg string
}

func (p patchOf) FilePatches() []fdiff.FilePatch { return p.fps }
func (p patchOf) Message() string                { return p.msg }

type secretPatch struct{ fdiff.FilePatch }

func (secretPatch) IsBinary() bool        { return true }
func (secretPatch) Chunks() []fdiff.Chunk { return nil }

// sameChanges groups the plan's hosts by the trees they go from and to,
// in plan order: equal trees make equal diffs, so each group's diff is
// computed once.
func sameChanges(p *Plan) [][]*HostPlan {
	type key struct{ from, to store.ID }
	var groups [][]*HostPlan
	at := map[key]int{}
	for i := range p.Hosts {
		h := &p.Hosts[i]
		k := key{h.From, h.To}
		if g, ok := at[k]; ok {
			groups[g] = append(groups[g], h)
			continue
		}
		at[k] = len(groups)
		groups = append(groups, []*HostPlan{h})
	}
	return groups
}

func hostNames(hs []*HostPlan) []string {
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.Host
	}
	return names
}

// hostPatch diffs a host's two trees with go-git, which skips subtrees
// whose ids are equal.
func hostPatch(s *store.Store, h *HostPlan) (*object.Patch, error) {
	from, err := gitTree(s, h.From)
	if err != nil {
		return nil, err
	}
	to, err := gitTree(s, h.To)
	if err != nil {
		return nil, err
	}
	changes, err := object.DiffTree(from, to)
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", h.Host, err)
	}
	patch, err := changes.Patch()
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", h.Host, err)
	}
	return patch, nil
}

// gitTree opens a tree; nil stands for the empty tree, which the store
// need not hold.
func gitTree(s *store.Store, id store.ID) (*object.Tree, error) {
	if id == store.EmptyTree || id.IsZero() {
		return nil, nil
	}
	t, err := object.GetTree(s.Objects(), id.Hash())
	if err != nil {
		return nil, fmt.Errorf("store: read tree %s: %w", id, err)
	}
	return t, nil
}

// FileStat is one changed file of a stat.
type FileStat struct {
	Path     string // host/app/path
	Add, Del int    // lines added and deleted
	Binary   bool
	// Secret is an age file: neither its lines nor its size are shown.
	Secret     bool
	From, Size int64 // sizes of a binary file before and after
}

// HostStats is the stat of a group of hosts with the same changes (as in
// Changes): the hosts in plan order, the first the one counted.
type HostStats struct {
	Hosts []string
	Files []FileStat
}

// Stats counts, per group of hosts with the same changes, the lines each
// changed file adds and deletes, like git diff --stat.
func Stats(s *store.Store, p *Plan) ([]HostStats, error) {
	var out []HostStats
	for _, g := range sameChanges(p) {
		h := g[0]
		patch, err := hostPatch(s, h)
		if err != nil {
			return nil, err
		}
		stats, err := patchStats(s, h.Host, patch)
		if err != nil {
			return nil, err
		}
		out = append(out, HostStats{Hosts: hostNames(g), Files: stats})
	}
	return out, nil
}

func patchStats(s *store.Store, host string, patch *object.Patch) ([]FileStat, error) {
	var stats []FileStat
	for _, fp := range patch.FilePatches() {
		from, to := fp.Files()
		st := FileStat{Path: host + "/" + changedPath(from, to), Binary: fp.IsBinary()}
		if IsSecret(st.Path) {
			st.Secret = true
			stats = append(stats, st)
			continue
		}
		if st.Binary {
			var err error
			if st.From, err = blobSize(s, from); err != nil {
				return nil, err
			}
			if st.Size, err = blobSize(s, to); err != nil {
				return nil, err
			}
		}
		for _, c := range fp.Chunks() {
			switch c.Type() {
			case fdiff.Add:
				st.Add += countLines(c.Content())
			case fdiff.Delete:
				st.Del += countLines(c.Content())
			}
		}
		stats = append(stats, st)
	}
	return stats, nil
}

func changedPath(from, to fdiff.File) string {
	if to != nil {
		return to.Path()
	}
	return from.Path()
}

func blobSize(s *store.Store, f fdiff.File) (int64, error) {
	if f == nil {
		return 0, nil
	}
	blob, err := object.GetBlob(s.Objects(), f.Hash())
	if err != nil {
		return 0, fmt.Errorf("store: read blob %s: %w", f.Hash(), err)
	}
	return blob.Size, nil
}

func countLines(s string) int {
	n := strings.Count(s, "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		n++
	}
	return n
}
