package ui

import (
	"fmt"
	"io"
	"strings"

	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
	fdiff "github.com/go-git/go-git/v5/plumbing/format/diff"
)

// PrintDiff writes, for every host in the plan, the unified diff between
// the tree the host last accepted and the desired one, with paths like
// a/web1/nginx/nginx.conf. Binary files are named, not shown. Hosts going
// from the same tree to the same tree have the same diff: it is shown
// once, for the first of them, under a line naming them all.
func PrintDiff(w io.Writer, s *store.Store, p *diff.Plan, color bool) error {
	return diff.Changes(s, p, func(hosts []string, patch fdiff.Patch) error {
		if len(hosts) > 1 {
			if _, err := fmt.Fprintf(w, "# %s: the same changes, shown for %s\n", CompactHosts(hosts), hosts[0]); err != nil {
				return err
			}
		}
		enc := fdiff.NewUnifiedEncoder(w, fdiff.DefaultContextLines).
			SetSrcPrefix("a/" + hosts[0] + "/").
			SetDstPrefix("b/" + hosts[0] + "/")
		if color {
			enc.SetColor(fdiff.NewColorConfig())
		}
		return enc.Encode(patch)
	})
}

// PrintStat writes, per host in the plan, one line per changed file with
// the number of changed lines, like git diff --stat, and a summary line;
// hosts with the same changes share one, as in PrintDiff.
func PrintStat(w io.Writer, s *store.Store, p *diff.Plan, color bool) error {
	groups, err := diff.Stats(s, p)
	if err != nil {
		return err
	}
	var b strings.Builder
	for i, g := range groups {
		if i > 0 {
			b.WriteString("\n")
		}
		if len(g.Hosts) > 1 {
			fmt.Fprintf(&b, " %s: the same changes, shown for %s\n", CompactHosts(g.Hosts), g.Hosts[0])
		}
		writeStat(&b, g.Files, color)
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// statBarWidth caps the +- bar, as git does for an 80-column terminal.
const statBarWidth = 50

func writeStat(b *strings.Builder, stats []diff.FileStat, color bool) {
	nameWidth, countWidth, most := 0, 1, 0
	adds, dels := 0, 0
	for _, st := range stats {
		nameWidth = max(nameWidth, len(show(st.Path)))
		if !st.Binary && !st.Secret {
			countWidth = max(countWidth, len(fmt.Sprint(st.Add+st.Del)))
			most = max(most, st.Add+st.Del)
		}
		adds += st.Add
		dels += st.Del
	}
	for _, st := range stats {
		fmt.Fprintf(b, " %-*s | ", nameWidth, show(st.Path))
		if st.Secret {
			b.WriteString("secret\n")
			continue
		}
		if st.Binary {
			fmt.Fprintf(b, "Bin %d -> %d bytes\n", st.From, st.Size)
			continue
		}
		plus, minus := scaleBar(st.Add, most), scaleBar(st.Del, most)
		bar := paint(strings.Repeat("+", plus), green, color) + paint(strings.Repeat("-", minus), red, color)
		fmt.Fprintf(b, "%*d", countWidth, st.Add+st.Del)
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
