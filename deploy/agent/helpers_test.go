package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
	hostlayout "github.com/deptool/deptool/diff/layout"
	"github.com/deptool/deptool/store"
)

const (
	testBuild = "testbuild000"
	operator  = "ann@laptop"
)

// clock ticks one second per reading: times are distinct and known.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// testHost is a host root named web1 and the operator's store that
// deploys to it.
type testHost struct {
	t     *testing.T
	root  string
	src   *store.Store
	clock *clock
	opts  Options
	// noRollback plans as `deploy --no-rollback` does.
	noRollback bool
	// settle is the apply request's settle window.
	settle time.Duration
	// keep is the apply request's Keep.
	keep int
	// confirmTimeout is the apply request's ConfirmTimeout.
	confirmTimeout time.Duration
	// unitTimeout is the apply request's UnitTimeout.
	unitTimeout time.Duration
	// onProgress, when set, sees each progress report as it comes.
	onProgress func(wire.Progress)
	onAwait    func(wire.AwaitConfirm)
}

func newTestHost(t *testing.T) *testHost {
	t.Helper()
	root := t.TempDir()
	c := &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	h := &testHost{t: t, root: root, src: store.OpenMemory(), clock: c,
		opts: Options{Root: root, Build: testBuild, Now: c.Now}}
	h.write("/etc/hostname", "web1\n", 0o644)
	// As on a real host, where the agent's binary was uploaded there.
	if err := os.MkdirAll(h.path(stateDir+"/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	return h
}

// path resolves a host path under the root.
func (h *testHost) path(p string) string { return filepath.Join(h.root, p) }

func (h *testHost) write(p, content string, mode fs.FileMode) {
	h.t.Helper()
	if err := os.MkdirAll(filepath.Dir(h.path(p)), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(h.path(p), []byte(content), mode); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Chmod(h.path(p), mode); err != nil {
		h.t.Fatal(err)
	}
}

func (h *testHost) read(p string) string {
	h.t.Helper()
	data, err := os.ReadFile(h.path(p))
	if err != nil {
		h.t.Fatal(err)
	}
	return string(data)
}

func (h *testHost) readlink(p string) string {
	h.t.Helper()
	t, err := os.Readlink(h.path(p))
	if err != nil {
		h.t.Fatalf("readlink %s: %v", p, err)
	}
	return t
}

func (h *testHost) exists(p string) bool {
	_, err := os.Lstat(h.path(p))
	return err == nil
}

// refs reads the host's current and target.
func (h *testHost) refs() refs {
	h.t.Helper()
	hs := hostStore{l: layout{root: h.root}}
	r, err := hs.refs()
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *testHost) journal() []JournalEntry {
	h.t.Helper()
	j, err := ReadJournal(h.root)
	if err != nil {
		h.t.Fatal(err)
	}
	return j
}

func (h *testHost) attempt() *Attempt {
	h.t.Helper()
	a, err := LoadAttempt(h.root)
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// entries lists a host directory, sorted.
func (h *testHost) entries(p string) []string {
	h.t.Helper()
	des, err := os.ReadDir(h.path(p))
	if err != nil {
		h.t.Fatal(err)
	}
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	return names
}

// snapshot describes every file, link and directory under host path p:
// what tests compare to prove a host unchanged.
func (h *testHost) snapshot(p string, skip ...string) map[string]string {
	h.t.Helper()
	out := map[string]string{}
	base := h.path(p)
	err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == base {
			return filepath.SkipDir
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(h.root, path)
		rel = "/" + rel
		for _, s := range skip {
			if rel == s || strings.HasPrefix(rel, s+"/") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			t, _ := os.Readlink(path)
			out[rel] = "-> " + t
		case info.IsDir():
			out[rel] = fmt.Sprintf("dir %o", info.Mode().Perm())
		default:
			data, _ := os.ReadFile(path)
			uid, gid := owner(info)
			out[rel] = fmt.Sprintf("%o %d:%d %q", info.Mode().Perm(), uid, gid, data)
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// files is an app: path -> content. A path ending in "*" is executable.
type files map[string]string

// apps is a host's config: app -> files.
type apps map[string]files

// tree writes nested files into the operator's store.
func (h *testHost) tree(fs files) store.ID {
	h.t.Helper()
	subdirs := map[string]files{}
	var entries []store.Entry
	for p, content := range fs {
		if dir, rest, ok := strings.Cut(p, "/"); ok {
			if subdirs[dir] == nil {
				subdirs[dir] = files{}
			}
			subdirs[dir][rest] = content
			continue
		}
		mode := store.ModeFile
		if name, ok := strings.CutSuffix(p, "*"); ok {
			p, mode = name, store.ModeExecutable
		}
		id, err := h.src.WriteBlob([]byte(content))
		if err != nil {
			h.t.Fatal(err)
		}
		entries = append(entries, store.Entry{Name: p, Mode: mode, ID: id})
	}
	for name, sub := range subdirs {
		entries = append(entries, store.Entry{Name: name, Mode: store.ModeDir, ID: h.tree(sub)})
	}
	id, err := h.src.WriteTree(entries)
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// appTree is the tree id of an app: the name of its checkout directory.
func (h *testHost) appTree(fs files) string { return h.tree(fs).String() }

// config writes a one-host config tree holding as.
func (h *testHost) config(as apps) store.ID {
	h.t.Helper()
	var hostEntries []store.Entry
	for name, fs := range as {
		hostEntries = append(hostEntries, store.Entry{Name: name, Mode: store.ModeDir, ID: h.tree(fs)})
	}
	host, err := h.src.WriteTree(hostEntries)
	if err != nil {
		h.t.Fatal(err)
	}
	root, err := h.src.WriteTree([]store.Entry{{Name: "web1", Mode: store.ModeDir, ID: host}})
	if err != nil {
		h.t.Fatal(err)
	}
	return root
}

// running is an agent serving on pipes, with a client for it.
type running struct {
	client   *wire.Client
	toAgent  *io.PipeWriter // the agent's stdin
	fromWire *io.PipeReader // the agent's stdout, as the client reads it
	done     chan struct{}
	err      error
}

// start runs an agent in-process with opts.
func (h *testHost) start(opts Options) *running {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	r := &running{client: wire.NewClient(outR, inW), toAgent: inW, fromWire: outR, done: make(chan struct{})}
	go func() {
		r.err = Serve(context.Background(), inR, outW, opts)
		outW.Close()
		close(r.done)
	}()
	h.t.Cleanup(func() {
		inW.Close()
		outR.Close()
		<-r.done
		r.client.Close()
	})
	return r
}

// stop closes the agent's stdin and returns what Serve returned.
func (r *running) stop() error {
	r.toAgent.Close()
	<-r.done
	return r.err
}

// hello opens a session as the right operator and build.
func (r *running) hello(t *testing.T) wire.HelloReply {
	t.Helper()
	reply, err := r.client.Hello(context.Background(), wire.HelloRequest{Build: testBuild, Host: "web1", Operator: operator})
	if err != nil {
		t.Fatalf("hello: %v", err)
	}
	return reply
}

// deployment is one deploy's plan, commit, result and progress.
type deployment struct {
	plan     wire.Plan
	deploy   store.ID // the deploy commit
	commit   store.ID // the host commit
	result   wire.Result
	progress []wire.Progress
}

// plan plans as against what the operator's store believes web1 runs, and
// commits it as a deploy and a host commit.
func (h *testHost) plan(as apps) deployment {
	h.t.Helper()
	desired := h.config(as)
	plan, err := diff.MakePlan(h.src, desired, diff.PlanOptions{NoRollback: h.noRollback})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(plan.Hosts) != 1 {
		h.t.Fatalf("plan has %d hosts", len(plan.Hosts))
	}
	hp, err := deploy.ApplyPlan(plan.Hosts[0])
	if err != nil {
		h.t.Fatal(err)
	}
	d := deployment{plan: hp}
	if d.deploy, err = h.src.Commit(desired, "deploy", operator, h.clock.Now()); err != nil {
		h.t.Fatal(err)
	}
	if d.commit, err = h.src.CommitHost("web1", d.plan.To, d.deploy, operator, h.clock.Now()); err != nil {
		h.t.Fatal(err)
	}
	return d
}

// deploy plans, sends and applies as with the host's default options.
func (h *testHost) deploy(as apps) deployment { return h.deployWith(h.opts, as) }

// deployWith deploys as over a fresh session of an agent with opts, as the
// operator does, and advances the host's ref in the store on success.
func (h *testHost) deployWith(opts Options, as apps) deployment {
	h.t.Helper()
	d := h.plan(as)
	r := h.start(opts)
	ctx := context.Background()
	hello := r.hello(h.t)
	if err := r.client.Lock(ctx, wire.LockRequest{Base: d.plan.Base, Operator: operator}); err != nil {
		h.t.Fatalf("lock: %v", err)
	}
	err := r.client.SendObjects(ctx, func(w io.Writer) error {
		_, err := h.src.WritePack(w, []store.ID{d.commit}, []store.ID{hello.Current})
		return err
	})
	if err != nil {
		h.t.Fatalf("send objects: %v", err)
	}
	req := wire.ApplyRequest{Commit: d.commit, Deploy: d.deploy, Operator: operator, Plan: d.plan, Settle: h.settle, Keep: h.keep,
		ConfirmTimeout: h.confirmTimeout, UnitTimeout: h.unitTimeout}
	d.result, err = r.client.Apply(ctx, req, wire.ApplyEvents{
		Progress: func(p wire.Progress) {
			d.progress = append(d.progress, p)
			if h.onProgress != nil {
				h.onProgress(p)
			}
		},
		AwaitConfirm: func(m wire.AwaitConfirm) {
			if h.onAwait != nil {
				h.onAwait(m)
			}
		},
	})
	if err != nil {
		h.t.Fatalf("apply: %v", err)
	}
	if d.result.Outcome == wire.Deployed {
		if err := h.src.SetHostRef("web1", d.commit); err != nil {
			h.t.Fatal(err)
		}
	}
	if err := r.client.Bye(ctx); err != nil {
		h.t.Fatalf("bye: %v", err)
	}
	if err := r.stop(); err != nil {
		h.t.Fatalf("agent: %v", err)
	}
	return d
}

func (d deployment) mustSucceed(t *testing.T) deployment {
	t.Helper()
	if d.result.Outcome != wire.Deployed {
		t.Fatalf("deploy failed: %s", d.result.Message())
	}
	return d
}

func wantAgentError(t *testing.T, err error, code wire.Code) *wire.AgentError {
	t.Helper()
	var ae *wire.AgentError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want an agent error %s", err, code)
	}
	if ae.Code != code {
		t.Fatalf("code %s (%s), want %s", ae.Code, ae.Message, code)
	}
	return ae
}

// stateDir is deptool's own directory on a host, as tests spell paths.
const stateDir = hostlayout.StateDir
