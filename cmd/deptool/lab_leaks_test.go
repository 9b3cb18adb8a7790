package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/deptool/deptool/internal/lab"
	"golang.org/x/sys/unix"
)

// runOnTerminal runs deptool on a pseudo-terminal, typing password at its
// become-password prompt, and returns what it printed and its status.
func (op *operator) runOnTerminal(password string, args ...string) (string, int) {
	op.t.Helper()
	cmd := exec.Command(op.bin, args...)
	cmd.Dir, cmd.Env = op.root, op.env
	tty, err := pty.Start(cmd)
	if err != nil {
		op.t.Fatal(err)
	}
	defer tty.Close()
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		answered := false
		for {
			n, err := tty.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			ask := !answered && strings.Contains(screen.String(), "become password")
			mu.Unlock()
			if ask {
				answered = true
				// As a person would: once the terminal stopped echoing
				// (the master shares the terminal's settings).
				for i := 0; i < 2000; i++ {
					st, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
					if err != nil || st.Lflag&unix.ECHO == 0 {
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
				tty.Write([]byte(password + "\r"))
			}
			if err != nil {
				return
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		op.t.Errorf("deptool %v still ran after 2 minutes", args)
	}
	mu.Lock()
	defer mu.Unlock()
	return screen.String(), cmd.ProcessState.ExitCode()
}

// A man in the middle: a second sshd, with a host key of its own, where
// the operator's ssh config sends web1 (the key looked up as web1's
// address, as known_hosts files it), and StrictHostKeyChecking no. Its
// key is not web1's, or is marked @revoked: ping and a deploy with
// --ask-become-pass are refused before any login, so the impostor never
// sees a user name, a key or the sudo password. The same sshd under a
// name never seen is accepted, with a warning: the impostor is real.
func TestManInTheMiddleGetsNothingUnderStrictNo(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	const password = "mitm-sudo-pass-5c1e"
	pub, err := os.ReadFile(filepath.Join(l.StateDir(), "id_ed25519.pub"))
	if err != nil {
		t.Fatal(err)
	}
	onHost(t, l, "web1", `set -e
useradd -m -s /bin/sh ops
printf '%s\n' 'ops:`+password+`' | chpasswd
install -d -m 700 -o ops -g ops /home/ops/.ssh
printf '%s' '`+strings.TrimSpace(string(pub))+`' > /home/ops/.ssh/authorized_keys
chown ops:ops /home/ops/.ssh/authorized_keys
echo 'ops ALL=(ALL) ALL' > /etc/sudoers.d/ops
ssh-keygen -q -t ed25519 -N '' -f /root/mitm_key
/usr/sbin/sshd -p 2222 -h /root/mitm_key -E /root/mitm.log -o LogLevel=DEBUG3 -o PidFile=/root/mitm.pid \
  -o PasswordAuthentication=yes -o KbdInteractiveAuthentication=yes`)
	mitmKey := onHost(t, l, "web1", "cut -d' ' -f1,2 /root/mitm_key.pub")
	addr := l.Addr("web1")
	dir := t.TempDir()
	realKnown := filepath.Join(l.StateDir(), "known_hosts")
	revoked := filepath.Join(dir, "known_hosts_revoked")
	kh, _ := os.ReadFile(realKnown)
	os.WriteFile(revoked, append([]byte("@revoked "+addr+" "+mitmKey+"\n"), kh...), 0o644)
	config := func(known, alias string) string {
		cfg := filepath.Join(dir, "ssh_config_"+filepath.Base(known)+alias)
		block := "Host web1\n  HostName " + addr + "\n  Port 2222\n  User ops\n" +
			"  IdentityFile " + filepath.Join(l.StateDir(), "id_ed25519") + "\n  IdentitiesOnly yes\n" +
			"  UserKnownHostsFile " + known + "\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n"
		if alias != "" {
			block += "  HostKeyAlias " + alias + "\n"
		}
		os.WriteFile(cfg, []byte(block), 0o644)
		return cfg
	}
	op := newOperator(t, l)
	op.write(map[string]string{"web1/site/index.html": "for web1 only\n"})
	baseEnv := op.env
	mitmLog := func() string { return onHost(t, l, "web1", "cat /root/mitm.log; : > /root/mitm.log") }
	mitmLog()

	for _, tc := range []struct {
		name, known, want string
	}{
		{"changed key", realKnown, "THE HOST KEY HAS CHANGED"},
		{"revoked key", revoked, "is marked @revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op.env = append(append([]string(nil), baseEnv...), "DEPTOOL_SSH_CONFIG="+config(tc.known, addr), "SSH_AUTH_SOCK=")
			out, code := op.run("ping")
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Errorf("ping exited %d, want refused with %q:\n%s", code, tc.want, out)
			}
			out, code = op.runOnTerminal(password, "deploy", "--yes", "--ask-become-pass")
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Errorf("deploy exited %d, want refused with %q:\n%s", code, tc.want, out)
			}
			log := mitmLog()
			if !strings.Contains(log, "Connection from") {
				t.Fatalf("the impostor was never reached; the test proves nothing:\n%s", log)
			}
			for _, leak := range []string{"userauth-request", "Accepted", "Failed", "ops", password} {
				if strings.Contains(log, leak) {
					t.Errorf("the impostor's log holds %q: it was offered a login:\n%s", leak, log)
				}
			}
			if got := onHost(t, l, "web1", "test -e /var/lib/deptool/apps/site || echo none"); got != "none" {
				t.Errorf("web1 was deployed through the impostor")
			}
		})
	}

	// The same sshd, its address and port never seen before: accepted
	// under StrictHostKeyChecking no, with a warning naming the host and
	// the key it took on trust.
	op.env = append(append([]string(nil), baseEnv...), "DEPTOOL_SSH_CONFIG="+config(realKnown, ""), "SSH_AUTH_SOCK=")
	// ping then fails at sudo, which wants a password ping cannot give:
	// what matters is that it got that far.
	out, code := op.run("ping")
	fp := onHost(t, l, "web1", "ssh-keygen -lf /root/mitm_key.pub | cut -d' ' -f2")
	if !strings.Contains(out, "warning: host web1") || !strings.Contains(out, fp) || !strings.Contains(out, "accepted unverified") {
		t.Errorf("a host never seen, under StrictHostKeyChecking no: exited %d, want a warning naming web1 and %s:\n%s", code, fp, out)
	}
	if log := mitmLog(); !strings.Contains(log, "userauth-request") {
		t.Errorf("the unknown host was not logged in to:\n%s", log)
	}
	if fsck, err := exec.Command("git", "--git-dir", filepath.Join(op.root, ".deptool"), "fsck", "--strict").CombinedOutput(); err != nil {
		t.Errorf("git fsck --strict: %v\n%s", err, fsck)
	}
}

