package transport

import (
	"io"
	"strings"
	"testing"
)

func TestMarkerWriterFindsASplitPromptAndRemovesIt(t *testing.T) {
	var out strings.Builder
	b := &become{method: BecomeSudo, password: []byte("pw"), marker: "[mark]"}
	done := make(chan struct{})
	in, errw := b.stdio(strings.NewReader("payload"), &out, done)
	got := make(chan string)
	go func() {
		all, _ := io.ReadAll(in)
		got <- string(all)
	}()
	// Before the prompt, nothing may be read: the password must not reach
	// a command that sudo did not ask for.
	for _, part := range []string{"sudo: warning\n[ma", "rk", "]after"} {
		select {
		case s := <-got:
			t.Fatalf("stdin read %q before the prompt was complete", s)
		default:
		}
		errw.Write([]byte(part))
	}
	if s := <-got; s != "pw\npayload" {
		t.Errorf("stdin = %q, want the password line, then the caller's stdin", s)
	}
	if out.String() != "sudo: warning\nafter" {
		t.Errorf("stderr = %q, want it without the prompt", out.String())
	}
}

func TestPasswordNotSentWhenTheCommandEndsWithoutAsking(t *testing.T) {
	b := &become{method: BecomeSudo, password: []byte("pw"), marker: "[mark]"}
	done := make(chan struct{})
	in, _ := b.stdio(nil, io.Discard, done)
	close(done)
	if all, _ := io.ReadAll(in); len(all) != 0 {
		t.Errorf("stdin = %q after the command ended unasked", all)
	}
}

func TestBecomeWrap(t *testing.T) {
	for _, tc := range []struct {
		b    become
		want string
	}{
		{become{}, "id -u"},
		{become{method: BecomeSudo}, "sudo -n -- sh -c 'id -u'"},
		{become{method: BecomeSudo, password: []byte("x"), marker: "[m]"}, "sudo -k -S -p '[m]' -- sh -c 'id -u'"},
		{become{method: BecomeDoas}, "doas -n -- sh -c 'id -u'"},
		{become{method: BecomeRun0}, "run0 --no-ask-password -- sh -c 'id -u'"},
	} {
		if got := tc.b.wrap("id -u"); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.b, got, tc.want)
		}
	}
	if _, err := (Options{Become: func(string) string { return "su" }}).becomeMethod("web1"); err == nil ||
		err.Error() != `host web1: become method "su": want sudo, doas or run0` {
		t.Errorf("unknown method: %v", err)
	}
}
