package store

import (
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// CheckHostName says what is wrong with a host's name, or "". It is the
// one gate for host names wherever they come from (a config tree's
// directory, the command line, a remote's refs): the name is what we pass
// to ssh and put in refs/remotes/<host> and refs/pins/<host>, so it must be
// a DNS name (or an ssh_config alias spelt like one), which is also a ref
// name component that cannot climb out of its directory.
func CheckHostName(name string) string {
	const fix = "; a host is named as in `ssh web1` (letters, digits, '-' and '.')"
	if len(name) > 253 {
		return "host name is longer than 253 characters" + fix
	}
	for _, c := range name {
		if !isAlnum(c) && c != '-' && c != '.' {
			return fmt.Sprintf("host name contains %q", c) + fix
		}
	}
	for _, label := range strings.Split(name, ".") {
		if msg := checkLabel(label); msg != "" {
			return msg + fix
		}
	}
	if strings.HasSuffix(name, ".lock") {
		return "host name cannot end in \".lock\" (Git reserves it for its lock files)" + fix
	}
	return ""
}

func checkLabel(label string) string {
	switch {
	case label == "":
		return "host name has an empty part (leading, trailing or doubled '.')"
	case len(label) > 63:
		return fmt.Sprintf("host name part %q is longer than 63 characters", label)
	case label[0] == '-' || label[len(label)-1] == '-':
		return "host name parts cannot start or end with '-'"
	}
	for _, c := range label {
		if !isAlnum(c) && c != '-' {
			return fmt.Sprintf("host name contains %q", c)
		}
	}
	return ""
}

func isAlnum(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Namespaces of per-host refs.
const (
	hostRefs = "refs/remotes/"
	pinRefs  = "refs/pins/"
	// seenRefs are what hosts themselves said they run, when this store
	// took it from them (sync, a stale plan's fetch). Local: never pushed
	// or fetched, so nothing from the team remote can write one.
	seenRefs = "refs/deptool/seen/"
)

// hostRef is the only way a per-host ref is named: ns is hostRefs,
// pinRefs or seenRefs, and a host whose name fails CheckHostName is an error, so no
// name can reach a ref outside ns (../heads/main), a file outside the
// store, or a ref git fsck refuses.
func hostRef(ns, host string) (plumbing.ReferenceName, error) {
	if msg := CheckHostName(host); msg != "" {
		return "", fmt.Errorf("host %q: %s", host, msg)
	}
	return plumbing.ReferenceName(ns + host), nil
}
