package store

import (
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// OutcomesRef holds what happened on each host per deploy, as Git notes on
// the deploy commits: `git notes --ref deptool show <deploy>` prints them,
// and they travel with the store to any clone that fetches notes.
const OutcomesRef = plumbing.ReferenceName("refs/notes/deptool")

// RecordOutcomes attaches note (JSON, by convention) to deploy commit
// deploy, replacing any earlier note on it. Notes are a commit chain of
// their own, so the record is as forward-only as main.
func (s *Store) RecordOutcomes(deploy ID, note []byte, operator string, when time.Time) error {
	blob, err := s.WriteBlob(note)
	if err != nil {
		return err
	}
	// Read, extend and move the notes in one step under the refs lock, so
	// a note recorded at the same time by another deptool is kept.
	_, err = s.update(OutcomesRef, true, func(parent ID, ok bool) (ID, error) {
		var entries []Entry
		var parents []ID
		if ok {
			parents = []ID{parent}
			info, err := s.CommitInfo(parent)
			if err != nil {
				return ZeroID, err
			}
			if entries, err = s.ReadTree(info.Tree); err != nil {
				return ZeroID, err
			}
		}
		entries = replaceEntry(entries, Entry{Name: deploy.String(), Mode: ModeFile, ID: blob})
		tree, err := s.WriteTree(entries)
		if err != nil {
			return ZeroID, err
		}
		return s.writeCommit(tree, parents, "outcomes of deploy "+deploy.String()[:12]+"\n", operator, when)
	})
	return err
}

// Outcomes returns the note recorded for deploy, if any.
func (s *Store) Outcomes(deploy ID) ([]byte, bool, error) {
	head, ok, err := s.ref(OutcomesRef)
	if err != nil || !ok {
		return nil, false, err
	}
	info, err := s.CommitInfo(head)
	if err != nil {
		return nil, false, err
	}
	entries, err := s.ReadTree(info.Tree)
	if err != nil {
		return nil, false, err
	}
	for _, e := range entries {
		if e.Name == deploy.String() {
			data, err := s.ReadBlob(e.ID)
			return data, err == nil, err
		}
	}
	return nil, false, nil
}

func replaceEntry(entries []Entry, e Entry) []Entry {
	for i := range entries {
		if entries[i].Name == e.Name {
			entries[i] = e
			return entries
		}
	}
	return append(entries, e)
}
