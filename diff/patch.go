package diff

import (
	"fmt"
	"io"
	"strings"

	"github.com/deptool/deptool/store"
	fdiff "github.com/go-git/go-git/v5/plumbing/format/diff"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// RenderDiff writes, for every host in the plan, the unified diff between
// the tree the host last accepted and the desired one, with paths like
// a/web1/nginx/nginx.conf. Binary files are named, not shown. Hosts going
// from the same tree to the same tree have the same diff: it is shown
// once, for the first of them, under a line naming them all.
func RenderDiff(w io.Writer, s *store.Store, p *Plan, color bool) error {
	for _, g := range sameChanges(p) {
		h := g[0]
		patch, err := hostPatch(s, h)
		if err != nil {
			return err
		}
		if len(g) > 1 {
			if _, err := fmt.Fprintf(w, "# %s: the same changes, shown for %s\n", CompactHosts(hostNames(g)), h.Host); err != nil {
				return err
			}
		}
		enc := fdiff.NewUnifiedEncoder(w, fdiff.DefaultContextLines).
			SetSrcPrefix("a/" + h.Host + "/").
			SetDstPrefix("b/" + h.Host + "/")
		if color {
			enc.SetColor(fdiff.NewColorConfig())
		}
		if err := enc.Encode(hideSecrets(patch)); err != nil {
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

// fileStat is one line of a stat.
type fileStat struct {
	path       string
	add, del   int
	binary     bool
	secret     bool  // an age file: neither its lines nor its size are shown
	from, size int64 // sizes of a binary file before and after
}

// RenderStat writes, per host in the plan, one line per changed file with
// the number of changed lines, like git diff --stat, and a summary line;
// hosts with the same changes share one, as in RenderDiff.
func RenderStat(w io.Writer, s *store.Store, p *Plan, color bool) error {
	var b strings.Builder
	for i, g := range sameChanges(p) {
		h := g[0]
		patch, err := hostPatch(s, h)
		if err != nil {
			return err
		}
		stats, err := patchStats(s, h.Host, patch)
		if err != nil {
			return err
		}
		if i > 0 {
			b.WriteString("\n")
		}
		if len(g) > 1 {
			fmt.Fprintf(&b, " %s: the same changes, shown for %s\n", CompactHosts(hostNames(g)), h.Host)
		}
		writeStat(&b, stats, color)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func patchStats(s *store.Store, host string, patch *object.Patch) ([]fileStat, error) {
	var stats []fileStat
	for _, fp := range patch.FilePatches() {
		from, to := fp.Files()
		st := fileStat{path: host + "/" + changedPath(from, to), binary: fp.IsBinary()}
		if IsSecret(st.path) {
			st.secret = true
			stats = append(stats, st)
			continue
		}
		if st.binary {
			var err error
			if st.from, err = blobSize(s, from); err != nil {
				return nil, err
			}
			if st.size, err = blobSize(s, to); err != nil {
				return nil, err
			}
		}
		for _, c := range fp.Chunks() {
			switch c.Type() {
			case fdiff.Add:
				st.add += countLines(c.Content())
			case fdiff.Delete:
				st.del += countLines(c.Content())
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

// statBarWidth caps the +- bar, as git does for an 80-column terminal.
const statBarWidth = 50

func writeStat(b *strings.Builder, stats []fileStat, color bool) {
	nameWidth, countWidth, most := 0, 1, 0
	adds, dels := 0, 0
	for _, st := range stats {
		nameWidth = max(nameWidth, len(show(st.path)))
		if !st.binary && !st.secret {
			countWidth = max(countWidth, len(fmt.Sprint(st.add+st.del)))
			most = max(most, st.add+st.del)
		}
		adds += st.add
		dels += st.del
	}
	for _, st := range stats {
		fmt.Fprintf(b, " %-*s | ", nameWidth, show(st.path))
		if st.secret {
			b.WriteString("secret\n")
			continue
		}
		if st.binary {
			fmt.Fprintf(b, "Bin %d -> %d bytes\n", st.from, st.size)
			continue
		}
		plus, minus := scaleBar(st.add, most), scaleBar(st.del, most)
		bar := paint(strings.Repeat("+", plus), green, color) + paint(strings.Repeat("-", minus), red, color)
		fmt.Fprintf(b, "%*d", countWidth, st.add+st.del)
		if bar != "" {
			b.WriteString(" " + bar)
		}
		b.WriteString("\n")
	}
	b.WriteString(statSummary(len(stats), adds, dels) + "\n")
}

// scaleBar shrinks n when the largest change would overflow the bar, and
// keeps every non-zero count visible.
func scaleBar(n, most int) int {
	if most <= statBarWidth || n == 0 {
		return n
	}
	return n*(statBarWidth-1)/most + 1
}

func paint(s, col string, color bool) string {
	if !color || s == "" {
		return s
	}
	return col + s + reset
}

// statSummary follows git: insertions and deletions are both shown unless
// one of them is zero and the other is not.
func statSummary(files, adds, dels int) string {
	s := fmt.Sprintf(" %d %s changed", files, plural(files, "file", "files"))
	if adds > 0 || dels == 0 {
		s += fmt.Sprintf(", %d %s(+)", adds, plural(adds, "insertion", "insertions"))
	}
	if dels > 0 || adds == 0 {
		s += fmt.Sprintf(", %d %s(-)", dels, plural(dels, "deletion", "deletions"))
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
