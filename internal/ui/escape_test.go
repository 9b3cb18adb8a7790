package ui

import "testing"

// A unit's output that would set the title, clear the screen and fake a
// line reaches the terminal as visible text.
func TestSafeEscapesControlCharacters(t *testing.T) {
	for in, want := range map[string]string{
		"\033]0;TITLE\007\033[2J\033[31mFAKE": `\x1b]0;TITLE\x07\x1b[2J\x1b[31mFAKE`,
		"a\r\nb\tc":                           "a\\x0d\nb\tc",
		"del\x7f":                             `del\x7f`,
		"csi\u009b2J":                         `csi\u009b2J`,
		"bad\xffbyte":                         `bad\xffbyte`,
		"héllo → ok":                          "héllo → ok",
		"":                                    "",
	} {
		if got := Safe(in); got != want {
			t.Errorf("Safe(%q) = %q, want %q", in, got, want)
		}
	}
	if got, want := SafeLine("one\ntwo\x1b"), `one\ntwo\x1b`; got != want {
		t.Errorf("SafeLine = %q, want %q", got, want)
	}
}
