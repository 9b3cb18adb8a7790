package agent

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
	"github.com/google/go-cmp/cmp"
)

var v1 = apps{"nginx": files{"nginx.conf": "listen 80;\n"}}

func TestHelloRefusesWrongHostname(t *testing.T) {
	h := newTestHost(t)
	h.write("/etc/hostname", "web2\n", 0o644)
	r := h.start(h.opts)
	_, err := r.client.Hello(context.Background(), wire.HelloRequest{Build: testBuild, Host: "web1"})
	ae := wantAgentError(t, err, wire.CodeHostname)
	if want := "/etc/hostname says web2: is ssh config pointing at the wrong machine?"; ae.Message != want {
		t.Errorf("message %q\nwant    %q", ae.Message, want)
	}
	// Nothing is done for a session without a good hello.
	err = r.client.Lock(context.Background(), wire.LockRequest{Operator: operator})
	wantAgentError(t, err, wire.CodeBadRequest)
	if h.exists("/var/lib/deptool/lock") {
		t.Error("a refused session created the lock file")
	}
}

func TestHelloReportsRefs(t *testing.T) {
	h := newTestHost(t)
	r := h.start(h.opts)
	reply := r.hello(t)
	want := wire.HelloReply{Version: wire.Version, Build: testBuild, Hostname: "web1"}
	if diff := cmp.Diff(want, reply); diff != "" {
		t.Errorf("fresh host (-want +got):\n%s", diff)
	}
	d := h.deploy(v1).mustSucceed(t)
	r = h.start(h.opts)
	reply = r.hello(t)
	if reply.Current != d.commit || reply.Target != d.commit {
		t.Errorf("after a deploy: current %s target %s, want %s", reply.Current, reply.Target, d.commit)
	}
}

func TestBuildMismatch(t *testing.T) {
	h := newTestHost(t)
	opts := h.opts
	opts.Build = "otherbuild00"
	r := h.start(opts)
	ctx := context.Background()
	_, err := r.client.Hello(ctx, wire.HelloRequest{Build: testBuild, Host: "web1", Operator: operator})
	ae := wantAgentError(t, err, wire.CodeBuild)
	if !strings.Contains(ae.Message, "otherbuild00") || !strings.Contains(ae.Message, testBuild) {
		t.Errorf("message %q does not name both builds", ae.Message)
	}
	// An operator that ignored the mismatch still cannot change the host.
	wantAgentError(t, r.client.Lock(ctx, wire.LockRequest{Operator: operator}), wire.CodeBuild)
	r2 := h.start(h.opts)
	r2.hello(t)
	if err := r2.client.Lock(ctx, wire.LockRequest{Operator: operator}); err != nil {
		t.Errorf("the mismatched session left the lock taken: %v", err)
	}
}

func TestLockBusyNamesHolder(t *testing.T) {
	h := newTestHost(t)
	ctx := context.Background()
	first := h.start(h.opts)
	first.hello(t)
	if err := first.client.Lock(ctx, wire.LockRequest{Operator: "alice@laptop"}); err != nil {
		t.Fatal(err)
	}
	second := h.start(h.opts)
	second.hello(t)
	ae := wantAgentError(t, second.client.Lock(ctx, wire.LockRequest{Operator: "bob@desk"}), wire.CodeBusy)
	want := &wire.Holder{Operator: "alice@laptop", PID: os.Getpid(), Since: time.Date(2025, 6, 1, 12, 0, 1, 0, time.UTC)}
	if diff := cmp.Diff(want, ae.Holder); diff != "" {
		t.Errorf("holder (-want +got):\n%s", diff)
	}
	wantMsg := fmt.Sprintf("locked by alice@laptop (agent pid %d) since 2025-06-01T12:00:01Z", os.Getpid())
	if ae.Message != wantMsg {
		t.Errorf("message %q\nwant    %q", ae.Message, wantMsg)
	}
	// Bye releases the lock, and the agent exits cleanly.
	if err := first.client.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	<-first.done
	if first.err != nil {
		t.Errorf("agent after bye: %v", first.err)
	}
	if err := second.client.Lock(ctx, wire.LockRequest{Operator: "bob@desk"}); err != nil {
		t.Errorf("lock after the holder left: %v", err)
	}
}

// The lock dies with its agent, however the session ends.
func TestLockReleasedWhenStdinCloses(t *testing.T) {
	h := newTestHost(t)
	ctx := context.Background()
	r := h.start(h.opts)
	r.hello(t)
	if err := r.client.Lock(ctx, wire.LockRequest{Operator: operator}); err != nil {
		t.Fatal(err)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("agent: %v", err)
	}
	r2 := h.start(h.opts)
	r2.hello(t)
	if err := r2.client.Lock(ctx, wire.LockRequest{Operator: operator}); err != nil {
		t.Errorf("lock after the first agent exited: %v", err)
	}
}

