package deploy

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/deptool/deptool/store"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Each host is sent the deploy's host index and its own bucket, never
// the root tree: the names it learns are its bucket's.
func TestProofIsTheHostsBucket(t *testing.T) {
	s := store.OpenMemory()
	var entries []store.Entry
	for i := range 600 {
		blob, _ := s.WriteBlob([]byte(fmt.Sprint(i)))
		tree, _ := s.WriteTree([]store.Entry{{Name: "app", Mode: store.ModeFile, ID: blob}})
		entries = append(entries, store.Entry{Name: fmt.Sprintf("host%d", i), Mode: store.ModeDir, ID: tree})
	}
	root, _ := s.WriteTree(entries)
	id, err := s.CommitSigned(root, "deploy to many\n", "ann@laptop", time.Unix(1, 0), store.SignerFunc(trustKey(t)))
	if err != nil {
		t.Fatal(err)
	}
	d := &deployer{recorder: &recorder{store: s, deploy: id}, tree: root}
	if err := d.loadProof(); err != nil || d.proof == nil {
		t.Fatalf("loadProof: %v", err)
	}
	x, _ := s.HostIndex(root)
	for _, e := range entries[:50] {
		p := d.proofFor(e.Name)
		if len(p.Root) != 0 || !bytes.Equal(p.Index, x.Root) || !bytes.Equal(p.Bucket, x.Bucket(e.Name)) {
			t.Fatalf("%s: proof %d B of root, %d of index, %d of bucket", e.Name, len(p.Root), len(p.Index), len(p.Bucket))
		}
		for _, other := range entries {
			if named := bytes.Contains(p.Bucket, []byte(" "+other.Name+"\x00")); named != (store.BucketOf(other.Name) == store.BucketOf(e.Name)) {
				t.Fatalf("%s's bucket names %s: %v", e.Name, other.Name, named)
			}
		}
	}
	if d.proofFor("host1") == d.proofFor("host2") || !bytes.Equal(d.proof.Bucket, nil) {
		t.Error("hosts share one proof, or the deploy's proof carries a bucket")
	}

	// A deploy signed before the index (no trailer) is proved by its root.
	who := object.Signature{Name: "ann", Email: "ann@laptop", When: time.Unix(2, 0)}
	c := &object.Commit{Author: who, Committer: who, Message: "deploy\n", TreeHash: plumbing.Hash(root)}
	payload := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(payload); err != nil {
		t.Fatal(err)
	}
	r, _ := payload.Reader()
	data, _ := io.ReadAll(r)
	sig, err := store.SignSSH(trustKey(t), store.GitNamespace, data)
	if err != nil {
		t.Fatal(err)
	}
	c.PGPSignature = string(sig)
	obj := s.Repository().Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		t.Fatal(err)
	}
	legacy, err := s.Repository().Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	d = &deployer{recorder: &recorder{store: s, deploy: store.ID(legacy)}, tree: root}
	rawRoot, _ := s.RawObject(root)
	if err := d.loadProof(); err != nil || d.proof == nil {
		t.Fatalf("loadProof of a deploy signed without the index: %v", err)
	}
	if p := d.proofFor("host1"); !bytes.Equal(p.Root, rawRoot) || len(p.Index) != 0 || len(p.Bucket) != 0 {
		t.Errorf("deploy signed without the index: proof %d B of root, %d of index, %d of bucket", len(p.Root), len(p.Index), len(p.Bucket))
	}
}

// `deptool log` shows the message as written: the index trailer is for
// hosts to check, and the subject stays the first line.
func TestHistoryLeavesOutHostsTrailer(t *testing.T) {
	s := store.OpenMemory()
	deployed(t, s, "v1", trustKey(t), time.Unix(1, 0))
	entries, err := History(s, nil, 0)
	if err != nil || len(entries) != 1 {
		t.Fatalf("History: %v, %v", entries, err)
	}
	info, _ := s.CommitInfo(entries[0].Commit)
	if _, ok, _ := store.HostsIn(info.Message); !ok {
		t.Fatalf("the signed deploy's message %q names no host index", info.Message)
	}
	if e := entries[0]; e.Message != "deploy to a1" || e.Subject() != "deploy to a1" {
		t.Errorf("log shows %q (subject %q)", e.Message, e.Subject())
	}
}
