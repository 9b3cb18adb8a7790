package store

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// History returns up to n deploy commits of main, newest first (n <= 0:
// all). Main only ever gains commits, so this is every deploy attempt,
// those other clones of the store made included: the merge commits that
// joined their histories are walked through, not listed.
func (s *Store) History(n int) ([]CommitInfo, error) {
	id, ok, err := s.Main()
	if err != nil || !ok {
		return nil, err
	}
	var out []CommitInfo
	seen := map[ID]bool{id: true}
	var queue []CommitInfo // newest last
	push := func(id ID) error {
		info, err := s.CommitInfo(id)
		if err != nil {
			return err
		}
		i, _ := slices.BinarySearchFunc(queue, info, func(a, b CommitInfo) int { return a.Time.Compare(b.Time) })
		queue = slices.Insert(queue, i, info)
		return nil
	}
	if err := push(id); err != nil {
		return nil, err
	}
	for len(queue) > 0 && (n <= 0 || len(out) < n) {
		info := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if len(info.Parents) < 2 {
			out = append(out, info)
		}
		for _, p := range info.Parents {
			if !seen[p] {
				seen[p] = true
				if err := push(p); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// Resolve turns a revision (a full or abbreviated commit id, main, main~2)
// into a commit id of this store.
func (s *Store) Resolve(rev string) (ID, error) {
	s.objMu.Lock()
	h, err := s.repo.ResolveRevision(plumbing.Revision(rev))
	s.objMu.Unlock()
	if err != nil {
		return ZeroID, fmt.Errorf("%q is not a commit in the store (try 'deptool log'): %w", rev, err)
	}
	return ID(*h), nil
}

// Config reads option key of the store's [deptool] Git config section.
func (s *Store) Config(key string) (string, error) {
	cfg, err := s.repo.Config()
	if err != nil {
		return "", fmt.Errorf("store: read config: %w", err)
	}
	return cfg.Raw.Section("deptool").Option(key), nil
}

// Keep is how many old checkouts per app hosts keep, from the store's
// config `deptool.keep` (git config); 0 when unset, which means the
// agent's default.
func (s *Store) Keep() (int, error) {
	v, err := s.Config("keep")
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("store: deptool.keep = %q: want a whole number of at least 1", v)
	}
	return n, nil
}

// Pin holds host at commit: plans leave it out until Unpin. Pins are refs,
// so they travel with the store to teammates. Only a deploy commit of
// main whose tree has the host can hold it: anything else (the outcome
// notes, a host commit, another clone's unrelated commit) would make a
// plan that pins a host at a version it never had.
func (s *Store) Pin(host string, commit ID) error {
	name, err := hostRef(pinRefs, host)
	if err != nil {
		return err
	}
	if err := s.mustBeDeployOf(host, commit); err != nil {
		return err
	}
	_, err = s.update(name, false, func(ID, bool) (ID, error) { return commit, nil })
	return err
}

// mustBeDeployOf refuses commit unless it is a deploy commit on main (not
// one of the merges that join clones' histories) whose tree holds host.
func (s *Store) mustBeDeployOf(host string, commit ID) error {
	main, ok, err := s.Main()
	if err != nil {
		return err
	}
	onMain := false
	if ok {
		reach, err := s.reachable(main)
		if err != nil {
			return err
		}
		onMain = reach[commit]
	}
	if !onMain {
		return fmt.Errorf("%s is not a deploy on main: a host is pinned at a deploy commit, as 'deptool log' lists them", commit.Short())
	}
	info, err := s.CommitInfo(commit)
	if err != nil {
		return err
	}
	if len(info.Parents) > 1 {
		return fmt.Errorf("%s joins two clones' histories and is no deploy: a host is pinned at a deploy commit, as 'deptool log' lists them", commit.Short())
	}
	entries, err := s.ReadTree(info.Tree)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name == host && e.Mode == ModeDir {
			return nil
		}
	}
	return fmt.Errorf("deploy %s has no host %s: pin it at a deploy whose config tree has it (see 'deptool log --limit %s')", commit.Short(), host, host)
}

// ErrNotPinned is returned by Unpin for a host that has no pin.
var ErrNotPinned = errors.New("not pinned")

// Unpin releases host's pin.
func (s *Store) Unpin(host string) error {
	name, err := hostRef(pinRefs, host)
	if err != nil {
		return err
	}
	if _, ok, err := s.readRef(name); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("host %s: %w", host, ErrNotPinned)
	}
	return s.removeRef(name)
}

// Pins returns every pinned host and the commit it is held at.
func (s *Store) Pins() (map[string]ID, error) {
	return s.refsUnder(pinRefs)
}

// SourceTrailer starts the line of a deploy commit's message naming the
// source-of-truth commit its tree was generated from.
const SourceTrailer = "Deptool-Source: "

// SourceIn finds the trailer line of message (SourceTrailer for the source
// commit) and returns its value; "" when message has none.
func SourceIn(message, trailer string) string {
	for _, line := range strings.Split(message, "\n") {
		if v, ok := strings.CutPrefix(line, trailer); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