func TestStaleBaseRefusedAndNothingChanged(t *testing.T) {
	h := newTestHost(t)
	d := h.deploy(v1).mustSucceed(t)
	before := h.snapshot("/")
	r := h.start(h.opts)
	r.hello(t)
	ctx := context.Background()
	err := r.client.Lock(ctx, wire.LockRequest{Base: store.ZeroID, Operator: operator})
	ae := wantAgentError(t, err, wire.CodeStale)
	if ae.Current != d.commit {
		t.Errorf("stale error names %s, want the host's current %s", ae.Current, d.commit)
	}
	if !strings.Contains(ae.Message, "is at "+d.commit.String()[:12]) {
		t.Errorf("message %q does not say where the host is", ae.Message)
	}
	if diff := cmp.Diff(before, h.snapshot("/")); diff != "" {
		t.Errorf("a stale lock changed the host (-before +after):\n%s", diff)
	}
	// The refused lock was released: the right base takes it.
	if err := r.client.Lock(ctx, wire.LockRequest{Base: d.commit, Operator: operator}); err != nil {
		t.Errorf("lock with the right base: %v", err)
	}
}

func TestObjectsNeedTheLockAndStayInStep(t *testing.T) {
	h := newTestHost(t)
	d := h.plan(v1)
	r := h.start(h.opts)
	r.hello(t)
	ctx := context.Background()
	err := r.client.SendObjects(ctx, func(w io.Writer) error {
		_, err := h.src.WritePack(w, []store.ID{d.commit}, nil)
		return err
	})
	wantAgentError(t, err, wire.CodeNotLocked)
	if err := r.client.Ping(ctx, 1); err != nil {
		t.Errorf("ping after a refused stream: %v", err)
	}
	if h.exists("/var/lib/deptool/store") {
		t.Error("refused objects created the store")
	}
}

func TestApplyNeedsTheCommit(t *testing.T) {
	h := newTestHost(t)
	d := h.plan(v1)
	r := h.start(h.opts)
	r.hello(t)
	ctx := context.Background()
	if err := r.client.Lock(ctx, wire.LockRequest{Operator: operator}); err != nil {
		t.Fatal(err)
	}
	_, err := r.client.Apply(ctx, wire.ApplyRequest{Commit: d.commit, Plan: d.plan, Operator: operator}, wire.ApplyEvents{})
	wantAgentError(t, err, wire.CodeMissing)
	if got := h.refs(); got != (refs{}) {
		t.Errorf("refs moved for a refused apply: %+v", got)
	}
	if h.exists("/var/lib/deptool/journal.jsonl") || h.exists("/var/lib/deptool/store") {
		t.Error("a refused apply left traces")
	}
}

func TestStoreIsRootOnly(t *testing.T) {
	h := newTestHost(t)
	h.deploy(v1).mustSucceed(t)
	fi, err := os.Stat(h.path("/var/lib/deptool/store"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("store mode %o, want 700", fi.Mode().Perm())
	}
}

func TestFetchReturnsCurrentCommit(t *testing.T) {
	h := newTestHost(t)
	ctx := context.Background()
	r := h.start(h.opts)
	r.hello(t)
	var empty bytes.Buffer
	id, err := r.client.Fetch(ctx, &empty)
	if err != nil || !id.IsZero() || empty.Len() != 0 {
		t.Errorf("fetch from a fresh host: %s, %d bytes, %v", id, empty.Len(), err)
	}

	d := h.deploy(v1).mustSucceed(t)
	r = h.start(h.opts)
	r.hello(t)
	var pack bytes.Buffer
	id, err = r.client.Fetch(ctx, &pack)
	if err != nil {
		t.Fatal(err)
	}
	if id != d.commit {
		t.Errorf("fetched %s, want current %s", id, d.commit)
	}
	dst := store.OpenMemory()
	if err := dst.ReadPack(&pack); err != nil {
		t.Fatal(err)
	}
	want, err := h.src.Reachable(d.commit)
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range want {
		if !dst.Has(obj) {
			t.Errorf("the fetched pack lacks %s", obj)
		}
	}
	if err := r.client.Ping(ctx, 1); err != nil {
		t.Errorf("ping after fetch: %v", err)
	}
}

func TestUnknownRequestIsAnsweredAndSessionGoesOn(t *testing.T) {
	h := newTestHost(t)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	go Serve(context.Background(), inR, outW, h.opts)
	defer inW.Close()
	conn := wire.NewConn(outR, io.Discard)
	defer conn.Close()
	send := func(payload string) {
		if err := wire.WriteFrame(inW, wire.Frame{Kind: wire.KindMessage, Payload: []byte(payload)}); err != nil {
			t.Fatal(err)
		}
	}
	send(`{"type":"teleport","body":{}}`)
	m, err := conn.NextMessage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ae, ok := m.(*wire.AgentError); !ok || ae.Code != wire.CodeUnsupported {
		t.Fatalf("got %#v, want an unsupported error", m)
	}
	send(`{"type":"ping","body":{"seq":4}}`)
	if m, err := conn.NextMessage(context.Background()); err != nil || m.(*wire.Pong).Seq != 4 {
		t.Errorf("ping after an unknown request: %v %v", m, err)
	}
}

func TestGarbageEndsSession(t *testing.T) {
	h := newTestHost(t)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Serve(context.Background(), inR, outW, h.opts) }()
	conn := wire.NewConn(outR, io.Discard)
	defer conn.Close()
	go inW.Write([]byte("echo hello from .bashrc\n"))
	m, err := conn.NextMessage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ae, ok := m.(*wire.AgentError); !ok || ae.Code != wire.CodeBadRequest || !strings.Contains(ae.Message, "is something else writing") {
		t.Errorf("got %#v", m)
	}
	if err := <-done; err == nil {
		t.Error("Serve went on after garbage")
	}
	inW.Close()
}

