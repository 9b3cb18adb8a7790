// Package store is deptool's forward-only, content-addressed history: a bare
// Git repository. Every deploy attempt is a commit on refs/heads/main whose
// tree is the whole config tree; refs/remotes/<host> names the host commit
// that host last accepted. Nothing here talks to the network.
package store

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"
)

// ID names an object in the store: a Git object id. It is the one id type
// of every package: it prints as hex, in text and in JSON alike, so plans,
// notes and wire messages read like git output.
type ID plumbing.Hash

// ZeroID is the id of nothing: a host that has never been deployed.
var ZeroID ID

// String returns the id in hex.
func (id ID) String() string { return plumbing.Hash(id).String() }

// IsZero reports whether the id names nothing; `omitzero` relies on it.
func (id ID) IsZero() bool { return id == ZeroID }

// Short is the id's first 12 hex digits, as logs and plans show it.
func (id ID) Short() string { return id.String()[:12] }

// MarshalText writes the id as hex.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads a hex id.
func (id *ID) UnmarshalText(b []byte) error {
	if !plumbing.IsHash(string(b)) {
		return fmt.Errorf("object id %q: want 40 hex digits", b)
	}
	*id = ID(plumbing.NewHash(string(b)))
	return nil
}

// Hash is id as go-git takes it, for callers that use go-git directly on
// a store's repository (the agent's refs).
func (id ID) Hash() plumbing.Hash { return plumbing.Hash(id) }

func hashes(in []ID) []plumbing.Hash {
	out := make([]plumbing.Hash, len(in))
	for i, id := range in {
		out[i] = id.Hash()
	}
	return out
}

func ids(in []plumbing.Hash) []ID {
	out := make([]ID, len(in))
	for i, h := range in {
		out[i] = ID(h)
	}
	return out
}

// Modes of tree entries. Only these three occur in a config tree.
const (
	ModeFile       = filemode.Regular
	ModeExecutable = filemode.Executable
	ModeDir        = filemode.Dir
)

// MainRef is the cluster-wide history of deploy attempts.
const MainRef = plumbing.ReferenceName("refs/heads/main")

// ErrNoStore is returned by Open when there is no store at the path.
var ErrNoStore = errors.New("no deptool store")

// Entry is one name in a tree.
type Entry struct {
	Name string
	Mode filemode.FileMode
	ID   ID
}

// IsDir reports whether the entry is a directory (a subtree).
func (e Entry) IsDir() bool { return e.Mode == ModeDir }

// Store is an open store. Its methods are safe for concurrent use.
type Store struct {
	path    string // "" for an in-memory store
	repo    *git.Repository
	objects storage.Storer

	// objMu guards the object storage: go-git's storages are not safe for
	// concurrent use, not even for reads, and snapshots hash in parallel.
	objMu sync.Mutex
	// refMu makes this process's ref updates take turns; the refs lock
	// file does the same between processes (see refs.go).
	refMu sync.Mutex

	cacheMu sync.Mutex
	cache   *statCache
	// trees maps the tree ids of the last snapshot's directories to their
	// records in cache, which list the same entries: validation reads
	// every tree just hashed, and decoding a record is much cheaper than
	// inflating a loose object.
	trees map[ID][]byte

	now      func() time.Time             // the clock, replaced in tests
	readFile func(string) ([]byte, error) // replaced in tests to count reads
}

// Init creates a store at path, or opens the one already there.
func Init(path string) (*Store, error) {
	repo, err := git.PlainInit(path, true)
	if errors.Is(err, git.ErrRepositoryAlreadyExists) {
		return Open(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create store %s: %w", path, err)
	}
	// A fresh bare repository's HEAD names master; ours is main.
	head := plumbing.NewSymbolicReference(plumbing.HEAD, MainRef)
	if err := repo.Storer.SetReference(head); err != nil {
		return nil, fmt.Errorf("create store %s: %w", path, err)
	}
	return Open(path)
}

// Open opens the store at path.
func Open(path string) (*Store, error) {
	if _, err := git.PlainOpen(path); errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("%w at %s: run 'deptool init' first, or set DEPTOOL_STORE", ErrNoStore, path)
	} else if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// Opened again on a storage of our own, to set LargeObjectThreshold:
	// objects larger than largeObject are then read as streams, not into
	// memory (git.PlainOpen has no way to say so).
	st := filesystem.NewStorageWithOptions(osfs.New(path), cache.NewObjectLRUDefault(), filesystem.Options{LargeObjectThreshold: largeObject})
	repo, err := git.Open(st, nil)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := newStore(path, repo, st)
	s.cleanTemp(started, false)
	return s, nil
}

