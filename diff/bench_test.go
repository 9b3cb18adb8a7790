package diff

import (
	"fmt"
	"testing"

	"github.com/deptool/deptool/store"
)

// syntheticApp is one app of the synthetic cluster, by slash path: a
// manifest enabling one unit and creating one symlink, its unit file, and
// 18 configuration files in two directories. Every file names its host, so
// no two hosts share a tree. version is mixed into one file of app0, so a
// new version changes each host in one file.
func syntheticApp(host string, a int, version string) map[string]string {
	app := fmt.Sprintf("app%d", a)
	main := fmt.Sprintf("# %s on %s\nlisten 80%02d;\n", app, host, a)
	if a == 0 {
		main += "# " + version + "\n"
	}
	files := map[string]string{
		ManifestName:                  fmt.Sprintf(`{"systemd": {"units_enabled": ["%s.service"]}, "symlinks": {"/etc/%s/main.conf": "conf/main.conf"}}`, app, app),
		"systemd/" + app + ".service": "[Service]\nExecStart=/bin/" + app + "\n\n[Install]\nWantedBy=multi-user.target\n",
		"conf/main.conf":              main,
	}
	for i := range 8 {
		files[fmt.Sprintf("conf/part%d.conf", i)] = fmt.Sprintf("%s %s conf %d\n", host, app, i)
	}
	for i := range 9 {
		files[fmt.Sprintf("data/data%d.txt", i)] = fmt.Sprintf("%s %s data %d\n", host, app, i)
	}
	return files
}

func syntheticHost(h int) string { return fmt.Sprintf("host%04d", h) }

// synthetic writes the cluster of hosts x apps syntheticApps into s.
func synthetic(b *testing.B, s *store.Store, hosts, apps int, version string) store.ID {
	b.Helper()
	files := map[string]file{}
	for h := range hosts {
		host := syntheticHost(h)
		for a := range apps {
			for p, data := range syntheticApp(host, a, version) {
				files[fmt.Sprintf("%s/app%d/%s", host, a, p)] = file{data: data}
			}
		}
	}
	return buildFiles(b, s, files)
}

// deployAll records tree as accepted by every host, as a deploy would.
func deployAll(b *testing.B, s *store.Store, tree store.ID) {
	b.Helper()
	if err := deployTree(s, tree); err != nil {
		b.Fatal(err)
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
