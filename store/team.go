package store

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// ConfigRef holds what a team's clones share beyond records: a commit
// whose tree has a file "cluster" naming the default cluster directory,
// relative to the directory that holds the store. A ref to a commit, not
// Git config, because config does not travel with fetch and push.
const ConfigRef plumbing.ReferenceName = "refs/deptool/config"

// sharedClusterFile is ConfigRef's file naming the default cluster.
const sharedClusterFile = "cluster"

// PublishDefaultCluster records the store's default cluster in ConfigRef,
// for clones to take (the next push sends it). A cluster outside the
// directory holding the store names no place a clone has: it is not
// published, and published is false.
func (s *Store) PublishDefaultCluster() (published bool, err error) {
	cfg, err := s.Config("cluster")
	if err != nil || cfg == "" {
		return false, err
	}
	rel := filepath.ToSlash(filepath.Clean(cfg))
	if filepath.IsAbs(cfg) || rel == ".." || strings.HasPrefix(rel, "../") {
		return false, nil
	}
	blob, err := s.WriteBlob([]byte(rel + "\n"))
	if err != nil {
		return false, err
	}
	tree, err := s.WriteTree([]Entry{{Name: sharedClusterFile, Mode: ModeFile, ID: blob}})
	if err != nil {
		return false, err
	}
	_, err = s.update(ConfigRef, false, func(old ID, ok bool) (ID, error) {
		if ok {
			if info, err := s.CommitInfo(old); err == nil && info.Tree == tree {
				return old, nil // unchanged: no new commit to push
			}
		}
		var parents []ID
		if ok {
			parents = []ID{old}
		}
		return s.writeCommit(tree, parents, "default cluster: "+rel+"\n", Operator(), s.now())
	})
	return err == nil, err
}

// SharedCluster returns the default cluster the team's remote names (as
// fetched last), relative to the directory holding the store; ok false
// when it names none.
func (s *Store) SharedCluster() (dir string, ok bool, err error) {
	id, ok, err := s.ref(ConfigRef)
	if err != nil || !ok {
		return "", false, err
	}
	info, err := s.CommitInfo(id)
	if err != nil {
		return "", false, err
	}
	entries, err := s.ReadTree(info.Tree)
	if err != nil {
		return "", false, err
	}
	for _, e := range entries {
		if e.Name != sharedClusterFile {
			continue
		}
		data, err := s.ReadBlob(e.ID)
		if err != nil {
			return "", false, err
		}
		dir = strings.TrimSpace(string(data))
		rel := filepath.Clean(dir)
		if dir == "" || filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
			return "", false, fmt.Errorf("store: %s names the default cluster %q: want a directory inside the clone; pass --cluster", ConfigRef, dir)
		}
		return rel, true, nil
	}
	return "", false, nil
}

// RemoteState compares the store with what the last exchange with its
// remote saw.
type RemoteState struct {
	// Ahead counts the commits on main the remote lacks; Behind the ones
	// on the remote's main this store lacks.
	Ahead  int `json:"ahead"`
	Behind int `json:"behind"`
	// Refs counts the host refs and pins whose local value differs from
	// the remote's.
	Refs int `json:"refs"`
}

// InStep reports whether the store and the remote hold the same records.
func (r RemoteState) InStep() bool { return r.Ahead == 0 && r.Behind == 0 && r.Refs == 0 }

// CompareRemote compares the local main, host refs and pins with the
// remote's as last fetched (or pushed): it needs no network, so offline it
// says what the next exchange will send, as of the last one.
func (s *Store) CompareRemote() (RemoteState, error) {
	var st RemoteState
	tracking, err := s.refsUnder(trackingPrefix)
	if err != nil {
		return st, err
	}
	local, _, err := s.readRef(MainRef)
	if err != nil {
		return st, err
	}
	remote := tracking[strings.TrimPrefix(MainRef.String(), "refs/")]
	mine, err := s.reachable(local)
	if err != nil {
		return st, err
	}
	theirs, err := s.reachable(remote)
	if err != nil {
		return st, err
	}
	for id := range mine {
		if !theirs[id] {
			st.Ahead++
		}
	}
	for id := range theirs {
		if !mine[id] {
			st.Behind++
		}
	}
	for _, kind := range []string{"remotes/", "pins/"} {
		refs, err := s.refsUnder("refs/" + kind)
		if err != nil {
			return st, err
		}
		for name, id := range refs {
			if tracking[kind+name] != id {
				st.Refs++
			}
		}
		for name := range tracking {
			if rest, ok := strings.CutPrefix(name, kind); ok {
				if _, here := refs[rest]; !here {
					st.Refs++
				}
			}
		}
	}
	return st, nil
}

// reachable is the set of commits id and its ancestors (none for zero).
func (s *Store) reachable(id ID) (map[ID]bool, error) {
	seen := map[ID]bool{}
	if id.IsZero() {
		return seen, nil
	}
	queue := []ID{id}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if seen[c] {
			continue
		}
		seen[c] = true
		info, err := s.CommitInfo(c)
		if err != nil {
			return seen, err
		}
		queue = append(queue, info.Parents...)
	}
	return seen, nil
}