// OpenMemory returns an empty store that lives only in memory, for tests.
func OpenMemory() *Store {
	st := memory.NewStorage()
	repo, err := git.Init(st, nil)
	if err != nil {
		panic(err) // cannot fail on an empty memory storage
	}
	return newStore("", repo, st)
}

func newStore(path string, repo *git.Repository, objects storage.Storer) *Store {
	return &Store{path: path, repo: repo, objects: objects, now: time.Now, readFile: os.ReadFile}
}

// Path is the store's directory, or "" for an in-memory store.
func (s *Store) Path() string { return s.path }

// Repository exposes the underlying Git repository to the packages that move
// objects between stores (deploy's transfer code).
func (s *Store) Repository() *git.Repository { return s.repo }

// WriteBlob stores data and returns its id.
func (s *Store) WriteBlob(data []byte) (ID, error) {
	obj := &plumbing.MemoryObject{}
	obj.SetType(plumbing.BlobObject)
	if _, err := obj.Write(data); err != nil {
		return ZeroID, err
	}
	return s.put(obj)
}

// WriteTree stores a tree made of entries, which it sorts the way Git does.
func (s *Store) WriteTree(entries []Entry) (ID, error) {
	obj, err := encodeTree(entries)
	if err != nil {
		return ZeroID, err
	}
	return s.put(obj)
}

func (s *Store) put(obj plumbing.EncodedObject) (ID, error) {
	id := ID(obj.Hash())
	if s.Has(id) {
		return id, nil
	}
	s.objMu.Lock()
	defer s.objMu.Unlock()
	if _, err := s.objects.SetEncodedObject(obj); err != nil {
		s.cleanTemp(time.Now().Add(time.Second), true) // its own temp file
		return ZeroID, fmt.Errorf("store: write %s %s: %w", obj.Type(), id, err)
	}
	return id, nil
}

func encodeTree(entries []Entry) (*plumbing.MemoryObject, error) {
	sorted := make([]object.TreeEntry, len(entries))
	for i, e := range entries {
		sorted[i] = object.TreeEntry{Name: e.Name, Mode: e.Mode, Hash: e.ID.Hash()}
	}
	sortTreeEntries(sorted)
	obj := &plumbing.MemoryObject{}
	t := object.Tree{Entries: sorted}
	if err := t.Encode(obj); err != nil {
		return nil, fmt.Errorf("store: encode tree: %w", err)
	}
	return obj, nil
}

// sortTreeEntries orders entries as Git does: a directory sorts as if its
// name ended in a slash. Any other order yields a tree Git calls corrupt.
func sortTreeEntries(entries []object.TreeEntry) {
	slices.SortFunc(entries, func(a, b object.TreeEntry) int { return compareGit(a.Name, a.Mode, b.Name, b.Mode) })
}

func sortEntries(entries []Entry) {
	slices.SortFunc(entries, func(a, b Entry) int { return compareGit(a.Name, a.Mode, b.Name, b.Mode) })
}

func compareGit(a string, am filemode.FileMode, b string, bm filemode.FileMode) int {
	n := min(len(a), len(b))
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	return cmp.Compare(gitNameEnd(a, am, n), gitNameEnd(b, bm, n))
}

// gitNameEnd is the byte after a common prefix of length n: a directory's
// name goes on with a slash.
func gitNameEnd(name string, mode filemode.FileMode, n int) int {
	switch {
	case n < len(name):
		return int(name[n])
	case mode == filemode.Dir:
		return '/'
	}
	return -1
}

// ReadBlob returns the contents of a blob.
func (s *Store) ReadBlob(id ID) ([]byte, error) {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	obj, err := s.objects.EncodedObject(plumbing.BlobObject, id.Hash())
	if err != nil {
		return nil, fmt.Errorf("store: read blob %s: %w", id, err)
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("store: read blob %s: %w", id, err)
	}
	defer r.Close()
	data := make([]byte, obj.Size())
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("store: read blob %s: %w", id, err)
	}
	return data, nil
}

// ReadTree returns the entries of a tree in Git order.
func (s *Store) ReadTree(id ID) ([]Entry, error) {
	if id == EmptyTree {
		// Git knows the empty tree without storing it; so do we.
		return nil, nil
	}
	if entries, ok := s.snapshotTree(id); ok {
		return entries, nil
	}
	s.objMu.Lock()
	defer s.objMu.Unlock()
	t, err := object.GetTree(s.objects, id.Hash())
	if err != nil {
		return nil, fmt.Errorf("store: read tree %s: %w", id, err)
	}
	out := make([]Entry, len(t.Entries))
	for i, e := range t.Entries {
		out[i] = Entry{Name: e.Name, Mode: e.Mode, ID: ID(e.Hash)}
	}
	return out, nil
}

