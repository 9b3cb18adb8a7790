package agent

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/crypto/ssh"
)

// indexProof is the proof the operator sends host for a signed deploy:
// the commit, its host index's root and host's bucket.
func indexProof(t testing.TB, src *store.Store, deploy, root store.ID, host string) *wire.Signed {
	t.Helper()
	raw, err := src.RawObject(deploy)
	if err != nil {
		t.Fatal(err)
	}
	x, err := src.HostIndex(root)
	if err != nil {
		t.Fatal(err)
	}
	return &wire.Signed{Commit: raw, Index: x.Root, Bucket: x.Bucket(host)}
}

// signedRaw signs a deploy commit of tree with message as deptool did
// before host indexes, or as a forger with the key might: it returns the
// raw commit and its id, stored nowhere.
func signedRaw(t *testing.T, key ssh.Signer, tree store.ID, message string) ([]byte, store.ID) {
	t.Helper()
	who := object.Signature{Name: "ann", Email: operator, When: time.Unix(1, 0)}
	c := &object.Commit{Author: who, Committer: who, Message: message, TreeHash: plumbing.Hash(tree)}
	payload := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(payload); err != nil {
		t.Fatal(err)
	}
	r, _ := payload.Reader()
	data, _ := io.ReadAll(r)
	sig, err := store.SignSSH(key, store.GitNamespace, data)
	if err != nil {
		t.Fatal(err)
	}
	c.PGPSignature = string(sig)
	obj := &plumbing.MemoryObject{}
	if err := c.Encode(obj); err != nil {
		t.Fatal(err)
	}
	r, _ = obj.Reader()
	raw, _ := io.ReadAll(r)
	return raw, store.ID(obj.Hash())
}

// proofFleet is a deploy's root tree of web1 and others hosts, each with
// its own host tree; it returns the root and web1's tree.
func proofFleet(t *testing.T, src *store.Store, others []string, withWeb1 bool) (root, web1 store.ID) {
	t.Helper()
	var entries []store.Entry
	names := others
	if withWeb1 {
		names = append([]string{"web1"}, others...)
	}
	for _, name := range names {
		blob, _ := src.WriteBlob([]byte(name))
		tree, err := src.WriteTree([]store.Entry{{Name: "app", Mode: store.ModeFile, ID: blob}})
		if err != nil {
			t.Fatal(err)
		}
		if name == "web1" {
			web1 = tree
		}
		entries = append(entries, store.Entry{Name: name, Mode: store.ModeDir, ID: tree})
	}
	root, err := src.WriteTree(entries)
	if err != nil {
		t.Fatal(err)
	}
	return root, web1
}

// hostsIn finds n host names in web1's index bucket (same) or in others.
func hostsIn(n int, same bool) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		name := fmt.Sprintf("host%d", i)
		if (store.BucketOf(name) == store.BucketOf("web1")) == same {
			out = append(out, name)
		}
	}
	return out
}

