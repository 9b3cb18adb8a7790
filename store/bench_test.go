package store

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// makeCluster writes a synthetic config tree of hosts x apps x files. Half of
// each app's files are shared by all hosts, half are host-specific, as in a
// tree generated from templates.
func makeCluster(b *testing.B, dir string, hosts, apps, files int) {
	b.Helper()
	for h := range hosts {
		for a := range apps {
			appDir := filepath.Join(dir, fmt.Sprintf("host%04d", h), fmt.Sprintf("app%02d", a))
			if err := os.MkdirAll(appDir, 0o755); err != nil {
				b.Fatal(err)
			}
			for f := range files {
				content := fmt.Sprintf("app %d file %d\nsetting = %d\n", a, f, f*7)
				if f%2 == 1 {
					content += fmt.Sprintf("host = host%04d\n", h)
				}
				if err := os.WriteFile(filepath.Join(appDir, fmt.Sprintf("file%02d.conf", f)), []byte(content), 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

func benchmarkSnapshotUnchanged(b *testing.B, hosts int) {
	dir := b.TempDir()
	makeCluster(b, dir, hosts, 10, 20)
	s, err := Init(filepath.Join(b.TempDir(), ".deptool"))
	if err != nil {
		b.Fatal(err)
	}
	s.now = longAfter
	if _, err := s.Snapshot(dir); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		// A fresh Open each time: a re-plan is a new process that reads the
		// stat cache from disk.
		s, err := Open(s.Path())
		if err != nil {
			b.Fatal(err)
		}
		s.now = longAfter
		if _, err := s.Snapshot(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// Goal: <= 500 ms for 1,000 hosts x 10 apps x 20 files with nothing changed.
func BenchmarkSnapshot1000HostsUnchanged(b *testing.B) { benchmarkSnapshotUnchanged(b, 1000) }
func BenchmarkSnapshot50HostsUnchanged(b *testing.B)   { benchmarkSnapshotUnchanged(b, 50) }

func BenchmarkSnapshot50HostsCold(b *testing.B) {
	dir := b.TempDir()
	makeCluster(b, dir, 50, 10, 20)
	for b.Loop() {
		b.StopTimer()
		s, err := Init(filepath.Join(b.TempDir(), ".deptool"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.Snapshot(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// longAfter stands for re-planning a tree generated a while ago: files
// written just now are deliberately not trusted to the stat cache.
func longAfter() time.Time { return farFuture }

// BenchmarkSnapshotDir re-plans an existing tree, for profiling a real or
// large synthetic one: DEPTOOL_BENCH_TREE=dir DEPTOOL_BENCH_STORE=store.
func BenchmarkSnapshotDir(b *testing.B) {
	dir, path := os.Getenv("DEPTOOL_BENCH_TREE"), os.Getenv("DEPTOOL_BENCH_STORE")
	if dir == "" || path == "" {
		b.Skip("set DEPTOOL_BENCH_TREE and DEPTOOL_BENCH_STORE")
	}
	for b.Loop() {
		s, err := Init(path)
		if err != nil {
			b.Fatal(err)
		}
		s.now = longAfter
		if _, err := s.Snapshot(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRepack rewrites a host store of 20 deploys of 500 files of 4 KB
// (random, so nothing compresses), each deploy changing 50 of them, from 20
// packs into one: the cost of the host store's gc (deploy/agent repackAt).
func BenchmarkRepack(b *testing.B) {
	src, err := Init(filepath.Join(b.TempDir(), "src"))
	if err != nil {
		b.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	content := func() []byte {
		data := make([]byte, 4096)
		for i := range data {
			data[i] = byte(rnd.Uint32())
		}
		return data
	}
	entries := make([]Entry, 500)
	for i := range entries {
		id, _ := src.WriteBlob(content())
		entries[i] = Entry{Name: fmt.Sprintf("f%03d", i), Mode: ModeFile, ID: id}
	}
	var commits []ID
	var parents []ID
	var packs [][]byte
	for v := range 20 {
		for i := range 50 {
			id, _ := src.WriteBlob(content())
			entries[(v*50+i)%len(entries)].ID = id
		}
		tree, _ := src.WriteTree(entries)
		c, _ := src.writeCommit(tree, parents, "v", "op@x", t0)
		var buf bytes.Buffer
		var haves []ID
		if len(commits) > 0 {
			haves = commits[len(commits)-1:]
		}
		if _, err := src.WritePack(&buf, []ID{c}, haves); err != nil {
			b.Fatal(err)
		}
		packs = append(packs, buf.Bytes())
		commits, parents = append(commits, c), []ID{c}
	}
	var total int
	for _, p := range packs {
		total += len(p)
	}
	for b.Loop() {
		b.StopTimer()
		dst, err := Init(filepath.Join(b.TempDir(), "dst"))
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range packs {
			if err := dst.ReadPack(bytes.NewReader(p)); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if _, err := dst.Repack(commits[len(commits)-1]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total)/1e6, "MB-history")
}
