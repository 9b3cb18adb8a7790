package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/internal/lab"
)

func TestLabDialAndRun(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	c := dialLab(t, "web2", labOptions(l))
	if c.Host() != "web2" || c.User() != "root" {
		t.Errorf("Host, User = %s, %s; want web2, root", c.Host(), c.User())
	}
	out, err := c.Run(labCtx(t), "cat /etc/hostname", nil)
	if err != nil || string(out) != "web2\n" {
		t.Fatalf("cat /etc/hostname = %q, %v; want web2", out, err)
	}
	out, err = c.Run(labCtx(t), "tr a-z A-Z", strings.NewReader("stdin reaches the command"))
	if err != nil || string(out) != "STDIN REACHES THE COMMAND" {
		t.Errorf("tr = %q, %v", out, err)
	}
}

func TestLabRunFailureCarriesStatusAndStderr(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	c := dialLab(t, "web1", labOptions(l))
	_, err := c.Run(labCtx(t), "echo partial; echo '  it broke  ' >&2; exit 3", nil)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Status != 3 || ee.Stderr != "it broke" {
		t.Fatalf("got %#v, want exit status 3 with stderr 'it broke'", err)
	}
	if want := "echo partial; echo '  it broke  ' >&2; exit 3: exit status 3: it broke"; err.Error() != want {
		t.Errorf("message:\n got %s\nwant %s", err, want)
	}
}

func TestLabRunReturnsAtDeadline(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	c := dialLab(t, "web1", labOptions(l))
	ctx, cancel := context.WithTimeout(labCtx(t), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Run(ctx, "sleep 30", strings.NewReader("unread"))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Fatalf("Run past its deadline = %v after %v, want DeadlineExceeded well before the command ends", err, time.Since(start))
	}
	// The connection itself is still usable.
	if out, err := c.Run(labCtx(t), "echo ok", nil); err != nil || string(out) != "ok\n" {
		t.Errorf("after a cancelled Run: %q, %v", out, err)
	}
}

func TestLabStartStreamsBinaryBothWays(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	c := dialLab(t, "web1", labOptions(l))
	p, err := c.Start(labCtx(t), "cat")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	data := make([]byte, 4<<20)
	rand.Read(data)
	for i := range 256 { // every byte value, including the ones a PTY would eat
		data[i] = byte(i)
	}
	go func() {
		p.Stdin.Write(data)
		p.Stdin.Close()
	}()
	got, err := io.ReadAll(p.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("cat echoed %d bytes, want the %d sent, identical", len(got), len(data))
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestLabProcessFrames(t *testing.T) {
	// The agent protocol: request, reply, request, over one session.
	l := lab.Start(t, "web1", "web2")
	c := dialLab(t, "web1", labOptions(l))
	p, err := c.Start(labCtx(t), `while read -r line; do echo "got $line"; done; echo bye >&2; exit 7`)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	for _, msg := range []string{"one", "two"} {
		io.WriteString(p.Stdin, msg+"\n")
		n, err := io.ReadAtLeast(p.Stdout, buf, len("got "+msg+"\n"))
		if err != nil || string(buf[:n]) != "got "+msg+"\n" {
			t.Fatalf("reply to %s: %q, %v", msg, buf[:n], err)
		}
	}
	p.Stdin.Close()
	io.Copy(io.Discard, p.Stdout)
	err = p.Wait()
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Status != 7 || p.Stderr() != "bye" {
		t.Fatalf("Wait = %v, stderr %q; want exit status 7 and 'bye'", err, p.Stderr())
	}
}

func TestLabUpload(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	c := dialLab(t, "web1", labOptions(l))
	dir := "/var/lib/deptool-transport-test"
	t.Cleanup(func() { l.Exec("web1", "rm", "-rf", dir) })
	path := dir + "/bin/deptool-v1-abc123"
	if ok, err := c.Exists(labCtx(t), path); err != nil || ok {
		t.Fatalf("Exists before upload = %v, %v", ok, err)
	}
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	if err := c.Upload(labCtx(t), path, NewBlob(data), 0o750); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if got := mustExec(t, l, "web1", "sha256sum", path); !strings.HasPrefix(got, hex.EncodeToString(sum[:])) {
		t.Errorf("sha256sum on the host: %s", got)
	}
	if got := mustExec(t, l, "web1", "stat", "-c", "%a %U:%G", path, dir, dir+"/bin"); got != "750 root:root\n755 root:root\n755 root:root\n" {
		t.Errorf("mode and owner of file, dir, bin:\n%s", got)
	}
	// Replaced in place, with nothing left beside it.
	if err := c.Upload(labCtx(t), path, NewBlob([]byte("v2\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := mustExec(t, l, "web1", "sh", "-c", "ls -A "+dir+"/bin; cat "+path); got != "deptool-v1-abc123\nv2\n" {
		t.Errorf("after a second upload, bin holds and the file says:\n%s", got)
	}
	if ok, err := c.Exists(labCtx(t), path); err != nil || !ok {
		t.Errorf("Exists after upload = %v, %v", ok, err)
	}
}

// The command started after an upload talks over the same session: what
// follows the blob on stdin is the command's.
func TestLabUploadAndStart(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	c := dialLab(t, "web1", labOptions(l))
	dir := "/var/lib/deptool-transport-test3"
	t.Cleanup(func() { l.Exec("web1", "rm", "-rf", dir) })
	data := make([]byte, 5<<20+3)
	rand.Read(data)
	p, err := c.UploadAndStart(labCtx(t), dir+"/agent", NewBlob(data), 0o755, `read -r line; echo "got $line"; exit 3`)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(p.Stdin, "hello\n")
	out, _ := io.ReadAll(p.Stdout)
	var ee *ExitError
	if err := p.Wait(); string(out) != "got hello\n" || !errors.As(err, &ee) || ee.Status != 3 {
		t.Fatalf("command after the upload said %q and ended with %v", out, err)
	}
	sum := sha256.Sum256(data)
	if got := mustExec(t, l, "web1", "sha256sum", dir+"/agent"); !strings.HasPrefix(got, hex.EncodeToString(sum[:])) {
		t.Errorf("sha256sum on the host: %s", got)
	}
}

func TestLabUploadFailureLeavesNoTemp(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	c := dialLab(t, "web1", labOptions(l))
	dir := "/var/lib/deptool-transport-test2"
	t.Cleanup(func() { l.Exec("web1", "rm", "-rf", dir) })
	// A directory where the file should go: the rename must fail.
	mustExec(t, l, "web1", "mkdir", "-p", dir+"/target/sub")
	err := c.Upload(labCtx(t), dir+"/target", NewBlob([]byte("x")), 0o644)
	if err == nil || !strings.HasPrefix(err.Error(), "upload "+dir+"/target: exit status") {
		t.Fatalf("upload onto a directory: %v", err)
	}
	if got := mustExec(t, l, "web1", "sh", "-c", "cd "+dir+" && ls -A . target"); got != ".:\ntarget\n\ntarget:\nsub\n" {
		t.Errorf("temp file left behind:\n%s", got)
	}
}

// waitFor polls a condition on a host until it holds or 20 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLabProcessCloseSendsEOF(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	c := dialLab(t, "web1", labOptions(l))
	p, err := c.Start(labCtx(t), "exec cat")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// cat sees EOF and exits 0: Close ends the session, not the process.
	if err := p.Wait(); err != nil {
		t.Errorf("Wait after Close = %v", err)
	}
}
