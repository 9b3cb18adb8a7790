package diff

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/deptool/deptool/store"
	"github.com/google/go-cmp/cmp"
)

// fileState is what the host holds at one path.
type fileState struct {
	ID   store.ID
	Mode Mode
}

// randomHost makes a host's files: a few apps of nested files, with names
// from a tiny alphabet so that paths collide across trees (a file in one
// tree is a directory in the other, and so on).
func randomHost(r *rand.Rand) map[string]file {
	files := map[string]file{}
	for range r.Intn(4) {
		app := "app" + randomName(r)
		for range 1 + r.Intn(6) {
			files[app+"/"+randomPath(r)] = randomFile(r)
		}
	}
	return prune(files)
}

func randomName(r *rand.Rand) string {
	const alphabet = "abc"
	n := 1 + r.Intn(2)
	var b strings.Builder
	for range n {
		b.WriteByte(alphabet[r.Intn(len(alphabet))])
	}
	return b.String()
}

func randomPath(r *rand.Rand) string {
	parts := make([]string, 1+r.Intn(3))
	for i := range parts {
		parts[i] = randomName(r)
	}
	return strings.Join(parts, "/")
}

func randomFile(r *rand.Rand) file {
	return file{data: fmt.Sprint(r.Intn(4)), exec: r.Intn(4) == 0}
}

// mutate derives a new host from an old one: edits, mode flips, removals,
// additions, whole apps dropped or added.
func mutate(r *rand.Rand, old map[string]file) map[string]file {
	if r.Intn(8) == 0 {
		return randomHost(r) // unrelated trees are a case too
	}
	files := map[string]file{}
	for p, f := range old {
		switch r.Intn(6) {
		case 0: // removed
		case 1:
			files[p] = randomFile(r)
		case 2:
			f.exec = !f.exec
			files[p] = f
		default:
			files[p] = f
		}
	}
	for range r.Intn(4) {
		app := "app" + randomName(r)
		files[app+"/"+randomPath(r)] = randomFile(r)
	}
	return prune(files)
}

// prune drops paths that lie below another path that is a file: a tree
// cannot hold both a/b as a file and a/b/c.
func prune(files map[string]file) map[string]file {
	for p := range files {
		for dir := p; strings.Contains(dir, "/"); {
			dir = dir[:strings.LastIndexByte(dir, '/')]
			if _, ok := files[dir]; ok {
				delete(files, p)
				break
			}
		}
	}
	return files
}

func withHost(host string, files map[string]file) map[string]file {
	out := map[string]file{}
	for p, f := range files {
		out[host+"/"+p] = f
	}
	if len(files) == 0 {
		out[host+"/"] = file{}
	}
	return out
}

// hostFiles reads every file a host tree holds, by "app/path".
func hostFiles(t *testing.T, s *store.Store, tree store.ID) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	var walk func(id store.ID, prefix string)
	walk = func(id store.ID, prefix string) {
		entries, err := readTree(s, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() {
				walk(e.ID, prefix+e.Name+"/")
			} else {
				out[prefix+e.Name] = fileState{e.ID, Mode(e.Mode)}
			}
		}
	}
	walk(tree, "")
	return out
}

// apply plays a host plan's file changes on files, checking each change
// is consistent with what is there.
func apply(t *testing.T, files map[string]fileState, hp *HostPlan) {
	t.Helper()
	for _, a := range hp.Apps {
		for _, f := range a.Files {
			p := a.App + "/" + f.Path
			cur, exists := files[p]
			switch f.Op {
			case Add:
				if exists || a.Action == Remove {
					t.Fatalf("%s: + on an existing file, or in a removed app", p)
				}
				files[p] = fileState{f.New, f.NewMode}
			case Update:
				if !exists || cur != (fileState{f.Old, f.OldMode}) || a.Action != Update {
					t.Fatalf("%s: ~ from %v but the host has %v (exists %v)", p, fileState{f.Old, f.OldMode}, cur, exists)
				}
				if f.Old == f.New && f.OldMode == f.NewMode {
					t.Fatalf("%s: ~ that changes nothing", p)
				}
				files[p] = fileState{f.New, f.NewMode}
			case Remove:
				if !exists || cur != (fileState{f.Old, f.OldMode}) || a.Action == Add {
					t.Fatalf("%s: - of %v but the host has %v (exists %v)", p, fileState{f.Old, f.OldMode}, cur, exists)
				}
				delete(files, p)
			default:
				t.Fatalf("%s: unknown op %q", p, f.Op)
			}
		}
	}
}

func TestPropertyApplyingThePlanYieldsTheNewTree(t *testing.T) {
	hosts := []string{"h1", "h2", "h3"}
	ops := map[Action]int{}
	for seed := int64(1); seed <= 400; seed++ {
		r := rand.New(rand.NewSource(seed))
		s := store.OpenMemory()
		old, cur := map[string]file{}, map[string]file{}
		for _, h := range hosts {
			o := randomHost(r)
			n := mutate(r, o)
			for p, f := range withHost(h, o) {
				old[p] = f
			}
			for p, f := range withHost(h, n) {
				cur[p] = f
			}
		}
		oldTree := buildFiles(t, s, old)
		deploy(t, s, oldTree, hosts...)
		newTree := buildFiles(t, s, cur)

		p := mustPlan(t, s, newTree, PlanOptions{})
		if again := mustPlan(t, s, newTree, PlanOptions{}); !cmp.Equal(p, again) {
			t.Fatalf("seed %d: two plans of the same trees differ", seed)
		}
		planned := map[string]*HostPlan{}
		for i := range p.Hosts {
			planned[p.Hosts[i].Host] = &p.Hosts[i]
		}
		for _, h := range hosts {
			before := hostFiles(t, s, subtreeOrEmpty(t, s, oldTree, h))
			want := hostFiles(t, s, subtreeOrEmpty(t, s, newTree, h))
			if hp := planned[h]; hp != nil {
				apply(t, before, hp)
				for _, a := range hp.Apps {
					for _, f := range a.Files {
						ops[f.Op]++
					}
				}
			}
			if d := cmp.Diff(want, before); d != "" {
				t.Fatalf("seed %d, host %s: the old files with the plan applied differ from the new files (-want +got):\n%s", seed, h, d)
			}
		}
	}
	// The generator must exercise every kind of change, or this proves little.
	for _, op := range []Action{Add, Update, Remove} {
		if ops[op] < 100 {
			t.Errorf("only %d file changes of kind %s across all seeds", ops[op], op)
		}
	}
}

func subtreeOrEmpty(t *testing.T, s *store.Store, tree store.ID, name string) store.ID {
	entries, err := s.ReadTree(tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name == name {
			return e.ID
		}
	}
	return store.EmptyTree
}
