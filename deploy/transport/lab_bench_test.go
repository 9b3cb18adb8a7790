package transport

import (
	"crypto/rand"
	"os"
	"os/exec"
	"testing"

	"github.com/deptool/deptool/internal/lab"
)

// The benchmarks run against a lab host of their own, "bench", whose root
// logs in with /bin/sh. The lab hosts boot this machine's root, and this
// machine's /root/.bashrc (pyenv, cargo) costs 150 to 900 ms in every SSH
// session, since bash reads it for commands run by sshd: it would swamp
// what is measured here, for deptool and OpenSSH alike.
func benchLab(b *testing.B) *lab.Lab {
	l := lab.Start(b, "bench")
	mustExec(b, l, "bench", "usermod", "-s", "/bin/sh", "root")
	return l
}

// BenchmarkDialAndRun measures a connection's whole set-up and one
// command, against OpenSSH doing the same (`ssh -F cfg bench true`) with
// the same config, key and host:
//
//	go test -run '^$' -bench . ./deploy/transport/
func BenchmarkDialAndRun(b *testing.B) {
	l := benchLab(b)
	b.Run("deptool", func(b *testing.B) {
		for b.Loop() {
			c, err := Dial(labCtx(b), "bench", labOptions(l))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Run(labCtx(b), "true", nil); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
	b.Run("openssh", func(b *testing.B) {
		for b.Loop() {
			cmd := exec.Command("ssh", "-F", l.SSHConfig(), "bench", "true")
			cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
}

// BenchmarkDial is key exchange, host key check and login, no session.
func BenchmarkDial(b *testing.B) {
	l := benchLab(b)
	for b.Loop() {
		c, err := Dial(labCtx(b), "bench", labOptions(l))
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkRun is one command on an open connection: the cost per command
// once connected.
func BenchmarkRun(b *testing.B) {
	l := benchLab(b)
	c := dialLab(b, "bench", labOptions(l))
	for b.Loop() {
		if _, err := c.Run(labCtx(b), "true", nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpload is the agent's first-contact upload: 10 MiB, checked on
// the host and renamed into place.
func BenchmarkUpload(b *testing.B) {
	l := benchLab(b)
	c := dialLab(b, "bench", labOptions(l))
	data := make([]byte, 10<<20)
	rand.Read(data)
	blob := NewBlob(data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := c.Upload(labCtx(b), "/var/lib/deptool-bench/agent", blob, 0o755); err != nil {
			b.Fatal(err)
		}
	}
}
