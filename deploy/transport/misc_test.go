package transport

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestKeeperClosesAfterMaxMissedInARow(t *testing.T) {
	answers := []bool{false, false, true, false, false, false, true}
	var probes int
	k := keeper{max: 3, probe: func() bool { probes++; return answers[probes-1] }}
	ticks := make(chan time.Time, len(answers))
	for range answers {
		ticks <- time.Time{}
	}
	if !k.run(ticks, nil) {
		t.Fatal("keeper never gave up")
	}
	if probes != 6 {
		t.Errorf("gave up after %d probes, want 6 (an answer resets the count)", probes)
	}
}

func TestKeeperStops(t *testing.T) {
	stop := make(chan struct{})
	close(stop)
	k := keeper{max: 1, probe: func() bool { t.Error("probed after stop"); return false }}
	if k.run(make(chan time.Time), stop) {
		t.Error("stopped keeper reported a dead connection")
	}
}

func TestTailKeepsTheEnd(t *testing.T) {
	tl := newTail(8)
	tl.Write([]byte("  hello "))
	if got := tl.String(); got != "hello" {
		t.Errorf("short: %q", got)
	}
	tl.Write([]byte("world, this is long\n"))
	if got := tl.String(); got != "...is long" {
		t.Errorf("long: %q", got)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/var/lib/deptool": "/var/lib/deptool",
		"":                 "''",
		"a b":              "'a b'",
		"it's":             `'it'\''s'`,
		"$(x)":             "'$(x)'",
		"[1.2.3.4]:22":     "'[1.2.3.4]:22'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestUploadScript(t *testing.T) {
	blob := NewBlob([]byte("agent"))
	s := uploadScript("/var/lib/deptool/bin/deptool-1 x", blob, 0o755)
	for _, want := range []string{
		"mkdir -p -- /var/lib/deptool/bin\n",
		"t='/var/lib/deptool/bin/.deptool-1 x.deptool-",
		`chmod 0755 "$t"`,
		`mv -f -T -- "$t" '/var/lib/deptool/bin/deptool-1 x'`,
		`head -c 5 > "$t"`,
		"want=" + blob.blake2b + ";",
		"want=" + blob.sha256 + ";",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
	if a, b := uploadScript("/a", blob, 0o644), uploadScript("/a", blob, 0o644); a == b {
		t.Error("two uploads share a temp name")
	}
}

func TestUploadRefusesBadArguments(t *testing.T) {
	c := &Conn{host: "web1"}
	for _, p := range []string{"relative", "/a/../b", "/"} {
		if err := c.Upload(t.Context(), p, NewBlob(nil), 0o644); err == nil || !strings.HasPrefix(err.Error(), "upload") {
			t.Errorf("Upload(%q) = %v", p, err)
		}
	}
	if err := c.Upload(t.Context(), "/x", NewBlob(nil), os.ModeSetuid|0o755); err == nil {
		t.Error("setuid mode accepted")
	}
}
