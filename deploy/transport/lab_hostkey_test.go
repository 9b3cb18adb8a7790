package transport

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/internal/lab"
	"golang.org/x/crypto/ssh"
)

// knownHostsWithout copies the lab's known_hosts, dropping host's lines.
func knownHostsWithout(t *testing.T, l *lab.Lab, host string) string {
	t.Helper()
	_, known := labFiles(t, l)
	b, err := os.ReadFile(known)
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if !strings.HasPrefix(line, l.Addr(host)+",") && !strings.HasPrefix(line, l.Addr(host)+" ") {
			keep = append(keep, line)
		}
	}
	file := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(file, []byte(strings.Join(keep, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// instruction is the shell command an error tells the operator to run.
func instruction(t *testing.T, msg, after, before string) string {
	t.Helper()
	_, rest, ok := strings.Cut(msg, after)
	cmd, ok2 := rest, true
	if before != "" {
		cmd, _, ok2 = strings.Cut(rest, before)
	}
	if !ok || !ok2 {
		t.Fatalf("no instruction between %q and %q in:\n%s", after, before, msg)
	}
	return cmd
}

func TestLabUnknownHostKeyRefusedAndTheInstructionWorks(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	known := knownHostsWithout(t, l, "web1")
	opts := writeConfig(t, hostBlock(t, l, "web1", "web1", "UserKnownHostsFile "+known))
	_, err := Dial(labCtx(t), "web1", opts)
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Changed() {
		t.Fatalf("Dial with web1's key removed = %v, want an unknown host key error", err)
	}
	want := "host web1 (" + l.Addr("web1") + ":22): unknown host key " + ssh.FingerprintSHA256(hke.Key) +
		"; verify it, then run: ssh-keyscan -t ed25519 " + l.Addr("web1") + " >> " + known +
		" (or set StrictHostKeyChecking accept-new)"
	if err.Error() != want {
		t.Fatalf("message:\n got %s\nwant %s", err, want)
	}
	// The operator follows the instruction; then the host is known.
	scan := instruction(t, err.Error(), "then run: ", " (or set")
	if out, err := exec.Command("sh", "-c", scan).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", scan, err, out)
	}
	c := dialLab(t, "web1", opts)
	if out, err := c.Run(labCtx(t), "hostname", nil); err != nil || string(out) != "web1\n" {
		t.Errorf("after ssh-keyscan: %q, %v", out, err)
	}
}

func TestLabChangedHostKeyRefusedLoudly(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	impostor, _ := ssh.NewPublicKey(pub)
	known := knownHostsWithout(t, l, "web1")
	f, _ := os.OpenFile(known, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(knownLine(l.Addr("web1"), impostor))
	f.Close()
	opts := writeConfig(t, hostBlock(t, l, "web1", "web1", "UserKnownHostsFile "+known, "StrictHostKeyChecking accept-new"))
	_, err := Dial(labCtx(t), "web1", opts)
	var hke *HostKeyError
	if !errors.As(err, &hke) || !hke.Changed() {
		t.Fatalf("Dial with another key on record = %v, want a changed host key error", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"host web1 (" + l.Addr("web1") + ":22): HOST KEY FOR web1 HAS CHANGED",
		ssh.FingerprintSHA256(impostor),
		"refusing to connect; if the host was reinstalled, remove the old key with: ssh-keygen -R " + l.Addr("web1") + " -f " + known,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	// Removing the old key as told, accept-new then takes the real one.
	rm := instruction(t, msg, "remove the old key with: ", "")
	if out, err := exec.Command("sh", "-c", rm).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", rm, err, out)
	}
	dialLab(t, "web1", opts)
}

func TestLabAcceptNewRecordsTheKey(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	known := filepath.Join(t.TempDir(), "new-dir", "known_hosts")
	var notes []string
	opts := writeConfig(t, hostBlock(t, l, "web1", "web1", "UserKnownHostsFile "+known, "StrictHostKeyChecking accept-new"))
	opts.Notify = func(msg string) { notes = append(notes, msg) }
	dialLab(t, "web1", opts).Close()
	b, err := os.ReadFile(known)
	if err != nil {
		t.Fatal(err)
	}
	// The recorded key must be the host's real one, as the lab knows it.
	lab := knownHostsWithout(t, l, "web2")
	labKnown, _ := os.ReadFile(lab)
	wantKey := strings.Fields(string(labKnown))[1:3]
	if got := strings.Fields(string(b)); len(got) != 3 || got[0] != l.Addr("web1") || got[1] != wantKey[0] || got[2] != wantKey[1] {
		t.Errorf("known_hosts after accept-new:\n%s\nwant %s %s", b, l.Addr("web1"), strings.Join(wantKey, " "))
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "added host key ssh-ed25519") {
		t.Errorf("notes = %q", notes)
	}
	// Now known: strict checking passes and nothing more is added.
	opts = writeConfig(t, hostBlock(t, l, "web1", "web1", "UserKnownHostsFile "+known))
	dialLab(t, "web1", opts)
	if b2, _ := os.ReadFile(known); string(b2) != string(b) {
		t.Errorf("known_hosts changed on the second dial:\n%s", b2)
	}
}

func TestLabClosedPortNamesTheHost(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	opts := writeConfig(t, hostBlock(t, l, "web1", "web1", "Port 2"))
	_, err := Dial(labCtx(t), "web1", opts)
	want := "host web1 (" + l.Addr("web1") + ":2): connect: connection refused: is the host up?"
	if err == nil || err.Error() != want {
		t.Fatalf("Dial to a closed port:\n got %v\nwant %s", err, want)
	}
}

func TestLabLoginRefused(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	stranger := filepath.Join(t.TempDir(), "id_ed25519")
	writeKey(t, stranger, "")
	opts := writeConfig(t, hostBlock(t, l, "web1", "web1", "IdentityFile "+stranger))
	_, err := Dial(labCtx(t), "web1", opts)
	want := "host web1: login as root refused (tried: " + stranger + "): check User and IdentityFile in ssh config"
	if err == nil || err.Error() != want {
		t.Fatalf("Dial with a key the host does not know:\n got %v\nwant %s", err, want)
	}
}

// sshd restarting refuses connections for a moment; Dial tries again
// rather than failing the host.
func TestLabRefusedWhileSSHDRestartsIsRetried(t *testing.T) {
	l := lab.StartFresh(t, "flaky")
	opts := labOptions(l)
	mustExec(t, l, "flaky", "sh", "-c", "systemctl stop ssh && "+
		"systemd-run --quiet --on-active=400ms --timer-property=AccuracySec=1ms systemctl start ssh")
	start := time.Now()
	c := dialLab(t, "flaky", opts)
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("Dial took %v: sshd was not down, the test proves nothing", took)
	}
	runHostname(t, c, "flaky")
}
