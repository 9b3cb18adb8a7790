package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
	"golang.org/x/crypto/ssh"
)

func newKey(t testing.TB) ssh.Signer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func authorizedLine(opts string, k ssh.PublicKey) string {
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	if opts != "" {
		line = opts + " " + line
	}
	return line + "\n"
}

// signedHost is a test host whose operator logs in as ann, whose
// authorized_keys holds keys.
func signedHost(t *testing.T, keys ...string) *testHost {
	h := newTestHost(t)
	h.opts.loginUser = "ann"
	h.write("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nann:x:1000:1000::/home/ann:/bin/sh\n", 0o644)
	h.write("/home/ann/.ssh/authorized_keys", strings.Join(keys, ""), 0o600)
	return h
}

// signedDeploy deploys as over the wire with the deploy commit signed by
// signer (nil: unsigned), after edit changes the request as a modified
// operator might; it returns the host commit and the apply's error.
func (h *testHost) signedDeploy(signer ssh.Signer, as apps, edit func(*wire.ApplyRequest)) (store.ID, wire.Result, error) {
	h.t.Helper()
	desired := h.config(as)
	plan, err := diff.MakePlan(h.src, desired, diff.PlanOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	hp, err := deploy.ApplyPlan(plan.Hosts[0])
	if err != nil {
		h.t.Fatal(err)
	}
	var sign store.SignCommit
	if signer != nil {
		sign = store.SignerFunc(signer)
	}
	deploy, err := h.src.CommitSigned(desired, "deploy to web1\n", operator, h.clock.Now(), sign)
	if err != nil {
		h.t.Fatal(err)
	}
	commit, err := h.src.CommitHost("web1", hp.To, deploy, operator, h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	req := wire.ApplyRequest{Commit: commit, Deploy: deploy, Operator: operator, Plan: hp}
	if signer != nil {
		req.Signed = indexProof(h.t, h.src, deploy, desired, "web1")
	}
	if edit != nil {
		edit(&req)
	}
	r := h.start(h.opts)
	ctx := context.Background()
	hello := r.hello(h.t)
	if err := r.client.Lock(ctx, wire.LockRequest{Base: hp.Base, Operator: operator}); err != nil {
		h.t.Fatalf("lock: %v", err)
	}
	err = r.client.SendObjects(ctx, func(w io.Writer) error {
		_, err := h.src.WritePack(w, []store.ID{req.Commit}, []store.ID{hello.Current})
		return err
	})
	if err != nil {
		h.t.Fatalf("send objects: %v", err)
	}
	res, err := r.client.Apply(ctx, req, wire.ApplyEvents{})
	if err == nil && res.Outcome == wire.Deployed {
		if err := h.src.SetHostRef("web1", commit); err != nil {
			h.t.Fatal(err)
		}
	}
	r.client.Bye(ctx)
	r.stop()
	return commit, res, err
}

func v(content string) apps { return apps{"nginx": {"nginx.conf": content}} }

// A deploy signed by a key that may log in as the deploying user applies.
func TestSignedDeployApplies(t *testing.T) {
	key := newKey(t)
	h := signedHost(t, authorizedLine("", key.PublicKey()))
	_, res, err := h.signedDeploy(key, v("v1"), nil)
	if err != nil || res.Outcome != wire.Deployed {
		t.Fatalf("signed deploy: %v %s", err, res.Message())
	}
	if got := h.read(stateDir + "/apps/nginx/current/nginx.conf"); got != "v1" {
		t.Errorf("nginx.conf = %q", got)
	}
	if !h.exists(signedMark) {
		t.Error("the host did not note that it runs signed deploys")
	}
}

// A modified operator sends an unsigned host commit straight over the
// wire, with no "require" flag: a host that has run a signed deploy
// refuses it, and nothing on the host changes.
func TestUnsignedRefusedAfterSigned(t *testing.T) {
	key := newKey(t)
	h := signedHost(t, authorizedLine("", key.PublicKey()))
	if _, res, err := h.signedDeploy(key, v("v1"), nil); err != nil || res.Outcome != wire.Deployed {
		t.Fatalf("signed deploy: %v %s", err, res.Message())
	}
	before := h.refs()
	commit, _, err := h.signedDeploy(nil, v("pwned"), nil)
	ae := wantAgentError(t, err, wire.CodeBadRequest)
	if !strings.Contains(ae.Message, commit.String()[:12]) || !strings.Contains(ae.Message, "not signed") {
		t.Errorf("refusal = %q; want it to name the commit and say it is not signed", ae.Message)
	}
	if got := h.read(stateDir + "/apps/nginx/current/nginx.conf"); got != "v1" {
		t.Errorf("nginx.conf = %q after a refused deploy", got)
	}
	if after := h.refs(); after != before {
		t.Errorf("refs moved: %+v -> %+v", before, after)
	}
}

// A host with no signed deploy yet takes an unsigned one only while the
// store does not require signatures.
func TestUnsignedMigration(t *testing.T) {
	h := signedHost(t)
	if _, res, err := h.signedDeploy(nil, v("v1"), nil); err != nil || res.Outcome != wire.Deployed {
		t.Fatalf("unsigned deploy to a host that never ran a signed one: %v %s", err, res.Message())
	}
	_, _, err := h.signedDeploy(nil, v("v2"), func(r *wire.ApplyRequest) { r.RequireSigned = true })
	ae := wantAgentError(t, err, wire.CodeBadRequest)
	if !strings.Contains(ae.Message, "requires signed deploys") {
		t.Errorf("refusal = %q", ae.Message)
	}
}

// A key the host does not allow is refused, by fingerprint.
func TestSignedByUnknownKeyRefused(t *testing.T) {
	allowed, other := newKey(t), newKey(t)
	h := signedHost(t, authorizedLine("", allowed.PublicKey()))
	_, _, err := h.signedDeploy(other, v("v1"), nil)
	ae := wantAgentError(t, err, wire.CodeBadRequest)
	if !strings.Contains(ae.Message, ssh.FingerprintSHA256(other.PublicKey())) || !strings.Contains(ae.Message, "/home/ann/.ssh/authorized_keys") {
		t.Errorf("refusal = %q; want the key's fingerprint and where allowed keys come from", ae.Message)
	}
	if h.exists(stateDir + "/apps/nginx/current") {
		t.Error("the refused deploy was applied")
	}
}

// A real signature of another tree does not cover a forged host commit:
// the signed deploy says what web1 gets, not the host commit.
func TestForgedHostCommitUnderRealSignatureRefused(t *testing.T) {
	key := newKey(t)
	h := signedHost(t, authorizedLine("", key.PublicKey()))
	_, _, err := h.signedDeploy(key, v("v1"), func(r *wire.ApplyRequest) {
		forged := h.config(v("pwned"))
		entries, _ := h.src.ReadTree(forged)
		c, err := h.src.CommitHost("web1", entries[0].ID, r.Deploy, "root@vm", h.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		r.Commit, r.Plan.To = c, entries[0].ID
		r.Plan.Apps[0].To = h.tree(files{"nginx.conf": "pwned"})
	})
	ae := wantAgentError(t, err, wire.CodeBadRequest)
	if !strings.Contains(ae.Message, "is not what deploy") {
		t.Errorf("refusal = %q", ae.Message)
	}
	// A signed commit whose bytes were changed is not the deploy named.
	_, _, err = h.signedDeploy(key, v("v1"), func(r *wire.ApplyRequest) {
		r.Signed.Commit = []byte(strings.Replace(string(r.Signed.Commit), "deploy to web1", "deploy to web2", 1))
	})
	wantAgentError(t, err, wire.CodeBadRequest)
}

// An SSH certificate signed by a cert-authority of authorized_keys signs
// deploys for the principals it is valid for.
func TestCertificateAuthoritySigner(t *testing.T) {
	ca, user := newKey(t), newKey(t)
	cert := func(principal string) ssh.Signer {
		c := &ssh.Certificate{Key: user.PublicKey(), CertType: ssh.UserCert, KeyId: "ann", ValidPrincipals: []string{principal},
			ValidAfter: 0, ValidBefore: ssh.CertTimeInfinity}
		if err := c.SignCert(rand.Reader, ca); err != nil {
			t.Fatal(err)
		}
		s, err := ssh.NewCertSigner(c, user)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	h := signedHost(t, authorizedLine("cert-authority", ca.PublicKey()))
	if _, res, err := h.signedDeploy(cert("ann"), v("v1"), nil); err != nil || res.Outcome != wire.Deployed {
		t.Fatalf("deploy signed with a certificate for ann: %v %s", err, res.Message())
	}
	_, _, err := h.signedDeploy(cert("bob"), v("v2"), nil)
	ae := wantAgentError(t, err, wire.CodeBadRequest)
	if !strings.Contains(ae.Message, "certificate") {
		t.Errorf("refusal = %q", ae.Message)
	}
	// The bare key, without its certificate, is not allowed.
	_, _, err = h.signedDeploy(user, v("v2"), nil)
	wantAgentError(t, err, wire.CodeBadRequest)
}

// A deployed allowed-signers file replaces authorized_keys: rotating the
// keys is a deploy signed by a key already allowed.
func TestAllowedSignersFileRotation(t *testing.T) {
	old, next := newKey(t), newKey(t)
	h := signedHost(t, authorizedLine("", old.PublicKey()))
	h.write(AllowedSignersFile, "ann@laptop "+authorizedLine(`namespaces="git"`, old.PublicKey()), 0o644)
	if _, res, err := h.signedDeploy(old, v("v1"), nil); err != nil || res.Outcome != wire.Deployed {
		t.Fatalf("deploy by the allowed signer: %v %s", err, res.Message())
	}
	_, _, err := h.signedDeploy(next, v("v2"), nil)
	wantAgentError(t, err, wire.CodeBadRequest)
	h.write(AllowedSignersFile, "ann@laptop "+authorizedLine("", next.PublicKey()), 0o644)
	if _, res, err := h.signedDeploy(next, v("v2"), nil); err != nil || res.Outcome != wire.Deployed {
		t.Fatalf("deploy by the rotated-in signer: %v %s", err, res.Message())
	}
	_, _, err = h.signedDeploy(old, v("v3"), nil)
	wantAgentError(t, err, wire.CodeBadRequest)
}

// BenchmarkVerifySigned is a host's cost to check one apply's signature,
// with the proof for a deploy to hosts hosts (the host index's root grows
// with them up to 256 buckets, a bucket by one entry in 256).
func BenchmarkVerifySigned(b *testing.B) {
	for _, hosts := range []int{1, 10000} {
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) {
			src := store.OpenMemory()
			key := newKey(b)
			hostTree, _ := src.WriteTree(nil)
			entries := make([]store.Entry, hosts)
			for i := range entries {
				entries[i] = store.Entry{Name: fmt.Sprintf("host%d", i), Mode: store.ModeDir, ID: hostTree}
			}
			entries[0].Name = "web1"
			root, _ := src.WriteTree(entries)
			deploy, err := src.CommitSigned(root, "deploy\n", operator, time.Unix(1, 0), store.SignerFunc(key))
			if err != nil {
				b.Fatal(err)
			}
			dir := b.TempDir()
			s := newSession(nil, io.Discard, Options{Root: dir, loginUser: "root", Now: time.Now})
			s.host = "web1"
			req := &wire.ApplyRequest{Deploy: deploy, Signed: indexProof(b, src, deploy, root, "web1")}
			allowed := []allowedKey{{key: key.PublicKey()}}
			b.ResetTimer()
			for range b.N {
				pub, err := s.checkProof(req, hostTree)
				if err != nil {
					b.Fatal(err)
				}
				if why := permitted(pub, allowed, "root", time.Now()); why != "" {
					b.Fatal(why)
				}
			}
		})
	}
}
