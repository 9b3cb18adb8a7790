package diff

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"github.com/deptool/deptool/store"
	fdiff "github.com/go-git/go-git/v5/plumbing/format/diff"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/crypto/ssh"
)

func TestValidateFiles(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"web1/nginx/tls/key.pem": "k",
		"web1/nginx/tls/crt.pem": "c",
		"web1/nginx/manifest.json": `{"files": {
			"tls/key.pem": {"mode": "0640", "owner": "root", "group": "nginx"},
			"tls/*.pem": {"mode": "0644"},
			"nope.conf": {"mode": "0600"},
			"*.txt": {"mode": "0600"},
			"nginx.conf": {"mode": "640x"},
			"mime.types": {"mode": "4755", "owner": "9x", "group": "0"},
			"../x": {}
		}}`,
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1/nginx/manifest.json": {
			`"*.txt" matches no file`,
			`"../x" must be a clean path`,
			`mode "4755" sets setuid`,
			`owner "9x" is not a user or group name`,
			`mode "640x" is not an octal mode`,
			`"nope.conf" is not a file in this app`,
		},
	})
}

func TestValidateFilesGlobsMustNotOverlap(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"web1/nginx/tls/key.pem":   "k",
		"web1/nginx/tls/crt.pem":   "c",
		"web1/nginx/manifest.json": `{"files": {"tls/*": {"mode": "0600"}, "*/key.pem": {"mode": "0640"}, "tls/crt.pem": {"mode": "0644"}}}`,
	}))
	// crt.pem has an exact entry; key.pem is left to two globs.
	wantProblems(t, err, map[string][]string{
		"prod/web1/nginx/manifest.json": {`tls/key.pem matches both "*/key.pem" and "tls/*"`},
	})
}

func TestValidateSecretNames(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"web1/nginx/db.password.age": ageFile(t, newHostKey(t)),
		"web1/nginx/db.password":     "plain",
		"web1/nginx/tls.key.age":     ageFile(t, newHostKey(t)),
		"web1/nginx/bad.age":         "not age",
		"web1/nginx/manifest.json":   `{"files": {"tls.key.age": {"mode": "0640"}}}`,
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1/nginx/db.password.age": {"decrypts to db.password, which is also a file"},
		"prod/web1/nginx/bad.age":         {"not an age file"},
		"prod/web1/nginx/manifest.json":   {`"tls.key.age" is a secret; name the file it decrypts to, "tls.key"`},
	})
}

