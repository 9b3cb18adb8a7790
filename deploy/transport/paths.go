package transport

import (
	"fmt"
	"os/user"
	"path/filepath"
	"strings"
)

// expandTokens replaces ssh_config's %-tokens. An unknown token is an
// error rather than left in place: a file name with a literal %C in it is
// never what the operator meant.
func expandTokens(s string, tokens map[byte]string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("%q ends in a lone %%", s)
		}
		i++
		if s[i] == '%' {
			b.WriteByte('%')
			continue
		}
		v, ok := tokens[s[i]]
		if !ok {
			return "", fmt.Errorf("token %%%c in %q is not supported by deptool", s[i], s)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// expandTilde resolves ~ and ~user at the start of a path.
func expandTilde(p, home string) (string, error) {
	if !strings.HasPrefix(p, "~") {
		return p, nil
	}
	name, rest, _ := strings.Cut(p[1:], "/")
	dir := home
	if name != "" {
		u, err := user.Lookup(name)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p, err)
		}
		dir = u.HomeDir
	}
	return filepath.Join(dir, rest), nil
}

// splitArgs splits a config value into words, keeping double-quoted
// words (file names with spaces) whole.
func splitArgs(s string) []string {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, c := range s {
		switch {
		case c == '"':
			quoted, inWord = !quoted, true
		case (c == ' ' || c == '\t') && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
			}
			inWord = false
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
