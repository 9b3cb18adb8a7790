package diff

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/store"

	"github.com/deptool/deptool/internal/storetest"
)

// newStore is a store on disk that git fsck --strict checks when the
// test ends: what the planner's callers commit must stay valid for Git.
func newStore(t testing.TB) *store.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".deptool")
	storetest.Fsck(t, path)
	s, err := store.Init(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// file is a file in a test tree.
type file struct {
	data string
	exec bool
}

// node is a directory being built.
type node struct {
	files map[string]file
	dirs  map[string]*node
}

func newNode() *node { return &node{files: map[string]file{}, dirs: map[string]*node{}} }

func (n *node) dir(name string) *node {
	if d, ok := n.dirs[name]; ok {
		return d
	}
	d := newNode()
	n.dirs[name] = d
	return d
}

func (n *node) write(s *store.Store) (store.ID, error) {
	var entries []store.Entry
	for name, f := range n.files {
		id, err := s.WriteBlob([]byte(f.data))
		if err != nil {
			return store.ZeroID, err
		}
		mode := store.ModeFile
		if f.exec {
			mode = store.ModeExecutable
		}
		entries = append(entries, store.Entry{Name: name, Mode: mode, ID: id})
	}
	for name, d := range n.dirs {
		id, err := d.write(s)
		if err != nil {
			return store.ZeroID, err
		}
		entries = append(entries, store.Entry{Name: name, Mode: store.ModeDir, ID: id})
	}
	return s.WriteTree(entries)
}

// buildFiles writes a tree from slash-separated paths. A path ending in "/"
// is an empty directory.
func buildFiles(t testing.TB, s *store.Store, files map[string]file) store.ID {
	t.Helper()
	root := newNode()
	for p, f := range files {
		parts := strings.Split(p, "/")
		n := root
		for _, d := range parts[:len(parts)-1] {
			n = n.dir(d)
		}
		if last := parts[len(parts)-1]; last != "" {
			n.files[last] = f
		}
	}
	id, err := root.write(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// buildTree writes a cluster tree from "host/app/path" -> contents. A key
// like "db1/" is a host with no apps.
func buildTree(t testing.TB, s *store.Store, files map[string]string) store.ID {
	t.Helper()
	fs := make(map[string]file, len(files))
	for p, data := range files {
		fs[p] = file{data: data}
	}
	return buildFiles(t, s, fs)
}

var testTime = time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)

// deploy records tree as deployed on hosts, the way a successful deploy
// does: a deploy commit on main, a host commit per host, refs moved.
func deploy(t testing.TB, s *store.Store, tree store.ID, hosts ...string) store.ID {
	t.Helper()
	commit, err := s.Commit(tree, "deploy", "alice@laptop", testTime)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := s.ReadTree(tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		hostTree := store.EmptyTree
		for _, e := range entries {
			if e.Name == h {
				hostTree = e.ID
			}
		}
		if hostTree == store.EmptyTree {
			if _, err := s.WriteTree(nil); err != nil {
				t.Fatal(err)
			}
		}
		hc, err := s.CommitHost(h, hostTree, commit, "alice@laptop", testTime)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetHostRef(h, hc); err != nil {
			t.Fatal(err)
		}
	}
	return commit
}

func mustPlan(t testing.TB, s *store.Store, tree store.ID, opts PlanOptions) *Plan {
	t.Helper()
	p, err := MakePlan(s, tree, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// countingSource records which trees and blobs the planner opens.
type countingSource struct {
	*store.Store
	trees map[store.ID]int
	blobs map[store.ID]int
}

func newCounting(s *store.Store) *countingSource {
	return &countingSource{Store: s, trees: map[store.ID]int{}, blobs: map[store.ID]int{}}
}

func (c *countingSource) ReadTree(id store.ID) ([]store.Entry, error) {
	c.trees[id]++
	return c.Store.ReadTree(id)
}

func (c *countingSource) ReadBlob(id store.ID) ([]byte, error) {
	c.blobs[id]++
	return c.Store.ReadBlob(id)
}

// subtree returns the id at a slash-separated path below tree.
func subtree(t testing.TB, s *store.Store, tree store.ID, p string) store.ID {
	t.Helper()
	id := tree
	for _, name := range strings.Split(p, "/") {
		entries, err := s.ReadTree(id)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range entries {
			if e.Name == name {
				id, found = e.ID, true
			}
		}
		if !found {
			t.Fatalf("no %s in tree", p)
		}
	}
	return id
}

func problemPaths(err error) []string {
	ve, ok := err.(*ValidationError)
	if !ok {
		return nil
	}
	var out []string
	for _, p := range ve.Problems {
		out = append(out, p.Path)
	}
	sort.Strings(out)
	return out
}

// scenario is a store where v1 is deployed to web1, db1 and gone1, and a
// desired tree that changes web1, keeps db1, adds web2 and drops gone1.
func scenario(t testing.TB) (*store.Store, store.ID) {
	t.Helper()
	s := newStore(t)
	v1 := map[string]file{
		"web1/nginx/nginx.conf":            {data: "user nginx;\nworker_processes 1;\nevents {}\n"},
		"web1/nginx/manifest.json":         {data: `{"systemd": {"units_enabled": ["nginx.service"]}, "symlinks": {"/etc/nginx/nginx.conf": "nginx.conf"}}` + "\n"},
		"web1/nginx/systemd/nginx.service": {data: "[Service]\nExecStart=/usr/sbin/nginx\n"},
		"web1/nginx/run.sh":                {data: "#!/bin/sh\nexec nginx\n"},
		"web1/nginx/logo.png":              {data: "\x89PNG\x00\x01\x02"},
		"web1/old/cleanup.sh":              {data: "#!/bin/sh\n", exec: true},
		"web1/old/manifest.json":           {data: `{"systemd": {"units_enabled": ["cleanup.timer"]}, "checks": [{"tcp": "127.0.0.1:9"}]}`},
		"web1/old/systemd/cleanup.timer":   {data: "[Timer]\nOnCalendar=daily\n"},
		"web1/old/systemd/cleanup.service": {data: "[Service]\nExecStart=/bin/true\n"},
		"db1/postgres/postgresql.conf":     {data: "max_connections = 100\n"},
		"gone1/app/f":                      {data: "x\n"},
	}
	deploy(t, s, buildFiles(t, s, v1), "web1", "db1", "gone1")
	v2 := map[string]file{
		"web1/nginx/nginx.conf":                          {data: "user nginx;\nworker_processes 4;\nevents {}\n"},
		"web1/nginx/mime.types":                          {data: "types {\n  text/html html;\n}\n"},
		"web1/nginx/manifest.json":                       {data: `{"systemd": {"units_enabled": ["nginx.service"]}, "symlinks": {"/etc/nginx/nginx.conf": "nginx.conf", "/etc/nginx/mime.types": "mime.types"}}` + "\n"},
		"web1/nginx/systemd/nginx.service":               {data: "[Service]\nExecStart=/usr/sbin/nginx\n"},
		"web1/nginx/systemd/nginx.service.d/limits.conf": {data: "[Service]\nLimitNOFILE=65536\n"},
		"web1/nginx/run.sh":                              {data: "#!/bin/sh\nexec nginx\n", exec: true},
		"web1/nginx/logo.png":                            {data: "\x89PNG\x00\x01\x02\x03"},
		"web1/caddy/Caddyfile":                           {data: "example.com {\n  root * /srv\n}\n"},
		"web1/caddy/manifest.json":                       {data: `{"systemd": {"units_enabled": ["caddy.service"]}, "checks": [{"http": "http://127.0.0.1:80/", "timeout": "5s"}, {"tcp": "127.0.0.1:443"}]}`},
		"web1/caddy/systemd/caddy.service":               {data: "[Service]\nUser=caddy\n"},
		"web1/caddy/sysusers/caddy.conf":                 {data: "u caddy - \"Caddy\"\n"},
		"db1/postgres/postgresql.conf":                   {data: "max_connections = 100\n"},
		"web2/cache/quadlets/cache.container":            {data: "[Container]\nImage=redis\n"},
	}
	return s, buildFiles(t, s, v2)
}
