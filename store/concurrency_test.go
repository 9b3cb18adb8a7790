package store

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// checkHistory asserts main is one chain with a single root that holds
// every commit in made, and returns its length.
func checkHistory(t *testing.T, s *Store, made []ID) int {
	t.Helper()
	hist, err := s.History(0)
	if err != nil {
		t.Fatal(err)
	}
	on := map[ID]bool{}
	roots := 0
	for _, c := range hist {
		on[c.ID] = true
		if len(c.Parents) == 0 {
			roots++
		}
	}
	if roots != 1 {
		t.Errorf("main has %d roots, want 1", roots)
	}
	lost := 0
	for _, id := range made {
		if !on[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d commits made are not on main (main has %d)", lost, len(made), len(hist))
	}
	// Plain Git agrees, and finds no second root anywhere in main.
	out, err := exec.Command("git", "--git-dir", s.Path(), "rev-list", "--max-parents=0", "main").Output()
	if err != nil {
		t.Fatalf("git rev-list: %v", err)
	}
	if n := len(strings.Fields(string(out))); n != 1 {
		t.Errorf("git finds %d roots of main", n)
	}
	return len(hist)
}

// Two handles on one store on disk behave as two processes do: nothing in
// memory is shared. Every commit made must stay on main, and so must every
// outcome note, while readers list refs all along.
func TestConcurrentCommitsKeepEveryCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".deptool")
	a, err := testInit(t, path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 25
	var mu sync.Mutex
	var made []ID
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*3+1)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(1)
	go func() { // a reader: never sees a torn or missing ref
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, _, err := b.Main(); err != nil {
				errs <- fmt.Errorf("read main: %w", err)
				return
			}
			if _, err := b.HostRefs(); err != nil {
				errs <- fmt.Errorf("list host refs: %w", err)
				return
			}
		}
	}()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := []*Store{a, b}[w%2]
			host := fmt.Sprintf("host%d", w)
			for i := range each {
				id, err := s.Commit(EmptyTree, fmt.Sprintf("deploy %d.%d", w, i), "op@x", t0)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				made = append(made, id)
				mu.Unlock()
				hc, err := s.CommitHost(host, EmptyTree, id, "op@x", t0)
				if err == nil {
					err = s.SetHostRef(host, hc)
				}
				if err == nil {
					err = s.RecordOutcomes(id, []byte(host), "op@x", t0)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := checkHistory(t, a, made); n != writers*each {
		t.Errorf("main has %d commits, want %d", n, writers*each)
	}
	for _, id := range made {
		if _, ok, err := b.Outcomes(id); err != nil || !ok {
			t.Errorf("outcome of %s lost: %v", id, err)
		}
	}
}

// committerEnv turns the test binary into a committer process, for
// TestTwoProcessesCommitToOneStore.
const committerEnv = "DEPTOOL_TEST_COMMITTER"

func init() {
	spec := os.Getenv(committerEnv)
	if spec == "" {
		return
	}
	// path,name,count: commit count times to the store at path.
	parts := strings.Split(spec, ",")
	n, _ := strconv.Atoi(parts[2])
	s, err := Open(parts[0])
	if err == nil {
		for i := range n {
			var id ID
			if id, err = s.Commit(EmptyTree, fmt.Sprintf("%s %d", parts[1], i), "op@x", t0); err != nil {
				break
			}
			fmt.Println(id)
			if err = s.RecordOutcomes(id, []byte(parts[1]), "op@x", t0); err != nil {
				break
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Two real processes commit to one store at once: the lock between them is
// the flock, not anything in memory.
func TestTwoProcessesCommitToOneStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".deptool")
	s, err := testInit(t, path)
	if err != nil {
		t.Fatal(err)
	}
	const each = 40
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for _, name := range []string{"p", "q", "r"} {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%s,%d", committerEnv, path, name, each))
		var out strings.Builder
		c.Stdout, c.Stderr = &out, &out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, c), append(outs, &out)
	}
	var made []ID
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("committer: %v: %s", err, outs[i])
		}
		for _, line := range strings.Fields(outs[i].String()) {
			id, err := s.Resolve(line)
			if err != nil {
				t.Fatal(err)
			}
			made = append(made, id)
		}
	}
	if n := checkHistory(t, s, made); n != 3*each {
		t.Errorf("main has %d commits, want %d", n, 3*each)
	}
	for _, id := range made {
		if _, ok, err := s.Outcomes(id); err != nil || !ok {
			t.Errorf("outcome of %s lost: %v", id, err)
		}
	}
}