func TestParseManifestFilesShape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"files": {"a": {"mode": 640}}}`, `must be a string, not a number; write the mode as an octal string, such as "0640"`},
		{`{"files": {"a": {"perm": "0640"}}}`, `unknown key "perm" in "files[\"a\"]"`},
		{`{"files": ["a"]}`, `must be an object of objects`},
	} {
		_, err := ParseManifest("m", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestAttrOf(t *testing.T) {
	m := Manifest{Files: map[string]FileAttrs{
		"tls/*":        {Mode: "0600"},
		"tls/key.pem":  {Mode: "0640", Group: "nginx"},
		"db.password":  {Owner: "postgres"},
		"bin/run":      {Group: "adm"},
		"conf/app.ini": {Mode: "644"},
	}}
	for _, tc := range []struct {
		f    AppFile
		want string
	}{
		{AppFile{Path: "tls/key.pem"}, "mode 0640 root:nginx"}, // exact beats glob
		{AppFile{Path: "tls/crt.pem"}, "mode 0600 root:root"},
		{AppFile{Path: "db.password", Secret: true}, "mode 0600 postgres:root"},
		{AppFile{Path: "bin/run", Exec: true}, "mode 0755 root:adm"},
		{AppFile{Path: "conf/app.ini", Exec: true}, "mode 0644 root:root"},
		{AppFile{Path: "other"}, "mode 0644 root:root"},
		{AppFile{Path: "other.key", Secret: true}, "mode 0600 root:root"},
	} {
		a, err := m.AttrOf(tc.f)
		if err != nil || a.String() != tc.want {
			t.Errorf("%+v: got %v, %v; want %s", tc.f, a, err, tc.want)
		}
	}
}

func TestPlanAttrOnlyChange(t *testing.T) {
	s := newStore(t)
	files := map[string]string{"h/a/tls/key.pem": "k", "h/a/nginx.conf": "c", "h/a/manifest.json": `{}`}
	deploy(t, s, buildTree(t, s, files), "h")
	files["h/a/manifest.json"] = `{"files": {"tls/key.pem": {"mode": "0640", "group": "nginx"}}}`
	p := mustPlan(t, s, buildTree(t, s, files), PlanOptions{})
	id := blobID(t, s, "k")
	attr := Attr{Mode: 0o640, Owner: "root", Group: "nginx"}
	want := []FileChange{
		{Op: Update, Path: "manifest.json", Old: blobID(t, s, `{}`), New: blobID(t, s, files["h/a/manifest.json"]), OldMode: fileMode, NewMode: fileMode},
		{Op: Update, Path: "tls/key.pem", Old: id, New: id, OldMode: fileMode, NewMode: fileMode, Attr: &attr, AttrChanged: true},
	}
	if d := cmp.Diff(want, p.Hosts[0].Apps[0].Files); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}
	js, _ := json.Marshal(p)
	if !strings.Contains(string(js), `"attr":{"mode":"0640","owner":"root","group":"nginx"},"attr_changed":true`) {
		t.Errorf("the JSON plan does not carry the new attributes: %s", js)
	}
	var back Plan
	if err := json.Unmarshal(js, &back); err != nil || !cmp.Equal(back.Hosts[0].Apps[0].Files, want) {
		t.Errorf("the JSON plan does not read back: %v\n%s", err, cmp.Diff(want, back.Hosts[0].Apps[0].Files))
	}
}

func TestPlanSecretsShowNoContent(t *testing.T) {
	s := newStore(t)
	key := newHostKey(t)
	first, second := ageFile(t, key), armoredAgeFile(t, key)
	files := map[string]string{"h/a/db.password.age": first, "h/a/manifest.json": `{"files": {"db.password": {"mode": "0640", "group": "app"}}}`}
	deploy(t, s, buildTree(t, s, files), "h")
	files["h/a/db.password.age"] = second
	files["h/a/new.token.age"] = second
	p := mustPlan(t, s, buildTree(t, s, files), PlanOptions{})
	for _, f := range p.Hosts[0].Apps[0].Files {
		if f.Path != ManifestName && !f.Secret {
			t.Errorf("%s is not marked secret in the plan", f.Path)
		}
	}
	js, _ := json.Marshal(p)
	for _, secret := range []string{first, second} {
		if strings.Contains(string(js), secret[:60]) || strings.Contains(string(js), "BEGIN AGE") || strings.Contains(string(js), "age-encryption.org") {
			t.Errorf("the JSON plan shows ciphertext:\n%s", js)
		}
	}
	// The patches and stats the displays are made of hold no ciphertext:
	// a secret is a binary file in them, its sizes not even counted.
	err := Changes(s, p, func(hosts []string, patch fdiff.Patch) error {
		for _, fp := range patch.FilePatches() {
			if !fp.IsBinary() || len(fp.Chunks()) > 0 {
				from, to := fp.Files()
				t.Errorf("a secret's patch shows its content: %v -> %v", from, to)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stats, err := Stats(s, p)
	if err != nil {
		t.Fatal(err)
	}
	want := []HostStats{{Hosts: []string{"h"}, Files: []FileStat{{Path: "h/a/db.password.age", Secret: true}, {Path: "h/a/new.token.age", Secret: true}}}}
	// Whether the ciphertext looks binary to Git is chance: not the point.
	if d := cmp.Diff(want, stats, cmpopts.IgnoreFields(FileStat{}, "Binary")); d != "" {
		t.Errorf("stats (-want +got):\n%s", d)
	}
}

func TestParseAgeHeader(t *testing.T) {
	key, other := newHostKey(t), newHostKey(t)
	for name, data := range map[string]string{"binary": ageFile(t, key), "armored": armoredAgeFile(t, key)} {
		st, err := ParseAgeHeader([]byte(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(st) != 1 || st[0].Type != "ssh-ed25519" || st[0].Args[0] != SSHTag(key) {
			t.Errorf("%s: stanzas %+v, want one ssh-ed25519 with tag %s", name, st, SSHTag(key))
		}
		if !ForKey(st, key) || ForKey(st, other) {
			t.Errorf("%s: ForKey says the wrong key matches", name)
		}
	}
	good := ageFile(t, key)
	hdr := good[:strings.Index(good, "\n--- ")+1]
	for _, tc := range []struct{ in, want string }{
		{"", "not an age file"},
		{"age-encryption.org/v2\n", "not an age file"},
		{hdr, "ends before its MAC line"},
		{strings.Replace(good, "-> ", "=> ", 1), "malformed age header line"},
		{strings.Replace(good, "-> ssh-ed25519 ", "-> ssh-ed25519  ", 1), "malformed age stanza"},
		{"age-encryption.org/v1\n--- AAAA\n", "no recipients"},
		{"age-encryption.org/v1\n-> X25519 abc\n!!!\n--- AAAA\n", "not base64"},
		{"-----BEGIN AGE ENCRYPTED FILE-----\nnope\n", "not a valid armored age file"},
	} {
		_, err := ParseAgeHeader([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", clip(tc.in), err, tc.want)
		}
	}
}

// TestSSHTagMatchesAge pins the tag to what age itself writes: the
// stanza's first argument is our SSHTag of the key.
func TestSSHTagMatchesAge(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	pub, _ := ssh.NewPublicKey(priv.Public())
	r, err := agessh.NewEd25519Recipient(pub)
	if err != nil {
		t.Fatal(err)
	}
	stanzas, err := r.Wrap(make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	if stanzas[0].Args[0] != SSHTag(pub) {
		t.Errorf("age tags the key %s, SSHTag says %s", stanzas[0].Args[0], SSHTag(pub))
	}
}

func TestValidateSecretsForTheirHost(t *testing.T) {
	web1, web2, stranger := newHostKey(t), newHostKey(t), newHostKey(t)
	s := newStore(t)
	tree := buildTree(t, s, map[string]string{
		"web1/app/ok.age":        ageFile(t, web1, web2),
		"web1/app/web2.age":      ageFile(t, web2),
		"web1/app/stranger.age":  armoredAgeFile(t, stranger),
		"web2/app/mine.age":      ageFile(t, web2),
		"db1/app/unchecked.age":  ageFile(t, stranger), // db1 is not in known_hosts
		"db1/app/manifest.json":  `{}`,
		"web2/app/manifest.json": `{}`,
	})
	var mu sync.Mutex
	asked := map[string]int{}
	keys := func(host string) ([]ssh.PublicKey, error) {
		mu.Lock()
		asked[host]++
		mu.Unlock()
		return map[string][]ssh.PublicKey{"web1": {web1}, "web2": {web2}}[host], nil
	}
	err := ValidateSecrets(s, &store.Snapshot{Tree: tree}, "prod", keys)
	for host, n := range asked {
		if n > 1 {
			t.Errorf("the keys of %s were looked up %d times; once is enough", host, n)
		}
	}
	wantProblems(t, err, map[string][]string{
		"prod/web1/app/web2.age":     {"is encrypted for host web2, not for web1; re-encrypt it with 'deptool secret encrypt web1'"},
		"prod/web1/app/stranger.age": {"is not encrypted to web1's host key (ssh-ed25519 SHA256:"},
	})
	if err := Validate(s, &store.Snapshot{Tree: tree}, "prod"); err != nil {
		t.Errorf("without host keys only the format is checked, and it is fine: %v", err)
	}
	failing := func(string) ([]ssh.PublicKey, error) { return nil, errors.New("boom") }
	if err := ValidateSecrets(s, &store.Snapshot{Tree: tree}, "prod", failing); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("a failure to read host keys must stop validation: %v", err)
	}
}

var filesSeeds = []string{
	`{"files": {"tls/key.pem": {"mode": "0640", "owner": "root", "group": "nginx"}, "run.sh": {"mode": "0755"}}}`,
	`{"files": {"tls/*.pem": {"mode": "600"}, "*": {"owner": "1000"}}}`,
	`{"files": {"a[": {"mode": "0777"}, "b": {"mode": "07777"}}}`,
	`{"files": {"": {}, "x": {"group": "a$"}}}`,
}

// FuzzManifestFiles feeds the files section to the parser, validation and
// AttrOf: none may panic, what parses survives a round trip, and a mode
// AttrOf returns is permission bits only.
func FuzzManifestFiles(f *testing.F) {
	for _, s := range filesSeeds {
		f.Add([]byte(s), "tls/key.pem")
	}
	f.Fuzz(func(t *testing.T, data []byte, p string) {
		m, err := ParseManifest("m", data)
		if err != nil {
			return
		}
		out, _ := json.Marshal(m)
		back, err := ParseManifest("again", out)
		if err != nil || !cmp.Equal(m.Files, back.Files) {
			t.Fatalf("round trip of %s: %v", out, err)
		}
		files := []AppFile{{Path: fuzzPath(p)}, {Path: "tls/key.pem"}, {Path: "db.password", Secret: true}}
		probs := checkFiles(m, files)
		for _, pr := range probs {
			if pr.path != ManifestName || pr.msg == "" {
				t.Fatalf("problem %+v", pr)
			}
		}
		for _, file := range files {
			a, err := m.AttrOf(file)
			if err == nil && a.Mode&^0o777 != 0 {
				t.Fatalf("mode %o of %s has more than permission bits", a.Mode, file.Path)
			}
			if err != nil && len(probs) == 0 && file.Path != files[0].Path {
				t.Fatalf("AttrOf(%s) fails (%v) where validation found nothing", file.Path, err)
			}
		}
	})
}

func newHostKey(t testing.TB) ssh.PublicKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// ageFile encrypts a fixed plaintext to SSH keys as age does.
func ageFile(t testing.TB, keys ...ssh.PublicKey) string {
	t.Helper()
	var b bytes.Buffer
	encryptTo(t, &b, keys)
	return b.String()
}

func armoredAgeFile(t testing.TB, keys ...ssh.PublicKey) string {
	t.Helper()
	var b bytes.Buffer
	a := armor.NewWriter(&b)
	encryptTo(t, a, keys)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func encryptTo(t testing.TB, w io.Writer, keys []ssh.PublicKey) {
	var rs []age.Recipient
	for _, k := range keys {
		r, err := agessh.NewEd25519Recipient(k)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	enc, err := age.Encrypt(w, rs...)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(enc, "hunter2-plaintext")
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseAgeHeader: the header check reads files from the config tree,
// so any bytes must give stanzas or an error, never a panic.
func FuzzParseAgeHeader(f *testing.F) {
	key := newHostKey(f)
	f.Add([]byte(ageFile(f, key)))
	f.Add([]byte(armoredAgeFile(f, key)))
	f.Add([]byte("age-encryption.org/v1\n-> X25519 abc\n\n--- AAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseAgeHeader(data)
		if err == nil && len(st) == 0 {
			t.Fatal("a header without stanzas was accepted")
		}
		for _, s := range st {
			if s.Type == "" {
				t.Fatalf("stanza without a type: %+v", st)
			}
		}
	})
}

// A glob that would open secrets to others is refused, naming each secret
// it reaches; a secret named on its own may be opened on purpose. An
// owner chown reads as -1 is refused.
func TestValidateFilesGlobsDoNotOpenSecretsAndIdsAreReal(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"web1/nginx/db.password.age": ageFile(t, newHostKey(t)),
		"web1/nginx/api.token.age":   ageFile(t, newHostKey(t)),
		"web1/nginx/site.conf":       "x",
		"web1/nginx/manifest.json": `{"files": {"*": {"mode": "0644"}, "api.token": {"mode": "0640", "group": "nginx"},
			"site.conf": {"owner": "4294967295"}}}`,
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1/nginx/manifest.json": {
			`"*" gives mode 0644 to the secret db.password`,
			`owner "4294967295" is -1 to chown`,
		},
	})
	err = validateTree(t, with(map[string]string{
		"web1/nginx/site.conf":     "x",
		"web1/nginx/manifest.json": `{"files": {"site.conf": {"group": "4294967296"}}}`,
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1/nginx/manifest.json": {`group "4294967296" is not a valid numeric id`},
	})
}