// Has reports whether the store holds the object.
func (s *Store) Has(id ID) bool {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	return s.objects.HasEncodedObject(id.Hash()) == nil
}

// EmptyTree is the id of the tree with no entries.
var EmptyTree = func() ID {
	obj, _ := encodeTree(nil)
	return ID(obj.Hash())
}()

// Operator names the person deploying, as user@hostname.
func Operator() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	return name + "@" + host
}

// CommitInfo describes one commit.
type CommitInfo struct {
	ID       ID
	Tree     ID
	Parents  []ID
	Operator string // user@hostname of whoever made it
	Time     time.Time
	Message  string
}

// Commit records tree as a new commit on refs/heads/main, with the current
// main as its parent. History only grows: a revert is a new commit whose tree
// equals an old one.
func (s *Store) Commit(tree ID, message, operator string, when time.Time) (ID, error) {
	// Reading main, making the commit and moving main are one step under
	// the refs lock: the new commit's parent is what main is when it moves.
	return s.update(MainRef, true, func(parent ID, ok bool) (ID, error) {
		var parents []ID
		if ok {
			parents = []ID{parent}
		}
		return s.writeCommit(tree, parents, message, operator, when)
	})
}

// CommitHost records a host commit: the tree of one host's subtree, made for
// deploy commit deploy. Its parent is the host's last accepted commit, so a
// host's own history is a chain that holds only that host's objects. It
// moves no ref: the deploy moves refs/remotes/<host> once the host accepts.
func (s *Store) CommitHost(host string, tree, deploy ID, operator string, when time.Time) (ID, error) {
	parent, ok, err := s.HostRef(host)
	if err != nil {
		return ZeroID, err
	}
	var parents []ID
	if ok {
		parents = []ID{parent}
	}
	msg := fmt.Sprintf("deploy %s to %s\n\nDeptool-Deploy: %s\n", deploy.String()[:12], host, deploy)
	return s.writeCommit(tree, parents, msg, operator, when)
}

// DeployOf returns the deploy commit a host commit was made for.
func (s *Store) DeployOf(hostCommit ID) (ID, bool, error) {
	info, err := s.CommitInfo(hostCommit)
	if err != nil {
		return ZeroID, false, err
	}
	for _, line := range strings.Split(info.Message, "\n") {
		if v, ok := strings.CutPrefix(line, "Deptool-Deploy: "); ok {
			return ID(plumbing.NewHash(strings.TrimSpace(v))), true, nil
		}
	}
	return ZeroID, false, nil
}

func (s *Store) writeCommit(tree ID, parents []ID, message, operator string, when time.Time) (ID, error) {
	if tree == EmptyTree {
		// Git reads the empty tree without its object, but git fsck
		// reports a commit naming it as missing a tree, and a remote
		// with receive.fsckObjects refuses it.
		if _, err := s.WriteTree(nil); err != nil {
			return ZeroID, err
		}
	}
	name, _, _ := strings.Cut(operator, "@")
	sig := object.Signature{Name: name, Email: operator, When: when}
	c := &object.Commit{Author: sig, Committer: sig, Message: message, TreeHash: tree.Hash(), ParentHashes: hashes(parents)}
	obj := &plumbing.MemoryObject{}
	if err := c.Encode(obj); err != nil {
		return ZeroID, fmt.Errorf("store: encode commit: %w", err)
	}
	return s.put(obj)
}

// ObjectMissing reports whether err says an object is not in the store.
func ObjectMissing(err error) bool { return errors.Is(err, plumbing.ErrObjectNotFound) }

// CommitInfo reads a commit.
func (s *Store) CommitInfo(id ID) (CommitInfo, error) {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	c, err := object.GetCommit(s.objects, id.Hash())
	if err != nil {
		return CommitInfo{}, fmt.Errorf("store: read commit %s: %w", id, err)
	}
	return CommitInfo{
		ID: ID(c.Hash), Tree: ID(c.TreeHash), Parents: ids(c.ParentHashes),
		Operator: c.Author.Email, Time: c.Author.When, Message: c.Message,
	}, nil
}

// Main returns the newest deploy commit; ok is false in a store that has none.
func (s *Store) Main() (id ID, ok bool, err error) { return s.ref(MainRef) }

// HostRef returns the host commit the host last accepted; ok is false for a
// host never deployed from this store.
func (s *Store) HostRef(host string) (id ID, ok bool, err error) {
	name, err := hostRef(hostRefs, host)
	if err != nil {
		return ZeroID, false, err
	}
	return s.ref(name)
}

