package store

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// RefusedName says why a file or directory name cannot go into the store,
// or "". Git's fsck refuses a tree naming .git in any spelling a file
// system may take for it (case, trailing dots and spaces on NTFS, the
// short name git~1, characters HFS+ ignores), so a store holding one
// fails `git fsck --strict` and a team remote with receive.fsckObjects
// refuses every push. .gitmodules is parsed by Git as submodule settings
// wherever it is, so it is refused in the same spellings. The checks
// follow Git's own (path.c: is_ntfs_dotgit, is_hfs_dotgit and the
// .gitmodules variants).
func RefusedName(name string) string {
	const why = "; Git refuses it in a tree (git fsck), so the store and a team remote could not hold it. Rename it"
	if !strings.ContainsAny(name, "gG") {
		return "" // every spelling checked below has a g: most names pass here, at no cost
	}
	if isDotGit(name) {
		return "names Git's own .git directory" + why
	}
	for i := strings.IndexByte(name, '\\'); i >= 0; i = strings.IndexByte(name, '\\') {
		name = name[i+1:]
		if isNTFSDotGit(name) {
			return "names Git's own .git directory after a '\\' (a path separator on Windows)" + why
		}
	}
	if isHFSDot(name, "gitmodules") || isNTFSDotGeneric(name, "gitmodules", "gi7eba") {
		return "names .gitmodules, which Git reads as submodule settings" + why
	}
	return ""
}

// badName says what is wrong with a name in a config tree, or "": a name
// Git refuses, or one no file on a host should have: invalid UTF-8 (it
// prints as garbage and turns to U+FFFD in JSON), or a control character
// (it breaks every line-based output, diffs included).
func badName(name string) string {
	if !utf8.ValidString(name) {
		return "is not valid UTF-8; name files in UTF-8 (convmv converts a tree)"
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return fmt.Sprintf("has the control character %q in its name; rename it", r)
		}
	}
	return RefusedName(name)
}

func isDotGit(name string) bool { return isHFSDot(name, "git") || isNTFSDotGit(name) }

// isNTFSDotGit is Git's is_ntfs_dotgit: .git or git~1, any case, followed
// only by dots and spaces (which NTFS drops) up to the end or a ':'.
func isNTFSDotGit(name string) bool {
	var rest string
	switch {
	case len(name) >= 4 && name[0] == '.' && strings.EqualFold(name[1:4], "git"):
		rest = name[4:]
	case len(name) >= 5 && strings.EqualFold(name[:3], "git") && name[3:5] == "~1":
		rest = name[5:]
	default:
		return false
	}
	return onlySpacesAndDots(rest)
}

// onlySpacesAndDots reports whether s is dots and spaces up to its end or
// a ':' (an NTFS stream name follows).
func onlySpacesAndDots(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ':', '\\', '/':
			return true
		case ' ', '.':
		default:
			return false
		}
	}
	return true
}

// isNTFSDotGeneric is Git's is_ntfs_dot_generic: "."+needle in any case,
// its 6-character short name with ~1 to ~4, or the fall-back short name
// (shortPrefix, then '~' and digits), each followed only by dots and
// spaces.
func isNTFSDotGeneric(name, needle, shortPrefix string) bool {
	if len(name) > len(needle) && name[0] == '.' && strings.EqualFold(name[1:1+len(needle)], needle) {
		return onlySpacesAndDots(name[1+len(needle):])
	}
	if len(name) >= 8 && strings.EqualFold(name[:6], needle[:6]) && name[6] == '~' && name[7] >= '1' && name[7] <= '4' {
		return onlySpacesAndDots(name[8:])
	}
	sawTilde := false
	i := 0
	for ; i < 8; i++ {
		if i >= len(name) {
			return false
		}
		c := name[i]
		switch {
		case sawTilde:
			if c < '0' || c > '9' {
				return false
			}
		case c == '~':
			i++
			if i >= len(name) || name[i] < '1' || name[i] > '9' {
				return false
			}
			sawTilde = true
		case i >= 6:
			return false
		case lower(c) != shortPrefix[i]:
			return false
		}
	}
	return onlySpacesAndDots(name[i:])
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// isHFSDot is Git's is_hfs_dot_generic: "."+needle in any case, with
// any of the code points HFS+ ignores anywhere in it.
func isHFSDot(name, needle string) bool {
	var chars []rune
	for _, r := range name {
		if r == utf8.RuneError || !hfsIgnorable(r) {
			chars = append(chars, r)
		}
	}
	if len(chars) != 1+len(needle) || chars[0] != '.' {
		return false
	}
	for i, r := range chars[1:] {
		if r > 127 || lower(byte(r)) != needle[i] {
			return false
		}
	}
	return true
}

// hfsIgnorable lists the code points HFS+ leaves out when it compares
// names (Git's next_hfs_char).
func hfsIgnorable(r rune) bool {
	switch {
	case r >= 0x200c && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x206a && r <= 0x206f, r == 0xfeff:
		return true
	}
	return false
}
