// Package treetest builds the stores and config trees that the planner's
// and the printers' tests start from, so both test the same scenario: the
// one a reader of either package's tests already knows.
package treetest

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/internal/storetest"
	"github.com/deptool/deptool/store"
)

// Time is when the deploys these helpers record were made.
var Time = time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)

// File is a file in a test tree.
type File struct {
	Data string
	Exec bool
}

// NewStore is a store on disk that git fsck --strict checks when the test
// ends: what the planner's callers commit must stay valid for Git.
func NewStore(t testing.TB) *store.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".deptool")
	storetest.Fsck(t, path)
	s, err := store.Init(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// node is a directory being built.
type node struct {
	files map[string]File
	dirs  map[string]*node
}

func newNode() *node { return &node{files: map[string]File{}, dirs: map[string]*node{}} }

func (n *node) write(s *store.Store) (store.ID, error) {
	var entries []store.Entry
	for name, f := range n.files {
		id, err := s.WriteBlob([]byte(f.Data))
		if err != nil {
			return store.ZeroID, err
		}
		mode := store.ModeFile
		if f.Exec {
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

// Build writes a tree from slash-separated paths ("host/app/path"). A
// path ending in "/" is an empty directory ("db1/": a host with no apps).
func Build(t testing.TB, s *store.Store, files map[string]File) store.ID {
	t.Helper()
	root := newNode()
	for p, f := range files {
		parts := strings.Split(p, "/")
		n := root
		for _, d := range parts[:len(parts)-1] {
			if n.dirs[d] == nil {
				n.dirs[d] = newNode()
			}
			n = n.dirs[d]
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

// RecordDeploy records tree as deployed on hosts, the way a successful
// deploy does: a deploy commit on main, a host commit per host, refs
// moved.
func RecordDeploy(t testing.TB, s *store.Store, tree store.ID, hosts ...string) store.ID {
	t.Helper()
	commit, err := s.Commit(tree, "deploy", "alice@laptop", Time)
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
		hc, err := s.CommitHost(h, hostTree, commit, "alice@laptop", Time)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetHostRef(h, hc); err != nil {
			t.Fatal(err)
		}
	}
	return commit
}

// Scenario is a store where v1 is deployed to web1, db1 and gone1, and a
// desired tree that changes web1, keeps db1, adds web2 and drops gone1.
func Scenario(t testing.TB) (*store.Store, store.ID) {
	t.Helper()
	s := NewStore(t)
	v1 := map[string]File{
		"web1/nginx/nginx.conf":            {Data: "user nginx;\nworker_processes 1;\nevents {}\n"},
		"web1/nginx/manifest.json":         {Data: `{"systemd": {"units_enabled": ["nginx.service"]}, "symlinks": {"/etc/nginx/nginx.conf": "nginx.conf"}}` + "\n"},
		"web1/nginx/systemd/nginx.service": {Data: "[Service]\nExecStart=/usr/sbin/nginx\n"},
		"web1/nginx/run.sh":                {Data: "#!/bin/sh\nexec nginx\n"},
		"web1/nginx/logo.png":              {Data: "\x89PNG\x00\x01\x02"},
		"web1/old/cleanup.sh":              {Data: "#!/bin/sh\n", Exec: true},
		"web1/old/manifest.json":           {Data: `{"systemd": {"units_enabled": ["cleanup.timer"]}, "checks": [{"tcp": "127.0.0.1:9"}]}`},
		"web1/old/systemd/cleanup.timer":   {Data: "[Timer]\nOnCalendar=daily\n"},
		"web1/old/systemd/cleanup.service": {Data: "[Service]\nExecStart=/bin/true\n"},
		"db1/postgres/postgresql.conf":     {Data: "max_connections = 100\n"},
		"gone1/app/f":                      {Data: "x\n"},
	}
	RecordDeploy(t, s, Build(t, s, v1), "web1", "db1", "gone1")
	v2 := map[string]File{
		"web1/nginx/nginx.conf":                          {Data: "user nginx;\nworker_processes 4;\nevents {}\n"},
		"web1/nginx/mime.types":                          {Data: "types {\n  text/html html;\n}\n"},
		"web1/nginx/manifest.json":                       {Data: `{"systemd": {"units_enabled": ["nginx.service"]}, "symlinks": {"/etc/nginx/nginx.conf": "nginx.conf", "/etc/nginx/mime.types": "mime.types"}}` + "\n"},
		"web1/nginx/systemd/nginx.service":               {Data: "[Service]\nExecStart=/usr/sbin/nginx\n"},
		"web1/nginx/systemd/nginx.service.d/limits.conf": {Data: "[Service]\nLimitNOFILE=65536\n"},
		"web1/nginx/run.sh":                              {Data: "#!/bin/sh\nexec nginx\n", Exec: true},
		"web1/nginx/logo.png":                            {Data: "\x89PNG\x00\x01\x02\x03"},
		"web1/caddy/Caddyfile":                           {Data: "example.com {\n  root * /srv\n}\n"},
		"web1/caddy/manifest.json":                       {Data: `{"systemd": {"units_enabled": ["caddy.service"]}, "checks": [{"http": "http://127.0.0.1:80/", "timeout": "5s"}, {"tcp": "127.0.0.1:443"}]}`},
		"web1/caddy/systemd/caddy.service":               {Data: "[Service]\nUser=caddy\n"},
		"web1/caddy/sysusers/caddy.conf":                 {Data: "u caddy - \"Caddy\"\n"},
		"db1/postgres/postgresql.conf":                   {Data: "max_connections = 100\n"},
		"web2/cache/quadlets/cache.container":            {Data: "[Container]\nImage=redis\n"},
	}
	return s, Build(t, s, v2)
}
