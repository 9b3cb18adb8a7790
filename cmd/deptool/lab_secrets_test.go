package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/internal/lab"
)

// ageEncrypt encrypts plaintext with the stock age tool (Debian's age
// package) to a recipient file: what an operator without deptool does.
func ageEncrypt(t *testing.T, recipients, plaintext string) string {
	t.Helper()
	cmd := exec.Command("age", "-R", recipients)
	cmd.Stdin = strings.NewReader(plaintext)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("age -R %s: %v", recipients, err)
	}
	return string(out)
}

// hostPubKey saves a lab host's ssh-ed25519 public key to a file.
func hostPubKey(t *testing.T, l *lab.Lab, host string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), host+".pub")
	if err := os.WriteFile(p, []byte(onHost(t, l, host, "cat /etc/ssh/ssh_host_ed25519_key.pub")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The secret app: a service running as its own user (made by the app's
// sysusers file) that starts only if it can read its key and the key
// says "good".
const secretUnit = `[Service]
User=svc
ExecStart=/bin/sh -c 'grep -q good /var/lib/deptool/apps/app/current/tls/key.pem && exec sleep infinity'

[Install]
WantedBy=multi-user.target
`

func secretApp(key, manifestFiles string) map[string]string {
	return map[string]string{
		"web1/app/tls/key.pem.age":     key,
		"web1/app/ca.pem":              "public ca\n",
		"web1/app/sysusers/svc.conf":   "u svc - \"deptool test\" /nonexistent\n",
		"web1/app/systemd/app.service": secretUnit,
		"web1/app/manifest.json":       `{"systemd": {"units_enabled": ["app.service"]}, "files": ` + manifestFiles + `}`,
	}
}

func TestSecretsEndToEnd(t *testing.T) {
	l := lab.StartFresh(t, "web1", "web2")
	op := newOperator(t, l)
	web1Key, web2Key := hostPubKey(t, l, "web1"), hostPubKey(t, l, "web2")
	const plain1 = "good key one PLAINTEXT-1f3a"
	files := `{"tls/key.pem": {"mode": "0640", "group": "svc"}}`
	op.write(secretApp(ageEncrypt(t, web1Key, plain1), files))
	op.write(map[string]string{"web2/db/db.password.age": ageEncrypt(t, web2Key, "web2 PLAINTEXT-77c2")})

	plan, code := op.run("deploy", "--plan-only")
	if code != 0 || !strings.Contains(plan, "+ tls/key.pem (secret, mode 0640 root:svc)") || !strings.Contains(plan, "+ db.password (secret)") {
		t.Fatalf("plan exited %d, does not show the secrets as such:\n%s", code, plan)
	}
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("deploy exited %d:\n%s", code, out)
	}
	dir := "/var/lib/deptool/apps/app/current"
	if got := onHost(t, l, "web1", "stat -c '%a %U:%G' "+dir+"/tls/key.pem "+dir+"/tls "+dir+"/ca.pem"); got != "640 root:svc\n750 root:svc\n644 root:root" {
		t.Errorf("key, its directory and the public file: %q", got)
	}
	if got := onHost(t, l, "web1", "cat "+dir+"/tls/key.pem; echo; ls "+dir+"/tls"); got != plain1+"\nkey.pem" {
		t.Errorf("web1's checkout: %q (want the plaintext, and no .age file)", got)
	}
	if got := onHost(t, l, "web1", "systemctl is-active app.service"); got != "active" {
		t.Errorf("app.service, running as svc, could not read its key: %s", got)
	}
	// A local user who is not in the group: no read, no listing.
	got := onHost(t, l, "web1", "runuser -u nobody -- cat "+dir+"/tls/key.pem 2>&1; echo rc=$?; runuser -u nobody -- ls "+dir+"/tls 2>&1; echo rc=$?")
	if !strings.Contains(got, "Permission denied") || strings.Contains(got, "rc=0") || strings.Contains(got, plain1) {
		t.Errorf("user nobody reads the secret or lists its directory:\n%s", got)
	}
	if got := onHost(t, l, "web2", "stat -c '%a %U:%G' /var/lib/deptool/apps/db/current/db.password"); got != "600 root:root" {
		t.Errorf("web2's secret with no files entry: %s, want 600 root:root", got)
	}

	noPlaintext := func(when string) {
		t.Helper()
		out, err := exec.Command("git", "--git-dir", filepath.Join(op.root, ".deptool"), "cat-file", "--batch-all-objects", "--batch").Output()
		if err != nil {
			t.Fatal(err)
		}
		stores := map[string]string{"the operator's store": string(out)}
		for _, h := range []string{"web1", "web2"} {
			stores[h+"'s store"] = onHost(t, l, h, "git --git-dir /var/lib/deptool/store cat-file --batch-all-objects --batch")
		}
		for name, objects := range stores {
			if strings.Contains(objects, "PLAINTEXT") {
				t.Errorf("%s: %s holds a plaintext", when, name)
			}
		}
	}
	noPlaintext("after the first deploy")

	t.Run("a secret for web2 under web1 is refused before web1 changes", func(t *testing.T) {
		before := journalLines(t, l, "web1")
		stray := filepath.Join(op.root, "prod/web1/app/stray.age")
		if err := os.WriteFile(stray, []byte(ageEncrypt(t, web2Key, "x")), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(stray)
		out, code := op.run("deploy", "--yes")
		if code != exitFailure || !strings.Contains(out, "prod/web1/app/stray.age: is encrypted for host web2, not for web1") {
			t.Fatalf("deploy exited %d:\n%s", code, out)
		}
		if journalLines(t, l, "web1") != before {
			t.Error("web1 was contacted")
		}
	})

	t.Run("a mode-only change is planned and applied", func(t *testing.T) {
		op.write(secretApp(readFile(t, op.root, "prod/web1/app/tls/key.pem.age"), `{"tls/key.pem": {"mode": "0440", "owner": "svc", "group": "svc"}}`))
		plan, _ := op.run("deploy", "--plan-only")
		if !strings.Contains(plan, "~ tls/key.pem (secret, mode 0440 svc:svc)") || !strings.Contains(plan, "restart unit app.service") {
			t.Fatalf("plan:\n%s", plan)
		}
		if out, code := op.run("deploy", "--yes"); code != 0 {
			t.Fatalf("deploy exited %d:\n%s", code, out)
		}
		if got := onHost(t, l, "web1", "stat -c '%a %U:%G' "+dir+"/tls/key.pem"); got != "440 svc:svc" {
			t.Errorf("after the mode change: %s", got)
		}
		if out, code := op.run("check"); code != 0 {
			t.Errorf("check of the hosts as deployed exited %d:\n%s", code, out)
		}
		onHost(t, l, "web1", "chmod 0444 "+dir+"/tls/key.pem")
		out, code := op.run("check")
		onHost(t, l, "web1", "chmod 0440 "+dir+"/tls/key.pem")
		if code == 0 || !strings.Contains(out, "tls/key.pem") || !strings.Contains(out, "the manifest gives it mode 0440 svc:svc") || strings.Contains(out, "PLAINTEXT") {
			t.Errorf("check of a secret opened up by hand exited %d:\n%s", code, out)
		}
	})

	t.Run("rotation, and a failed rotation rolls back to the last secret", func(t *testing.T) {
		const plain2 = "good key two PLAINTEXT-9b1e"
		enc, code := op.stdoutIn(plain2, "secret", "encrypt", "web1")
		if code != 0 || !strings.Contains(enc, "BEGIN AGE ENCRYPTED FILE") {
			t.Fatalf("secret encrypt exited %d:\n%s", code, enc)
		}
		op.write(map[string]string{"web1/app/tls/key.pem.age": enc})
		diffOut, _ := op.run("diff")
		if strings.Contains(diffOut, "BEGIN AGE") || strings.Contains(diffOut, "PLAINTEXT") {
			t.Errorf("diff shows the secret:\n%s", diffOut)
		}
		if out, code := op.run("deploy", "--yes"); code != 0 {
			t.Fatalf("rotation exited %d:\n%s", code, out)
		}
		if got := onHost(t, l, "web1", "cat "+dir+"/tls/key.pem"); got != plain2 {
			t.Errorf("after rotation: %q", got)
		}
		op.write(map[string]string{"web1/app/tls/key.pem.age": ageEncrypt(t, web1Key, "bad key PLAINTEXT-0000")})
		if out, code := op.run("deploy", "--yes"); code != deploy.ExitRolledBack {
			t.Fatalf("a rotation to a key the service refuses exited %d, want rolled back:\n%s", code, out)
		}
		if got := onHost(t, l, "web1", "cat "+dir+"/tls/key.pem; echo; stat -c '%a %U:%G' "+dir+"/tls/key.pem; systemctl is-active app.service"); got != plain2+"\n440 svc:svc\nactive" {
			t.Errorf("after the rollback: %q", got)
		}
	})
	noPlaintext("after rotation and rollback")
}

func readFile(t *testing.T, dir, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stdoutIn runs deptool with stdin, returning standard output alone.
func (op *operator) stdoutIn(stdin string, args ...string) (string, int) {
	op.t.Helper()
	cmd := exec.Command(op.bin, args...)
	cmd.Dir, cmd.Env = op.root, op.env
	cmd.Stdin = strings.NewReader(stdin)
	var errs strings.Builder
	cmd.Stderr = &errs
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out) + errs.String(), ee.ExitCode()
	}
	if err != nil {
		op.t.Fatal(err)
	}
	return string(out), 0
}
