package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/internal/simhost"
	"github.com/deptool/deptool/store"
)

// The operator's tests on the seam: every host is a temporary root served
// by the real agent over pipes, with a simulated systemd, so a whole
// deploy runs in milliseconds without SSH or root (see docs/development.md).

// simClock is the fleet's injected clock: it moves only when told to.
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *simClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// files is an app: path -> content.
type files map[string]string

// config is a tree: host -> app -> files.
type config map[string]map[string]files

// seam is an operator's store and a fleet of simulated hosts.
type seam struct {
	t     *testing.T
	dir   string
	store *store.Store
	clock *simClock
	fleet *simhost.Fleet
	opts  Options
}

func newSeam(t *testing.T, hosts ...string) *seam {
	t.Helper()
	dir := t.TempDir()
	s, err := store.Init(dir + "/store")
	if err != nil {
		t.Fatal(err)
	}
	c := &simClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	f := simhost.New(shortTempDir(t), c.Now)
	for _, h := range hosts {
		if _, err := f.Add(h); err != nil {
			t.Fatal(err)
		}
	}
	sm := &seam{t: t, dir: dir, store: s, clock: c, fleet: f,
		opts: Options{ConnectOptions: ConnectOptions{Dialer: f, Operator: "ann@laptop", Now: c.Now, Parallel: 4}}}
	t.Cleanup(func() {
		f.Wait()
		sm.fsck()
	})
	return sm
}

// shortTempDir is a temporary directory for host roots with a short path:
// a host's confirmation socket must fit in a Unix socket address (108
// bytes), and t.TempDir holds the test's name.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sim")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// fsck checks the store as every test store must be.
func (sm *seam) fsck() {
	sm.t.Helper()
	out, err := exec.Command("git", "-C", sm.dir+"/store", "fsck", "--strict").CombinedOutput()
	if err != nil {
		sm.t.Errorf("git fsck --strict: %v\n%s", err, out)
	}
}

// tree writes a config into the store.
func (sm *seam) tree(c config) store.ID {
	sm.t.Helper()
	var hosts []store.Entry
	for host, apps := range c {
		var appEntries []store.Entry
		for app, fs := range apps {
			appEntries = append(appEntries, store.Entry{Name: app, Mode: store.ModeDir, ID: sm.files(fs)})
		}
		hosts = append(hosts, store.Entry{Name: host, Mode: store.ModeDir, ID: sm.write(appEntries)})
	}
	return sm.write(hosts)
}

func (sm *seam) write(entries []store.Entry) store.ID {
	sm.t.Helper()
	id, err := sm.store.WriteTree(entries)
	if err != nil {
		sm.t.Fatal(err)
	}
	return id
}

func (sm *seam) files(fs files) store.ID {
	sm.t.Helper()
	sub := map[string]files{}
	var entries []store.Entry
	for p, content := range fs {
		if dir, rest, ok := strings.Cut(p, "/"); ok {
			if sub[dir] == nil {
				sub[dir] = files{}
			}
			sub[dir][rest] = content
			continue
		}
		id, err := sm.store.WriteBlob([]byte(content))
		if err != nil {
			sm.t.Fatal(err)
		}
		entries = append(entries, store.Entry{Name: p, Mode: store.ModeFile, ID: id})
	}
	for name, fs := range sub {
		entries = append(entries, store.Entry{Name: name, Mode: store.ModeDir, ID: sm.files(fs)})
	}
	return sm.write(entries)
}

// plan plans c as `deptool deploy` does.
func (sm *seam) plan(c config, po diff.PlanOptions) *diff.Plan {
	sm.t.Helper()
	p, err := diff.MakePlan(sm.store, sm.tree(c), po)
	if err != nil {
		sm.t.Fatal(err)
	}
	return p
}

// deploy plans and deploys c with the seam's options.
func (sm *seam) deploy(ctx context.Context, c config, po diff.PlanOptions) *Result {
	sm.t.Helper()
	res, err := sm.deployPlan(ctx, sm.plan(c, po))
	if err != nil {
		sm.t.Fatalf("deploy: %v", err)
	}
	return res
}

