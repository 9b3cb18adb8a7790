package transport

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is a host key that known_hosts does not vouch for: the host
// is unknown (Known is empty), or its key has changed.
type HostKeyError struct {
	Host string        // the host's name, as asked for
	Addr string        // host:port connected to
	Via  string        // the jump host it was reached through, if any
	Key  ssh.PublicKey // the key the host presented
	// Known are the keys known_hosts holds for Addr instead.
	Known []knownhosts.KnownKey
	// File is the known_hosts file a new key belongs in.
	File string
	// Alias is the host's HostKeyAlias, the name its key is filed under.
	Alias string

	sshCmd string
	// proxied: the host is reached through a ProxyCommand, which
	// ssh-keyscan cannot use; sshTo is how OpenSSH reaches it.
	proxied bool
	sshTo   string
}

// Changed reports whether known_hosts holds a different key for the host.
func (e *HostKeyError) Changed() bool { return len(e.Known) > 0 }

func (e *HostKeyError) Error() string {
	where := e.Addr
	if e.Via != "" {
		where += " via " + e.Via
	}
	if e.Changed() {
		return fmt.Sprintf("host %s (%s): %s", e.Host, where, e.changed())
	}
	return fmt.Sprintf("host %s (%s): %s", e.Host, where, e.unknown())
}

func (e *HostKeyError) unknown() string {
	if e.proxied {
		record := "ssh -o StrictHostKeyChecking=accept-new" + strings.TrimPrefix(e.sshTo, "ssh") + " true"
		return fmt.Sprintf("unknown host key %s; it is reached through a ProxyCommand, so verify it, then record it with: "+
			"%s (or set StrictHostKeyChecking accept-new)", ssh.FingerprintSHA256(e.Key), record)
	}
	host, port := splitAddr(e.Addr)
	scan := "ssh-keyscan -t " + keyscanType(e.Key.Type())
	if port != "22" {
		scan = "ssh-keyscan -p " + port + " -t " + keyscanType(e.Key.Type())
	}
	scan += " " + host
	if e.sshCmd != "" {
		// A host behind a jump is only reachable from the jump host.
		scan = e.sshCmd + " " + scan
	}
	if e.Alias != "" {
		// ssh-keyscan names the key by address; OpenSSH looks it up by
		// the alias (with no port).
		scan += " | sed " + shellQuote("s/^[^ ]*/"+e.Alias+"/")
	}
	file := "~/.ssh/known_hosts (and name it in UserKnownHostsFile, which is none)"
	if e.File != "" {
		file = shellQuote(e.File)
	}
	return fmt.Sprintf("unknown host key %s; verify it, then run: %s >> %s (or set StrictHostKeyChecking accept-new)",
		ssh.FingerprintSHA256(e.Key), scan, file)
}

func (e *HostKeyError) changed() string {
	var had, files []string
	for _, k := range e.Known {
		had = append(had, fmt.Sprintf("%s %s (%s:%d)", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line))
		if !slices.Contains(files, k.Filename) {
			files = append(files, k.Filename)
		}
	}
	host, port := splitAddr(e.Addr)
	if e.Alias != "" {
		host = e.Alias
	} else if port != "22" {
		host = "[" + host + "]:" + port
	}
	var rm []string
	for _, f := range files {
		rm = append(rm, "ssh-keygen -R "+shellQuote(host)+" -f "+shellQuote(f))
	}
	return fmt.Sprintf("HOST KEY FOR %s HAS CHANGED: it presented %s %s, but known_hosts has %s. "+
		"Someone may be intercepting the connection; refusing to connect; "+
		"if the host was reinstalled, remove the old key with: %s",
		e.Host, e.Key.Type(), ssh.FingerprintSHA256(e.Key), strings.Join(had, ", "), strings.Join(rm, " && "))
}

func splitAddr(addr string) (host, port string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, "22"
	}
	return host, port
}

// keyscanType names a key type as ssh-keyscan -t wants it.
func keyscanType(t string) string {
	switch {
	case t == ssh.KeyAlgoED25519 || t == ssh.CertAlgoED25519v01:
		return "ed25519"
	case strings.HasPrefix(t, "ecdsa-"):
		return "ecdsa"
	case t == ssh.KeyAlgoRSA || t == ssh.CertAlgoRSAv01:
		return "rsa"
	}
	return t
}

// ExitError is a remote command that ran and failed.
type ExitError struct {
	Host   string
	Cmd    string
	Status int    // exit status; -1 when killed by a signal
	Signal string // the signal that killed it, if one did
	Stderr string // the end of its stderr, trimmed
}

func (e *ExitError) Error() string {
	how := "exit status " + strconv.Itoa(e.Status)
	if e.Signal != "" {
		how = "killed by signal " + e.Signal
	}
	msg := fmt.Sprintf("host %s: %s: %s", e.Host, e.Cmd, how)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}