// Each way a proof by host index can lie is refused, and says how.
func TestIndexProofRefusals(t *testing.T) {
	key := newKey(t)
	src := store.OpenMemory()
	s := newSession(nil, io.Discard, Options{Root: t.TempDir(), loginUser: "root", Now: time.Now})
	s.host = "web1"
	neighbour, stranger := hostsIn(1, true)[0], hostsIn(1, false)[0]
	root, web1 := proofFleet(t, src, []string{neighbour, stranger}, true)
	deploy, err := src.CommitSigned(root, "deploy to web1\n", operator, time.Unix(1, 0), store.SignerFunc(key))
	if err != nil {
		t.Fatal(err)
	}
	good := func() *wire.ApplyRequest {
		return &wire.ApplyRequest{Deploy: deploy, Signed: indexProof(t, src, deploy, root, "web1")}
	}
	if _, err := s.checkProof(good(), web1); err != nil {
		t.Fatalf("the operator's proof: %v", err)
	}
	if len(good().Signed.Root) != 0 {
		t.Error("the proof carries the root tree")
	}

	otherRoot, _ := proofFleet(t, src, []string{stranger}, true)
	otherIndex, _ := src.HostIndex(otherRoot)
	x, _ := src.HostIndex(root)
	// The neighbour's tree under web1's name: a bucket Git would take,
	// that the index does not name.
	forged, err := store.BuildHostIndex([]store.Entry{{Name: "web1", Mode: store.ModeDir, ID: store.EmptyTree}, {Name: neighbour, Mode: store.ModeDir, ID: web1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(*wire.Signed)
		want string
	}{
		{"index of another deploy", func(p *wire.Signed) { p.Index = otherIndex.Root }, "host index sent is not the one the deploy commit names"},
		{"no index", func(p *wire.Signed) { p.Index = nil }, "host index sent is not"},
		{"another host's bucket", func(p *wire.Signed) { p.Bucket = x.Bucket(stranger) }, "index bucket sent is not the one"},
		{"a forged bucket", func(p *wire.Signed) { p.Bucket = forged.Bucket("web1") }, "index bucket sent is not the one"},
		{"no bucket", func(p *wire.Signed) { p.Bucket = nil }, "index bucket sent is not the one"},
		{"the root tree instead", func(p *wire.Signed) { p.Index, p.Bucket = nil, nil; p.Root, _ = src.RawObject(root) }, "host index sent is not"},
	} {
		req := good()
		c.edit(req.Signed)
		_, err := s.checkProof(req, web1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}

	// web1 left out of a deploy whose index has its bucket: the bucket
	// proves web1 gets nothing, not its tree.
	without, _ := proofFleet(t, src, []string{neighbour, stranger}, false)
	dep2, err := src.CommitSigned(without, "deploy to others\n", operator, time.Unix(2, 0), store.SignerFunc(key))
	if err != nil {
		t.Fatal(err)
	}
	req := &wire.ApplyRequest{Deploy: dep2, Signed: indexProof(t, src, dep2, without, "web1")}
	if _, err := s.checkProof(req, web1); err == nil || !strings.Contains(err.Error(), "is not what deploy") {
		t.Errorf("web1 missing from its bucket: %v", err)
	}
	if _, err := s.checkProof(req, store.EmptyTree); err != nil {
		t.Errorf("web1 missing from its bucket, host commit of the empty tree: %v", err)
	}
}

// A signed message must name one host index, as its trailer: with two,
// or one elsewhere, the host cannot know which the signer meant, and
// refuses, even when the root tree sent would prove the entry.
func TestIndexTrailerAmbiguityRefused(t *testing.T) {
	key := newKey(t)
	src := store.OpenMemory()
	s := newSession(nil, io.Discard, Options{Root: t.TempDir(), loginUser: "root", Now: time.Now})
	s.host = "web1"
	root, web1 := proofFleet(t, src, hostsIn(2, false), true)
	x, _ := src.HostIndex(root)
	rawRoot, _ := src.RawObject(root)
	line := store.HostsTrailer + x.ID.String() + "\n"
	for _, msg := range []string{
		"deploy\n\n" + line + line,
		"deploy\n\n" + line + "\nmore words\n",
		line,
		"deploy\n\nDeptool-Hosts:  " + x.ID.String() + "\n",
		"deploy\n\n" + strings.ToUpper(line),
	} {
		raw, id := signedRaw(t, key, root, msg)
		req := &wire.ApplyRequest{Deploy: id, Signed: &wire.Signed{Commit: raw, Root: rawRoot, Index: x.Root, Bucket: x.Bucket("web1")}}
		if _, err := s.checkProof(req, web1); err == nil || !strings.Contains(err.Error(), "Deptool-Hosts") {
			t.Errorf("message %q: %v, want a refusal naming the trailer", msg, err)
		}
	}
}

// A deploy signed before host indexes (no trailer) is still proved by its
// root tree, so rolling back to one verifies; an index does not prove it.
func TestRootProofWithoutTrailer(t *testing.T) {
	key := newKey(t)
	src := store.OpenMemory()
	s := newSession(nil, io.Discard, Options{Root: t.TempDir(), loginUser: "root", Now: time.Now})
	s.host = "web1"
	root, web1 := proofFleet(t, src, hostsIn(2, false), true)
	rawRoot, _ := src.RawObject(root)
	raw, id := signedRaw(t, key, root, "deploy to web1\n\nDeptool-Source: 0123456789abcdef\n")
	if _, err := s.checkProof(&wire.ApplyRequest{Deploy: id, Signed: &wire.Signed{Commit: raw, Root: rawRoot}}, web1); err != nil {
		t.Errorf("old-style proof: %v", err)
	}
	x, _ := src.HostIndex(root)
	if _, err := s.checkProof(&wire.ApplyRequest{Deploy: id, Signed: &wire.Signed{Commit: raw, Index: x.Root, Bucket: x.Bucket("web1")}}, web1); err == nil {
		t.Error("an index proved a deploy whose message names none")
	}
}