// Once an apply starts it finishes, even when the operator is gone and
// every write to it fails.
func TestApplyFinishesWhenOperatorVanishes(t *testing.T) {
	h := newTestHost(t)
	d := h.plan(v1)
	r := h.start(h.opts)
	r.hello(t)
	ctx := context.Background()
	if err := r.client.Lock(ctx, wire.LockRequest{Operator: operator}); err != nil {
		t.Fatal(err)
	}
	err := r.client.SendObjects(ctx, func(w io.Writer) error {
		_, err := h.src.WritePack(w, []store.ID{d.commit}, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The operator's end stops reading, sends apply, and hangs up.
	r.fromWire.Close()
	req := wire.ApplyRequest{Commit: d.commit, Deploy: d.deploy, Operator: operator, Plan: d.plan}
	payload, _ := wire.EncodeMessage(&req)
	var frame bytes.Buffer
	wire.WriteFrame(&frame, wire.Frame{Kind: wire.KindMessage, Payload: payload})
	if _, err := r.toAgent.Write(frame.Bytes()); err != nil {
		t.Fatal(err)
	}
	r.toAgent.Close()
	<-r.done
	if got := h.refs(); got.current != d.commit || got.target != d.commit {
		t.Errorf("refs after the operator left: %+v, want both at %s", got, d.commit)
	}
	if j := h.journal(); len(j) != 1 || j[0].Outcome != wire.Deployed {
		t.Errorf("journal %+v", j)
	}
	r2 := h.start(h.opts)
	r2.hello(t)
	if err := r2.client.Lock(ctx, wire.LockRequest{Base: d.commit, Operator: operator}); err != nil {
		t.Errorf("lock after the orphaned apply: %v", err)
	}
}

func TestFrameSizeInHeaderIsBigEndian(t *testing.T) {
	var buf bytes.Buffer
	wire.WriteFrame(&buf, wire.Frame{Kind: wire.KindData, Payload: []byte("abc")})
	if got := binary.BigEndian.Uint32(buf.Bytes()); got != 3 {
		t.Errorf("length %d", got)
	}
}

// An operator whose pack writer fails mid-stream aborts it; the agent
// drains the rest, answers, and the session goes on.
func TestObjectsAbortedByOperator(t *testing.T) {
	h := newTestHost(t)
	d := h.plan(v1)
	r := h.start(h.opts)
	r.hello(t)
	ctx := context.Background()
	if err := r.client.Lock(ctx, wire.LockRequest{Operator: operator}); err != nil {
		t.Fatal(err)
	}
	boom := fmt.Errorf("store went away")
	err := r.client.SendObjects(ctx, func(w io.Writer) error {
		var pack bytes.Buffer
		if _, err := h.src.WritePack(&pack, []store.ID{d.commit}, nil); err != nil {
			return err
		}
		w.Write(pack.Bytes()[:pack.Len()/2])
		return boom
	})
	if err == nil || !strings.Contains(err.Error(), "store went away") {
		t.Fatalf("err = %v, want the writer's error", err)
	}
	if err := r.client.Ping(ctx, 2); err != nil {
		t.Errorf("ping after an aborted pack: %v", err)
	}
	_, err = r.client.Apply(ctx, wire.ApplyRequest{Commit: d.commit, Plan: d.plan, Operator: operator}, wire.ApplyEvents{})
	wantAgentError(t, err, wire.CodeMissing)
}
