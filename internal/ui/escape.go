package ui

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Safe returns s with every control character written out visibly
// ("\x1b"), so a string a host or the remote sent (an error, a journal
// line, a unit's output, an operator name) cannot move the cursor, clear
// the screen, set the window title or fake a line of deptool's own. A
// newline and a tab stay: multi-line output keeps its lines. Bytes that
// are not UTF-8 are escaped too, so the terminal never decodes them into
// something else. JSON output needs none of this: encoding/json escapes
// control characters already.
func Safe(s string) string {
	if safeAlready(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r <= 0x9f:
			// C1 controls: U+009B is CSI on terminals that honour them.
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// SafeLine is Safe for a string printed on one line: a newline in it is
// escaped as well, so it cannot start a line that looks like deptool's.
func SafeLine(s string) string {
	return strings.ReplaceAll(Safe(s), "\n", `\n`)
}

func safeAlready(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\n' && c != '\t' || c >= 0x7f {
			return false
		}
	}
	return true
}
