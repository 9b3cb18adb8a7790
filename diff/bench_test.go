package diff

import (
	"fmt"
	"testing"

	"github.com/deptool/deptool/store"
)

// synthetic writes a cluster of hosts x apps x 20 files into s: each app
// has a manifest enabling one unit and creating one symlink, its unit file,
// and 18 configuration files in two directories. Every file names its
// host, so no two hosts share a tree. version is mixed into one file of
// app0 on every host, so a new version changes each host in one file.
func synthetic(b *testing.B, s *store.Store, hosts, apps int, version string) store.ID {
	b.Helper()
	blob := func(data string) store.Entry {
		id, err := s.WriteBlob([]byte(data))
		if err != nil {
			b.Fatal(err)
		}
		return store.Entry{Mode: store.ModeFile, ID: id}
	}
	tree := func(entries []store.Entry) store.Entry {
		id, err := s.WriteTree(entries)
		if err != nil {
			b.Fatal(err)
		}
		return store.Entry{Mode: store.ModeDir, ID: id}
	}
	named := func(e store.Entry, name string) store.Entry { e.Name = name; return e }

	var root []store.Entry
	for h := range hosts {
		host := fmt.Sprintf("host%04d", h)
		var appEntries []store.Entry
		for a := range apps {
			app := fmt.Sprintf("app%d", a)
			main := fmt.Sprintf("# %s on %s\nlisten 80%02d;\n", app, host, a)
			if a == 0 {
				main += "# " + version + "\n"
			}
			var conf, data []store.Entry
			conf = append(conf, named(blob(main), "main.conf"))
			for i := range 8 {
				conf = append(conf, named(blob(fmt.Sprintf("%s %s conf %d\n", host, app, i)), fmt.Sprintf("part%d.conf", i)))
			}
			for i := range 9 {
				data = append(data, named(blob(fmt.Sprintf("%s %s data %d\n", host, app, i)), fmt.Sprintf("data%d.txt", i)))
			}
			manifest := fmt.Sprintf(`{"systemd": {"units_enabled": ["%s.service"]}, "symlinks": {"/etc/%s/main.conf": "conf/main.conf"}}`, app, app)
			appTree := tree([]store.Entry{
				named(blob(manifest), ManifestName),
				named(tree([]store.Entry{named(blob("[Service]\nExecStart=/bin/"+app+"\n"), app+".service")}), "systemd"),
				named(tree(conf), "conf"),
				named(tree(data), "data"),
			})
			appEntries = append(appEntries, named(appTree, app))
		}
		root = append(root, named(tree(appEntries), host))
	}
	return tree(root).ID
}

// deployAll records tree as accepted by every host, as a deploy would.
func deployAll(b *testing.B, s *store.Store, tree store.ID) {
	b.Helper()
	commit, err := s.Commit(tree, "deploy", "bench@host", testTime)
	if err != nil {
		b.Fatal(err)
	}
	hosts, err := s.ReadTree(tree)
	if err != nil {
		b.Fatal(err)
	}
	for _, h := range hosts {
		hc, err := s.CommitHost(h.Name, h.ID, commit, "bench@host", testTime)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.SetHostRef(h.Name, hc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlan50Hosts is a full plan where every host changed one file.
// Goal: 20 ms or less.
func BenchmarkPlan50Hosts(b *testing.B) {
	s := store.OpenMemory()
	deployAll(b, s, synthetic(b, s, 50, 10, "v1"))
	desired := synthetic(b, s, 50, 10, "v2")
	b.ReportAllocs()
	for b.Loop() {
		p, err := MakePlan(s, desired, PlanOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Hosts) != 50 {
			b.Fatalf("planned %d hosts, want 50", len(p.Hosts))
		}
	}
}

// BenchmarkPlan1000HostsUnchanged re-plans a large cluster where nothing
// changed: one ref and one commit per host, no tree below the root.
func BenchmarkPlan1000HostsUnchanged(b *testing.B) {
	s := store.OpenMemory()
	tree := synthetic(b, s, 1000, 10, "v1")
	deployAll(b, s, tree)
	b.ReportAllocs()
	for b.Loop() {
		p, err := MakePlan(s, tree, PlanOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if !p.Empty() {
			b.Fatal("unchanged cluster has a plan")
		}
	}
}

// BenchmarkValidate1000Hosts validates the large cluster: unlike planning,
// validation opens every app (its root, manifest and special directories).
func BenchmarkValidate1000Hosts(b *testing.B) {
	s := store.OpenMemory()
	snap := &store.Snapshot{Tree: synthetic(b, s, 1000, 10, "v1")}
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(s, snap, "prod"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatus1000Hosts reports on the large cluster with every host
// up to date.
func BenchmarkStatus1000Hosts(b *testing.B) {
	s := store.OpenMemory()
	tree := synthetic(b, s, 1000, 10, "v1")
	deployAll(b, s, tree)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Status(s, tree, nil); err != nil {
			b.Fatal(err)
		}
	}
}