// A validate command and a unit that print a secret: the operator's
// output (text and JSON), the store (every object, notes included) and
// the host's journal hold its name, never its value.
func TestSecretPrintedByValidateOrUnitStaysOnTheHost(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	web1Key := hostPubKey(t, l, "web1")
	const plain = "PLAINTEXT-leak-4e1d\nSECOND-LINE-9b3f\n"
	secretFile := ageEncrypt(t, web1Key, plain)
	validating := map[string]string{
		"web1/app/db.password.age": secretFile,
		"web1/app/manifest.json":   `{"validate": [["/bin/sh", "-c", "cat db.password; printf '{\"pw\": \"%s\"}\\n' \"$(head -n1 db.password)\"; exit 1"]]}`,
	}
	op.write(validating)
	leaks := func(what, text string) {
		t.Helper()
		for _, p := range []string{"PLAINTEXT", "SECOND-LINE"} {
			if strings.Contains(text, p) {
				t.Errorf("%s holds the secret (%s):\n%s", what, p, text)
			}
		}
	}
	out, code := op.run("deploy", "--yes")
	if code == 0 || !strings.Contains(out, "[secret app/db.password]") {
		t.Errorf("deploy with a validate command printing the secret exited %d, want it refused naming the secret:\n%s", code, out)
	}
	t.Logf("deploy, a validate command printing the secret:\n%s", out)
	leaks("text output (validate)", out)
	jsonOut, _ := op.run("deploy", "--yes", "--output", "json")
	if !strings.Contains(jsonOut, "[secret app/db.password]") {
		t.Errorf("JSON output does not name the secret:\n%s", jsonOut)
	}
	leaks("JSON output (validate)", jsonOut)

	// A unit that prints it and fails: its journal lines come back.
	os.Remove(filepath.Join(op.root, "prod/web1/app/manifest.json"))
	op.write(map[string]string{
		"web1/app/manifest.json":         `{"systemd": {"units_enabled": ["leaky.service"]}}`,
		"web1/app/systemd/leaky.service": "[Service]\nExecStart=/bin/sh -c 'cat /var/lib/deptool/apps/app/current/db.password; exit 3'\n\n[Install]\nWantedBy=multi-user.target\n",
	})
	out, code = op.run("deploy", "--yes")
	if code == 0 || !strings.Contains(out, "[secret app/db.password]") {
		t.Errorf("deploy of a unit printing the secret exited %d, want it rolled back, its journal lines naming the secret:\n%s", code, out)
	}
	t.Logf("deploy, a unit printing the secret:\n%s", out)
	leaks("text output (unit)", out)
	jsonOut, _ = op.run("deploy", "--yes", "--output", "json")
	leaks("JSON output (unit)", jsonOut)

	objects, err := exec.Command("git", "--git-dir", filepath.Join(op.root, ".deptool"), "cat-file", "--batch-all-objects", "--batch").Output()
	if err != nil {
		t.Fatal(err)
	}
	leaks("the operator's store", string(objects))
	logOut, _ := op.run("log")
	leaks("deptool log", logOut)
	journal := onHost(t, l, "web1", "cat /var/lib/deptool/journal.jsonl")
	if !strings.Contains(journal, "[secret app/db.password]") {
		t.Errorf("the host's journal does not name the secret:\n%s", journal)
	}
	leaks("the host's journal", journal)
	if fsck, err := exec.Command("git", "--git-dir", filepath.Join(op.root, ".deptool"), "fsck", "--strict").CombinedOutput(); err != nil {
		t.Errorf("git fsck --strict: %v\n%s", err, fsck)
	}
}
