package transport

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sshBinary is the OpenSSH client asked to resolve hosts (`ssh -G`); when
// it is not found, deptool reads ssh_config itself. A variable so tests
// can take either path.
var sshBinary = "ssh"

// lookSSH returns the path of the ssh binary, or "" when there is none.
func lookSSH() string {
	if sshBinary == "" {
		return ""
	}
	p, err := exec.LookPath(sshBinary)
	if err != nil {
		return ""
	}
	return p
}

// sshGTimeout bounds one `ssh -G`: it does not connect, but a `Match exec`
// in the config runs a command of the operator's.
const sshGTimeout = 30 * time.Second

// gCache remembers `ssh -G` answers for the life of the process (one
// deploy), so the several connections a deploy makes to a host ask once.
// Keyed by everything the answer depends on that deptool controls,
// including the config file's modification time, so a test (or an
// operator in a long-lived process) that edits the file is not served
// the old answer.
var gCache = struct {
	sync.Mutex
	m map[string]*gEntry
}{m: map[string]*gEntry{}}

type gEntry struct {
	once sync.Once
	out  map[string][]string
	err  error
}

// sshG runs `ssh -G` for one host, as it would be reached: with the jump
// spec's user and port when it is a jump host, as OpenSSH itself passes
// them (`ssh -l USER -p PORT HOST`).
func sshG(bin, file string, explicit bool, alias string, spec *jump) (map[string][]string, error) {
	args := []string{"-G"}
	if explicit {
		args = append(args, "-F", file)
	}
	if spec != nil && spec.User != "" {
		args = append(args, "-l", spec.User)
	}
	if spec != nil && spec.Port != 0 {
		args = append(args, "-p", strconv.Itoa(spec.Port))
	}
	// "--" keeps a host name starting with "-" from being read as an option.
	args = append(args, "--", alias)
	key := bin + "\x00" + stamp(file) + "\x00" + strings.Join(args, "\x00")
	gCache.Lock()
	e := gCache.m[key]
	if e == nil {
		e = &gEntry{}
		gCache.m[key] = e
	}
	gCache.Unlock()
	e.once.Do(func() { e.out, e.err = runSSHG(bin, args) })
	return e.out, e.err
}

// stamp identifies a version of a file: its name, size and time.
func stamp(file string) string {
	st, err := os.Stat(file)
	if err != nil {
		return file
	}
	return fmt.Sprintf("%s\x00%d\x00%d", file, st.Size(), st.ModTime().UnixNano())
}

func runSSHG(bin string, args []string) (map[string][]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sshGTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// OpenSSH names the file and line; its closing summary adds nothing.
		var lines []string
		for _, l := range strings.Split(stderr.String(), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.Contains(l, ": terminating, ") {
				lines = append(lines, l)
			}
		}
		if len(lines) == 0 {
			lines = []string{err.Error()}
		}
		return nil, fmt.Errorf("ssh -G: %s", oneLine(strings.Join(lines, "; ")))
	}
	return parseG(stdout.String()), nil
}

// parseG reads `ssh -G` output: one "keyword value" per line, keywords in
// lowercase, some keywords (IdentityFile, CertificateFile) repeated.
func parseG(out string) map[string][]string {
	m := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		if k == "" {
			continue
		}
		// Lowercase, as nearly all are: OpenSSH 9.2 prints one as
		// "canonicalizePermittedcnames".
		k = strings.ToLower(k)
		m[k] = append(m[k], strings.TrimSpace(v))
	}
	return m
}

// gDefaults is what `ssh -G` prints with no config at all: OpenSSH's
// defaults, to tell the options an operator set from the rest.
var gDefaults struct {
	once sync.Once
	out  map[string][]string
	err  error
}

func sshDefaults(bin string) (map[string][]string, error) {
	gDefaults.once.Do(func() {
		gDefaults.out, gDefaults.err = runSSHG(bin, []string{"-G", "-F", "/dev/null", "--", "deptool-defaults.invalid"})
	})
	return gDefaults.out, gDefaults.err
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\r", "")), " ")
}

// hopFromG turns OpenSSH's answer for one host into a hop.
func (r *resolver) hopFromG(alias string, spec *jump) (*hop, error) {
	var g map[string][]string
	var err error
	if spec == nil {
		g, err = sshGClassed(r.ssh, r.file, r.explicit, r.home, alias)
	} else {
		g, err = sshG(r.ssh, r.file, r.explicit, alias, spec)
	}
	if err != nil {
		return nil, err
	}
	defaults, err := sshDefaults(r.ssh)
	if err != nil {
		return nil, fmt.Errorf("asking OpenSSH for its defaults: %w", err)
	}
	if k, v, bad := unsupportedSettings(g, defaults); bad {
		return nil, &UnsupportedOptionError{Host: alias, Option: optionName(k), Value: v, File: r.describe()}
	}
	algos, err := allowedAlgorithms(alias, r.describe(), g, defaults)
	if err != nil {
		return nil, err
	}
	h := &hop{Alias: alias, HostName: first(g["hostname"]), User: first(g["user"]), Port: 22, Algorithms: algos}
	if h.HostName == "" {
		h.HostName = alias
	}
	if p, err := strconv.Atoi(first(g["port"])); err == nil {
		h.Port = p
	}
	set := func(key string) string {
		v := first(g[key])
		if strings.EqualFold(v, "none") {
			return ""
		}
		return v
	}
	h.settings = settings{
		identities:     g["identityfile"],
		defaultIDs:     equalStrings(g["identityfile"], defaults["identityfile"]),
		certificates:   g["certificatefile"],
		identitiesOnly: first(g["identitiesonly"]),
		identityAgent:  first(g["identityagent"]),
		proxyJump:      set("proxyjump"),
		proxyCommand:   set("proxycommand"),
		hostKeyAlias:   set("hostkeyalias"),
		userKnownHosts: strings.Join(g["userknownhostsfile"], " "),
		globalKnown:    strings.Join(g["globalknownhostsfile"], " "),
		strict:         first(g["stricthostkeychecking"]),
		connectTimeout: first(g["connecttimeout"]),
		aliveInterval:  first(g["serveraliveinterval"]),
		aliveCountMax:  first(g["serveralivecountmax"]),
		addressFamily:  first(g["addressfamily"]),
		hashKnownHosts: first(g["hashknownhosts"]),
		// `ssh -G` (OpenSSH 9.2) prints HostName, UserKnownHostsFile and
		// IdentityAgent expanded, but IdentityFile, CertificateFile and
		// ProxyCommand with their %-tokens and ~ as written, expanded only
		// when ssh connects: deptool expands those (resolver.path, proxy).
		expanded: true,
	}
	if err := r.apply(h); err != nil {
		return nil, err
	}
	return h, nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
