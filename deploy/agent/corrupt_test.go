package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
	"github.com/go-git/go-git/v5/plumbing"
)

// bigConf is a config large enough that the middle of the pack holding it
// lies inside its compressed data.
func bigConf() string {
	var b strings.Builder
	sum := sha256.Sum256([]byte("seed"))
	for b.Len() < 16<<10 {
		sum = sha256.Sum256(sum[:])
		b.WriteString(hex.EncodeToString(sum[:]))
		b.WriteByte('\n')
	}
	return b.String()
}

// corruptPack flips bytes in the middle of the host store's largest pack
// and returns the pack's path; it fails the test unless the blob of
// content then fails to read for a reason other than its absence.
func (h *testHost) corruptPack(content string) string {
	h.t.Helper()
	dir := h.path("/var/lib/deptool/store/objects/pack")
	packs, _ := filepath.Glob(filepath.Join(dir, "pack-*.pack"))
	var path string
	var size int64
	for _, p := range packs {
		if fi, err := os.Stat(p); err == nil && fi.Size() > size {
			path, size = p, fi.Size()
		}
	}
	if path == "" {
		h.t.Fatal("no pack in the host store")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := len(data) / 2; i < len(data)/2+32; i++ {
		data[i] ^= 0xff
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		h.t.Fatal(err)
	}
	st, err := store.Open(h.path("/var/lib/deptool/store"))
	if err != nil {
		h.t.Fatal(err)
	}
	blob := plumbing.ComputeHash(plumbing.BlobObject, []byte(content))
	readErr := func() error {
		obj, err := st.Objects().EncodedObject(plumbing.BlobObject, blob)
		if err != nil {
			return err
		}
		r, err := obj.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		_, err = io.ReadAll(r)
		return err
	}()
	if readErr == nil || errors.Is(readErr, plumbing.ErrObjectNotFound) {
		h.t.Fatalf("the corrupted pack still reads the blob (err %v)", readErr)
	}
	return path
}

func fsckStrict(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("git", "--git-dir", dir, "fsck", "--strict").CombinedOutput(); err != nil {
		t.Errorf("git fsck --strict %s: %v\n%s", dir, err, out)
	}
}

// A pack of the host store that cannot be read (bytes flipped on disk) is
// set aside by the next deploy, which then gets both histories whole, as
// for a store that lost a pack; check and fetch say a deploy repairs it.
func TestACorruptHostPackIsRebuiltByTheNextDeploy(t *testing.T) {
	h := newTestHost(t)
	big := bigConf()
	first := h.deploy(apps{"nginx": files{"nginx.conf": "listen 80;\n", "big.conf": big}}).mustSucceed(t)
	damaged := h.corruptPack(big)
	storeDir := h.path("/var/lib/deptool/store")

	r := h.start(h.opts)
	hello := r.hello(t)
	if hello.Current != first.commit {
		t.Fatalf("hello says current %s, want %s", hello.Current, first.commit)
	}
	ctx := context.Background()
	drift, err := r.client.Drift(ctx)
	if err != nil {
		t.Fatalf("check of a corrupt store: %v", err)
	}
	if len(drift.Drift) != 1 || drift.Drift[0].Kind != wire.DriftStore || !strings.Contains(drift.Drift[0].What, "damaged") ||
		!strings.Contains(drift.Drift[0].What, "deptool repair") || strings.Contains(drift.Drift[0].What, "\n") {
		t.Errorf("check of a corrupt store = %+v, want one line saying the store is damaged and what repairs it", drift.Drift)
	}
	var buf bytes.Buffer
	if _, err := r.client.Fetch(ctx, &buf); err == nil || !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), "next deploy") {
		t.Errorf("fetch of a corrupt store: %v, want an error saying the next deploy repairs it", err)
	}

	d := h.plan(apps{"nginx": files{"nginx.conf": "listen 81;\n", "big.conf": big}})
	if err := r.client.Lock(ctx, wire.LockRequest{Base: d.plan.Base, Operator: operator}); err != nil {
		t.Fatalf("lock: %v", err)
	}
	want := []store.ID{d.commit, d.plan.Base}
	if reply := sendFor(t, r, h, d.plan.Base, want, []store.ID{hello.Current}); reply.Missing.IsZero() {
		t.Fatal("the host did not notice its store is damaged")
	}
	if reply := sendFor(t, r, h, d.plan.Base, want, nil); !reply.Missing.IsZero() {
		t.Fatalf("after the whole history the host still lacks %s", reply.Missing)
	}
	res, err := r.client.Apply(ctx, wire.ApplyRequest{Commit: d.commit, Deploy: d.deploy, Operator: operator, Plan: d.plan}, wire.ApplyEvents{})
	if err != nil || res.Outcome != wire.Deployed {
		t.Fatalf("apply after the repair: %v %+v", err, res)
	}
	if got := h.read("/var/lib/deptool/apps/nginx/current/big.conf"); got != big {
		t.Errorf("big.conf has %d bytes, want %d", len(got), len(big))
	}
	if _, err := os.Stat(damaged); !os.IsNotExist(err) {
		t.Errorf("the damaged pack is still among the packs (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(storeDir, "damaged", filepath.Base(damaged))); err != nil {
		t.Errorf("the damaged pack was not kept aside: %v", err)
	}
	if drift, err := r.client.Drift(ctx); err != nil || len(drift.Drift) != 0 {
		t.Errorf("check after the repair: %+v %v", drift, err)
	}
	r.client.Bye(ctx)
	r.stop()
	fsckStrict(t, storeDir)
}
