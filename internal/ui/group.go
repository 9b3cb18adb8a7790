package ui

import (
	"strings"
)

// A fleet fails the same way on many hosts at once: the same conflict on
// every host, differing only in a hash; the same unit failing with the
// same journal, differing only in PIDs and times. Printed host by host,
// such a failure fills the screen with copies and pushes the one that is
// different out of sight. So every printer here groups hosts whose lines
// say the same thing once host-specific details are taken out, prints one
// example of the detail with the list of hosts, and leaves the full list
// to --verbose.

// Normalize returns s with what differs from host to host for the same
// reason replaced by placeholders: the host's own name, hashes (runs of
// seven or more hex digits), and every other number (PIDs, times, sizes,
// other hosts' numbers). Two reasons are the same reason when their
// normal forms are equal; the form itself is never shown.
func Normalize(s, host string) string {
	if host != "" {
		s = strings.ReplaceAll(s, host, "\x00host")
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && isWordByte(s[j]) {
			j++
		}
		if j == i {
			b.WriteByte(s[i])
			i++
			continue
		}
		b.WriteString(normalWord(s[i:j]))
		i = j
	}
	return b.String()
}

func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

// normalWord is a word with a hash as "#" and each run of digits as "0".
func normalWord(w string) string {
	if len(w) >= 7 && isHex(w) && strings.ContainsAny(w, "0123456789") {
		return "#"
	}
	if !strings.ContainsAny(w, "0123456789") {
		return w
	}
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if w[i] >= '0' && w[i] <= '9' {
			if i == 0 || w[i-1] < '0' || w[i-1] > '9' {
				b.WriteByte('0')
			}
			continue
		}
		b.WriteByte(w[i])
	}
	return b.String()
}

func isHex(w string) bool {
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// Group is hosts whose items say the same thing: the first one's item as
// the example, and every host, in the order they came.
type Group[T any] struct {
	Hosts []string
	First T
	Items []T
}

// GroupBy groups items by key, each group where its first item was.
func GroupBy[T any](items []T, host func(T) string, key func(T) string) []Group[T] {
	var groups []Group[T]
	at := map[string]int{}
	for _, it := range items {
		k := key(it)
		if g, ok := at[k]; ok {
			groups[g].Hosts = append(groups[g].Hosts, host(it))
			groups[g].Items = append(groups[g].Items, it)
			continue
		}
		at[k] = len(groups)
		groups = append(groups, Group[T]{Hosts: []string{host(it)}, First: it, Items: []T{it}})
	}
	return groups
}