// deployPlan deploys plan in a transaction of its own, as a command does.
func (sm *seam) deployPlan(ctx context.Context, plan *diff.Plan) (*Result, error) {
	sm.t.Helper()
	t, err := Begin(ctx, sm.store, "deptool deploy", Team{})
	if err != nil {
		sm.t.Fatalf("begin: %v", err)
	}
	defer t.End()
	return t.Deploy(ctx, plan, "", sm.opts)
}

// sync syncs hosts in a transaction of its own, as 'deptool sync' does.
func (sm *seam) sync(hosts ...string) []SyncResult {
	sm.t.Helper()
	t, err := Begin(context.Background(), sm.store, "deptool sync", Team{})
	if err != nil {
		sm.t.Fatalf("begin: %v", err)
	}
	defer t.End()
	return t.Sync(context.Background(), hosts, sm.opts.ConnectOptions)
}

// outcomes is each host's outcome, as "host outcome".
func outcomes(res *Result) []string {
	var out []string
	for _, h := range res.Hosts {
		out = append(out, h.Host+" "+string(h.Outcome))
	}
	slices.Sort(out)
	return out
}

// note is the outcomes recorded on deploy.
func (sm *seam) note(deploy store.ID) map[string]HostResult {
	sm.t.Helper()
	data, ok, err := sm.store.Outcomes(deploy)
	if err != nil || !ok {
		sm.t.Fatalf("no note on %s: %v", deploy, err)
	}
	var res Result
	if err := json.Unmarshal(data, &res); err != nil {
		sm.t.Fatal(err)
	}
	out := map[string]HostResult{}
	for _, h := range res.Hosts {
		out[h.Host] = h
	}
	return out
}

// read reads a host path on a simulated host.
func (sm *seam) read(host, p string) string {
	sm.t.Helper()
	data, err := os.ReadFile(sm.fleet.Host(host).Root + p)
	if err != nil {
		sm.t.Fatal(err)
	}
	return string(data)
}

// web is an app with a config file linked to /etc/web.conf and, when unit
// is set, a unit enabled and restarted.
func web(version string, unit string) files {
	fs := files{"web.conf": "version " + version + "\n"}
	m := map[string]any{"symlinks": map[string]string{"/etc/web.conf": "web.conf"}}
	if unit != "" {
		fs["systemd/web.service"] = unit
		m["systemd"] = map[string]any{"units_enabled": []string{"web.service"}}
	}
	data, _ := json.Marshal(m)
	fs["manifest.json"] = string(data)
	return fs
}

// fleetOf is a config giving each host the same app.
func fleetOf(app files, hosts ...string) config {
	c := config{}
	for _, h := range hosts {
		c[h] = map[string]files{"web": app}
	}
	return c
}

func hostNames(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("h%02d", i+1))
	}
	return out
}

func TestSeamDeploysAFleet(t *testing.T) {
	t.Parallel() // each test has its own store and fleet
	hosts := hostNames(3)
	sm := newSeam(t, hosts...)
	res := sm.deploy(context.Background(), fleetOf(web("1", "[Service]\nExecStart=/bin/web\n"), hosts...), diff.PlanOptions{})
	if got, want := outcomes(res), []string{"h01 deployed", "h02 deployed", "h03 deployed"}; !slices.Equal(got, want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	for _, h := range hosts {
		if got := sm.read(h, "/etc/web.conf"); got != "version 1\n" {
			t.Errorf("%s: /etc/web.conf = %q", h, got)
		}
		if active, _, enabled := sm.fleet.Host(h).Systemd.State("web.service"); active != "active" || !enabled {
			t.Errorf("%s: web.service %s, enabled %v", h, active, enabled)
		}
	}
	if got := sm.note(res.Deploy); got["h02"].Outcome != Deployed {
		t.Errorf("note: %v", got)
	}
}