func TestRefDamageIsAnErrorNamingTheFile(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"empty", "", "ref file is empty"},
		{"garbage", "not a commit\n", "not a commit id"},
		{"missing commit", strings.Repeat("ab", 20) + "\n", "which is not in the store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := initStore(t)
			if _, err := s.Commit(EmptyTree, "first", "op@x", t0); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(s.Path(), "refs", "heads", "main")
			t.Cleanup(func() { os.Remove(file) }) // the damage done on purpose, before git fsck
			if err := os.WriteFile(file, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := s.Main()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), file) {
				t.Errorf("Main() error = %v, want %q naming %s", err, tc.want, file)
			}
			// A damaged main is never extended: no new root.
			if _, err := s.Commit(EmptyTree, "second", "op@x", t0); err == nil {
				t.Errorf("Commit on a damaged main succeeded")
			}
			if data, _ := os.ReadFile(file); string(data) != tc.content {
				t.Errorf("main rewritten to %q", data)
			}
		})
	}
}

func TestHostRefDamageNamesTheFile(t *testing.T) {
	s := initStore(t)
	file := filepath.Join(s.Path(), "refs", "remotes", "web1")
	t.Cleanup(func() { os.Remove(file) }) // the damage done on purpose, before git fsck
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.HostRefs(); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("HostRefs() error = %v, want one naming %s", err, file)
	}
}

func TestMainOnlyGrows(t *testing.T) {
	s := initStore(t)
	first, _ := s.Commit(EmptyTree, "first", "op@x", t0)
	second, _ := s.Commit(EmptyTree, "second", "op@x", t0)
	other, err := s.writeCommit(EmptyTree, nil, "a root of its own", "op@x", t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []ID{first, other} {
		if err := s.setRef(MainRef, to, second); err != nil {
			t.Fatalf("setRef: %v", err)
		}
		// setRef is a plain compare-and-set; update with grow is what
		// main's writers use.
		s.writeRef(MainRef, second)
		_, err := s.update(MainRef, true, func(ID, bool) (ID, error) { return to, nil })
		if err == nil || !strings.Contains(err.Error(), "history only grows") {
			t.Errorf("moving main from second to %s: %v", to, err)
		}
	}
	if got, _, _ := s.Main(); got != second {
		t.Errorf("main = %s, want %s", got, second)
	}
}

func TestSetRefIsCompareAndSet(t *testing.T) {
	s := initStore(t)
	first, _ := s.Commit(EmptyTree, "first", "op@x", t0)
	second, _ := s.Commit(EmptyTree, "second", "op@x", t0)
	err := s.setRef(pinRefs+"web1", second, first) // not at first: absent
	if !errors.Is(err, ErrRefMoved) {
		t.Errorf("setRef from a stale old = %v, want ErrRefMoved", err)
	}
}

func TestDeployLockNamesItsHolder(t *testing.T) {
	s := initStore(t)
	other, err := Open(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 12, 1, 21, 50, 3, 0, time.UTC)
	l, err := s.Lock("deptool deploy --limit web1", "alice@ops1", since)
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Lock("deptool deploy --limit db1", "bob@ops1", since)
	var busy *BusyError
	if !errors.As(err, &busy) || !errors.Is(err, ErrBusy) {
		t.Fatalf("second Lock = %v, want a BusyError", err)
	}
	for _, want := range []string{"deptool deploy --limit web1", fmt.Sprintf("pid %d", os.Getpid()), "alice@ops1", "2026-12-01 21:50:03 UTC", "wait for it to finish"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("busy error %q does not say %q", err, want)
		}
	}
	l.Unlock()
	l2, err := other.Lock("deptool deploy --limit db1", "bob@ops1", since)
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	l2.Unlock()
}