// SetHostRef records that host accepted host commit id. A host's ref may
// move anywhere (a sync adopts what another store deployed), so this is no
// compare-and-set; deploys and syncs take the store's deploy lock.
func (s *Store) SetHostRef(host string, id ID) error {
	name, err := hostRef(hostRefs, host)
	if err != nil {
		return err
	}
	_, err = s.update(name, false, func(ID, bool) (ID, error) { return id, nil })
	return err
}

// SetHostRefFromHost records host commit id as what host itself said it
// runs, over a connection whose host key verified: its ref, and a local
// note of that (SeenOnHost) which the team remote never carries, so a
// record taken from the host stays trusted even when the deploy that made
// it is another store's.
func (s *Store) SetHostRefFromHost(host string, id ID) error {
	seen, err := hostRef(seenRefs, host)
	if err != nil {
		return err
	}
	if _, err := s.update(seen, false, func(ID, bool) (ID, error) { return id, nil }); err != nil {
		return err
	}
	return s.SetHostRef(host, id)
}

// SeenOnHost returns the host commit host itself last said it runs, as
// SetHostRefFromHost recorded it.
func (s *Store) SeenOnHost(host string) (id ID, ok bool, err error) {
	name, err := hostRef(seenRefs, host)
	if err != nil {
		return ZeroID, false, err
	}
	return s.ref(name)
}

// ForgetHost deletes host's ref: the host has no deptool state any more
// (its /var/lib/deptool was wiped), so the next plan treats it as new.
func (s *Store) ForgetHost(host string) error {
	name, err := hostRef(hostRefs, host)
	if err != nil {
		return err
	}
	if _, ok, err := s.readRef(name); err != nil || !ok {
		return err
	}
	return s.removeRef(name)
}

// HostRefs returns every host's ref, by host name.
func (s *Store) HostRefs() (map[string]ID, error) { return s.refsUnder(hostRefs) }

// HostTree returns the tree a host last accepted: its apps by name. A host
// never deployed has no apps.
func (s *Store) HostTree(host string) (ID, error) {
	id, ok, err := s.HostRef(host)
	if err != nil || !ok {
		return EmptyTree, err
	}
	info, err := s.CommitInfo(id)
	if err != nil {
		return ZeroID, fmt.Errorf("host %s: %w", host, err)
	}
	return info.Tree, nil
}

// DefaultCluster returns the cluster directory recorded by init, resolved
// against the directory that holds the store.
func (s *Store) DefaultCluster() (string, bool, error) {
	cfg, err := s.repo.Config()
	if err != nil {
		return "", false, fmt.Errorf("store: read config: %w", err)
	}
	dir := cfg.Raw.Section("deptool").Option("cluster")
	if dir == "" {
		return "", false, nil
	}
	if !filepath.IsAbs(dir) && s.path != "" {
		dir = filepath.Join(filepath.Dir(filepath.Clean(s.path)), dir)
	}
	return dir, true, nil
}

// SetDefaultCluster records dir as the cluster used when none is named. It
// is stored relative to the store's parent so a moved checkout still works.
func (s *Store) SetDefaultCluster(dir string) error {
	if s.path != "" {
		if rel, err := relativeTo(filepath.Dir(filepath.Clean(s.path)), dir); err == nil {
			dir = rel
		}
	}
	return s.setConfig("cluster", dir)
}

// setConfig sets option key of the store's [deptool] Git config section.
func (s *Store) setConfig(key, value string) error {
	return s.withRefsLocked(func() error {
		cfg, err := s.repo.Config()
		if err != nil {
			return fmt.Errorf("store: read config: %w", err)
		}
		sec := cfg.Raw.Section("deptool")
		if sec.Option(key) == value {
			return nil // every command given a <dir> lands here: no write
		}
		sec.SetOption(key, value)
		if s.path == "" {
			return s.repo.SetConfig(cfg)
		}
		// go-git rewrites the config in place, which a reader in another
		// process may find empty; a renamed file is never half written.
		data, err := cfg.Marshal()
		if err == nil {
			err = replaceFile(s.path, filepath.Join(s.path, "config"), data)
		}
		if err != nil {
			return fmt.Errorf("store: write config: %w", err)
		}
		return nil
	})
}

func relativeTo(base, dir string) (string, error) {
	absBase, err := filepath.Abs(base)
	if err != nil {
		return "", err
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return filepath.Rel(absBase, absDir)
}

// Objects exposes the object storage for packs in and out.
func (s *Store) Objects() storer.EncodedObjectStorer { return s.objects }
