package agent

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/deploy/secret"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
)

// hostKey gives the test host an SSH host key and returns its public half.
func (h *testHost) hostKey() ssh.PublicKey {
	h.t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		h.t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		h.t.Fatal(err)
	}
	h.write("/etc/ssh/ssh_host_ed25519_key", string(pem.EncodeToMemory(block)), 0o600)
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		h.t.Fatal(err)
	}
	return sp
}

func otherKey(t *testing.T) ssh.PublicKey {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func encryptFor(t *testing.T, plain string, keys ...ssh.PublicKey) string {
	t.Helper()
	ct, err := secret.Encrypt([]byte(plain), secret.HostRecipients(keys))
	if err != nil {
		t.Fatal(err)
	}
	return string(ct)
}

func (h *testHost) accounts(passwd, group string) {
	h.write("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"+passwd, 0o644)
	h.write("/etc/group", "root:x:0:\n"+group, 0o644)
}

// stat says a path's mode and owners, as "640 0:101".
func (h *testHost) stat(p string) string {
	h.t.Helper()
	fi, err := os.Stat(h.path(p))
	if err != nil {
		h.t.Fatal(err)
	}
	uid, gid := owner(fi)
	return fmt.Sprintf("%o %d:%d", fi.Mode().Perm(), uid, gid)
}

func TestCheckoutSetsModesOwnersAndDecryptsSecrets(t *testing.T) {
	h := newTestHost(t)
	key := h.hostKey()
	h.accounts("nginx:x:101:101::/:/bin/false\npg:x:102:102::/:/bin/false\n", "nginx:x:101:\npg:x:102:\n")
	app := files{
		"nginx.conf":      "conf",
		"tls/key.pem.age": encryptFor(t, "PRIVATE KEY", key),
		"tls/crt.pem":     "cert",
		"db/password.age": encryptFor(t, "hunter2", key),
		"run.sh*":         "#!/bin/sh\n",
		"manifest.json": `{"files": {
			"tls/key.pem": {"mode": "0640", "group": "nginx"},
			"tls/crt.pem": {"mode": "0640", "group": "nginx"},
			"db/password": {"owner": "pg"},
			"run.sh": {"mode": "0700"}
		}}`,
	}
	h.deploy(apps{"web": app}).mustSucceed(t)
	dir := appsDir + "/web/current/"
	got := map[string]string{}
	for _, p := range []string{"", "nginx.conf", "tls", "tls/key.pem", "tls/crt.pem", "db", "db/password", "run.sh"} {
		got[p] = h.stat(dir + p)
	}
	want := map[string]string{
		"":            "755 0:0", // nginx.conf is for everyone
		"nginx.conf":  "644 0:0",
		"tls":         "750 0:101", // only nginx's group needs in
		"tls/key.pem": "640 0:101",
		"tls/crt.pem": "640 0:101",
		"db":          "750 0:102", // pg's login group covers pg
		"db/password": "600 102:0",
		"run.sh":      "700 0:0",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("modes and owners (-want +got):\n%s", d)
	}
	if got := h.read(dir + "tls/key.pem"); got != "PRIVATE KEY" {
		t.Errorf("tls/key.pem = %q, want the plaintext", got)
	}
	if h.exists(dir+"tls/key.pem.age") || h.exists(dir+"db/password.age") {
		t.Error("the ciphertext is in the checkout too; only the plaintext belongs there")
	}
	for _, leftover := range h.entries(appsDir + "/web") {
		if strings.HasPrefix(leftover, ".tmp-") {
			t.Errorf("temp dir %s left behind", leftover)
		}
	}
}

func TestMissingGroupFailsBeforeAnyChange(t *testing.T) {
	h := newTestHost(t)
	h.accounts("", "")
	app := files{"key.pem": "k", "a.conf": "a", "manifest.json": `{"files": {"key.pem": {"group": "nosuch"}, "a.conf": {"owner": "nobody2"}}}`}
	d := h.deploy(apps{"web": app})
	if d.result.Outcome != wire.Failed {
		t.Fatalf("outcome %s, want failed", d.result.Outcome)
	}
	for _, want := range []string{"nothing was changed on the host", `app web: key.pem: group "nosuch" does not exist on the host`, `app web: a.conf: user "nobody2" does not exist`} {
		if !strings.Contains(d.result.Message(), want) {
			t.Errorf("error %q does not say %q", d.result.Message(), want)
		}
	}
	if h.exists(appsDir + "/web") {
		t.Error("the app was checked out although its group is missing")
	}
}

// A user the app's own sysusers file creates does not exist before the
// deploy: its files are root's until systemd-sysusers ran, then its own,
// before any unit starts.
func TestOwnerFromSysusersIsSetAfterSysusers(t *testing.T) {
	h, rec := unitHost(t)
	h.accounts("", "")
	var atRestart string
	rec.observe = func(call string) {
		switch {
		case call == "sysusers":
			h.accounts("svc:x:990:990::/:/bin/false\n", "svc:x:990:\n")
		case strings.HasPrefix(call, "restart"):
			atRestart = h.stat(appsDir + "/web/current/token")
		}
	}
	app := files{
		"token":               "t",
		"sysusers/svc.conf":   "u svc - -\n",
		"systemd/web.service": "[Service]\nExecStart=/bin/true\n",
		"manifest.json":       `{"systemd": {"units_enabled": ["web.service"]}, "files": {"token": {"mode": "0400", "owner": "svc"}}}`,
	}
	h.deploy(apps{"web": app}).mustSucceed(t)
	if atRestart != "400 990:0" {
		t.Errorf("token was %q when the unit restarted, want 400 990:0", atRestart)
	}
}

func TestSecretForAnotherKeyFailsBeforeAnyChange(t *testing.T) {
	h := newTestHost(t)
	key := h.hostKey()
	h.deploy(apps{"web": {"a.conf": "1"}}).mustSucceed(t)
	before := h.snapshot("/")
	d := h.deploy(apps{"web": {"a.conf": "2", "ok.age": encryptFor(t, "x", key), "db.password.age": encryptFor(t, "x", otherKey(t))}})
	if d.result.Outcome != wire.Failed {
		t.Fatalf("outcome %s, want failed", d.result.Outcome)
	}
	want := "app web: db.password.age cannot be decrypted with this host's SSH host key"
	if !strings.Contains(d.result.Message(), want) || strings.Contains(d.result.Message(), "ok.age") {
		t.Errorf("error %q does not name only the secret that fails (%q)", d.result.Message(), want)
	}
	after := h.snapshot("/", stateDir+"/journal.jsonl", stateDir+"/attempt.json", stateDir+"/store", stateDir+"/lock")
	for p := range before {
		if strings.HasPrefix(p, stateDir+"/journal.jsonl") || strings.HasPrefix(p, stateDir+"/attempt.json") || strings.HasPrefix(p, stateDir+"/store") || strings.HasPrefix(p, stateDir+"/lock") {
			delete(before, p)
		}
	}
	if d := cmp.Diff(before, after); d != "" {
		t.Errorf("the host changed (-before +after):\n%s", d)
	}
}

// A mode-only change is a new tree (the manifest changed), so a new
// checkout with the new mode; rolling back brings the old one back.
func TestModeOnlyChangeAndRollback(t *testing.T) {
	h, rec := unitHost(t)
	key := h.hostKey()
	h.accounts("", "adm:x:4:\n")
	unit := "[Service]\nExecStart=/bin/true\n"
	v1 := files{"secret.age": encryptFor(t, "one", key), "systemd/web.service": unit,
		"manifest.json": `{"systemd": {"units_enabled": ["web.service"]}}`}
	h.deploy(apps{"web": v1}).mustSucceed(t)
	if got := h.stat(appsDir + "/web/current/secret"); got != "600 0:0" {
		t.Errorf("secret %s, want the default 600 0:0", got)
	}
	v2 := files{"secret.age": v1["secret.age"], "systemd/web.service": unit,
		"manifest.json": `{"systemd": {"units_enabled": ["web.service"]}, "files": {"secret": {"mode": "0640", "group": "adm"}}}`}
	d := h.deploy(apps{"web": v2}).mustSucceed(t)
	if got := h.stat(appsDir + "/web/current/secret"); got != "640 0:4" {
		t.Errorf("secret %s after the mode change, want 640 0:4", got)
	}
	if !slicesContain(rec.calls, "restart web.service") || len(d.plan.Apps) != 1 {
		t.Errorf("a mode change must restart the app's units: %v", rec.calls)
	}

	// Rotation that fails: the old secret and mode come back.
	rec.fail("web.service", "exit-code", 1)
	v3 := files{"secret.age": encryptFor(t, "three", key), "systemd/web.service": unit, "manifest.json": v2["manifest.json"]}
	if d := h.deploy(apps{"web": v3}); d.result.Outcome != wire.RolledBack {
		t.Fatalf("outcome %s, want rolled back: %s", d.result.Outcome, d.result.Message())
	}
	if got := h.read(appsDir + "/web/current/secret"); got != "one" {
		t.Errorf("after the rollback the secret is %q, want the previous one", got)
	}
	if got := h.stat(appsDir + "/web/current/secret"); got != "640 0:4" {
		t.Errorf("after the rollback the secret is %s, want 640 0:4", got)
	}
}

func TestGCRemovesPlaintext(t *testing.T) {
	h := newTestHost(t)
	key := h.hostKey()
	h.keep = 1
	var dirs []string
	for _, s := range []string{"a", "b", "c", "d"} {
		d := h.deploy(apps{"web": {"s.age": encryptFor(t, "plain-"+s, key)}}).mustSucceed(t)
		dirs = append(dirs, d.plan.Apps[0].To.String())
	}
	if h.exists(filepath.Join(appsDir, "web", dirs[0])) {
		t.Errorf("checkout %s (and its plaintext) survived garbage collection", dirs[0])
	}
}

func slicesContain(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

// A checkout an apply wrote but did not finish (cut short before the
// owners were set) is set right when the next apply reuses it.
func TestReusedCheckoutGetsItsOwnersAgain(t *testing.T) {
	h := newTestHost(t)
	h.accounts("svc:x:990:990::/:/bin/false\n", "svc:x:990:\n")
	h.deploy(apps{"a": {"a.conf": "1"}, "b": {"b.conf": "1"}}).mustSucceed(t)
	v2 := apps{"a": {"token": "t", "manifest.json": `{"files": {"token": {"mode": "0400", "owner": "svc"}}}`}, "b": {"b.conf": "2"}}
	h.noRollback = true
	failing := h.opts
	failing.fault = func(e Effect) error {
		if e.Kind == EffectCheckout && e.App == "b" {
			return errors.New("cut short")
		}
		return nil
	}
	if d := h.deployWith(failing, v2); d.result.Outcome != wire.Failed {
		t.Fatalf("outcome %s, want failed", d.result.Outcome)
	}
	tree := h.appTree(v2["a"])
	token := filepath.Join(appsDir, "a", tree, "token")
	if err := os.Lchown(h.path(token), 0, 0); err != nil { // as if cut short before the chown
		t.Fatal(err)
	}
	h.noRollback = false
	h.deploy(v2).mustSucceed(t)
	if got := h.stat(token); got != "400 990:0" {
		t.Errorf("token %s after the next apply, want 400 990:0", got)
	}
}

// check compares a secret with its decrypted value, under its decrypted
// name, and files with the mode and owners the manifest gives them.
func TestDriftKnowsSecretsAndModes(t *testing.T) {
	h := newTestHost(t)
	key := h.hostKey()
	h.accounts("", "adm:x:4:\n")
	app := files{"db.password.age": encryptFor(t, "pw", key), "a.conf": "a",
		"manifest.json": `{"files": {"a.conf": {"mode": "0640", "group": "adm"}}}`}
	h.deploy(apps{"web": app}).mustSucceed(t)
	if got := h.drift(h.opts); len(got.Drift) != 0 {
		t.Fatalf("drift of a host as deployed: %+v", got.Drift)
	}
	cur := appsDir + "/web/current/"
	h.write(cur+"db.password", "changed", 0o600)
	if err := os.Chmod(h.path(cur+"a.conf"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := []wire.Drift{
		{App: "web", Kind: wire.DriftFile, Path: "a.conf", What: "is mode 0644 uid 0 gid 4 on the host; the manifest gives it mode 0640 root:adm"},
		{App: "web", Kind: wire.DriftFile, Path: "db.password", What: "changed on the host"},
	}
	if d := cmp.Diff(want, h.drift(h.opts).Drift); d != "" {
		t.Errorf("drift (-want +got):\n%s", d)
	}
}

// A checkout of the current commit someone removed is written again by
// the next apply, its secrets decrypted and its modes set as at first.
func TestRestoredCheckoutKeepsSecretsAndModes(t *testing.T) {
	h := newTestHost(t)
	key := h.hostKey()
	h.accounts("", "adm:x:4:\n")
	web := files{"token.age": encryptFor(t, "tok", key), "manifest.json": `{"files": {"token": {"mode": "0640", "group": "adm"}}}`}
	h.deploy(apps{"web": web}).mustSucceed(t)
	if err := os.RemoveAll(h.path(filepath.Join(appsDir, "web", h.appTree(web)))); err != nil {
		t.Fatal(err)
	}
	h.deploy(apps{"web": web, "other": {"a": "1"}}).mustSucceed(t)
	cur := appsDir + "/web/current/token"
	if got := h.read(cur); got != "tok" {
		t.Errorf("restored secret %q, want its plaintext", got)
	}
	if got := h.stat(cur); got != "640 0:4" {
		t.Errorf("restored secret %s, want 640 0:4", got)
	}
}

// A manifest symlink may point at a secret by its decrypted name; a
// different file in its way is refused without any hash of the secret.
func TestSymlinkToSecret(t *testing.T) {
	h := newTestHost(t)
	key := h.hostKey()
	web := files{"key.pem.age": encryptFor(t, "KEY", key), "manifest.json": `{"symlinks": {"/etc/ssl/web.pem": "key.pem"}}`}
	h.write("/etc/ssl/web.pem", "other", 0o600)
	d := h.deploy(apps{"web": web})
	if d.result.Outcome != wire.Failed || !strings.Contains(d.result.Message(), "is a secret, so neither hash is shown") || strings.Contains(d.result.Message(), "sha256") {
		t.Fatalf("result %s: %s", d.result.Outcome, d.result.Message())
	}
	h.write("/etc/ssl/web.pem", "KEY", 0o600) // identical: adopted
	h.deploy(apps{"web": web}).mustSucceed(t)
	if got := h.read("/etc/ssl/web.pem"); got != "KEY" {
		t.Errorf("through the link: %q", got)
	}
}
