package diff

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"filippo.io/age/armor"
	"github.com/deptool/deptool/store"
	"golang.org/x/crypto/ssh"
)

// A secret is an age file (age-encryption.org/v1) encrypted to the host's
// SSH host key. Its header lists one stanza per recipient; the ssh-ed25519
// and ssh-rsa stanzas name their key by a tag, the first four bytes of the
// SHA-256 of the key's SSH wire form, base64 without padding. That is
// enough to tell offline, without any private key, which hosts a secret is
// for: it is for a host when one of its stanzas carries the tag of a key
// known_hosts holds for that host.

// AgeStanza is one recipient stanza of an age header: its type and
// arguments ("ssh-ed25519", ["TAG", "share"]). The body is not kept.
type AgeStanza struct {
	Type string
	Args []string
}

const (
	ageIntro       = "age-encryption.org/v1"
	armorHeader    = "-----BEGIN AGE ENCRYPTED FILE-----"
	ageColumns     = 64      // body lines are this wide, but the last
	maxHeaderBytes = 1 << 20 // no sane header is near this
)

var rawB64 = base64.RawStdEncoding.Strict()

// ParseAgeHeader reads the header of an age file, binary or armored, and
// returns its recipient stanzas. It checks the structure (version line,
// stanzas, base64 bodies, MAC line), not the MAC, which needs the file key.
func ParseAgeHeader(data []byte) ([]AgeStanza, error) {
	if bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(armorHeader)) {
		dec, err := io.ReadAll(io.LimitReader(armor.NewReader(bytes.NewReader(data)), maxHeaderBytes))
		if err != nil {
			return nil, fmt.Errorf("not a valid armored age file: %v", err)
		}
		data = dec
	}
	if len(data) > maxHeaderBytes {
		data = data[:maxHeaderBytes]
	}
	next := func() (string, bool) {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return "", false
		}
		line := string(data[:i])
		data = data[i+1:]
		return line, true
	}
	line, ok := next()
	if !ok || line != ageIntro {
		return nil, errors.New("not an age file: it does not start with \"" + ageIntro + "\"; encrypt it with 'deptool secret encrypt' or age")
	}
	var stanzas []AgeStanza
	for {
		line, ok = next()
		if !ok {
			return nil, errors.New("the age header ends before its MAC line (\"--- ...\"): the file is cut short")
		}
		if rest, isMAC := strings.CutPrefix(line, "--- "); isMAC {
			if _, err := rawB64.DecodeString(rest); err != nil || rest == "" {
				return nil, errors.New("the age header's MAC line is malformed")
			}
			break
		}
		rest, isStanza := strings.CutPrefix(line, "-> ")
		if !isStanza {
			return nil, fmt.Errorf("malformed age header line %q", clip(line))
		}
		fields := strings.Split(rest, " ")
		for _, f := range fields {
			if f == "" || strings.ContainsFunc(f, func(r rune) bool { return r < 33 || r > 126 }) {
				return nil, fmt.Errorf("malformed age stanza %q", clip(line))
			}
		}
		if err := skipBody(next); err != nil {
			return nil, fmt.Errorf("age stanza %s: %w", fields[0], err)
		}
		stanzas = append(stanzas, AgeStanza{Type: fields[0], Args: fields[1:]})
	}
	if len(stanzas) == 0 {
		return nil, errors.New("the age header has no recipients")
	}
	return stanzas, nil
}

// skipBody reads a stanza's body: base64 lines of ageColumns, ended by a
// shorter (possibly empty) line.
func skipBody(next func() (string, bool)) error {
	for {
		line, ok := next()
		if !ok {
			return errors.New("the body is cut short")
		}
		if _, err := rawB64.DecodeString(line); err != nil || len(line) > ageColumns {
			return errors.New("the body is not base64")
		}
		if len(line) < ageColumns {
			return nil
		}
	}
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// SSHTag is the tag age's ssh-ed25519 and ssh-rsa stanzas carry for key.
func SSHTag(key ssh.PublicKey) string {
	h := sha256.Sum256(key.Marshal())
	return rawB64.EncodeToString(h[:4])
}

// ForKey reports whether a header has a stanza for key: one of the types
// the age tools write for an SSH key, carrying its tag.
func ForKey(stanzas []AgeStanza, key ssh.PublicKey) bool {
	t := key.Type()
	if t != ssh.KeyAlgoED25519 && t != ssh.KeyAlgoRSA {
		return false
	}
	tag := SSHTag(key)
	for _, s := range stanzas {
		if s.Type == t && len(s.Args) > 0 && s.Args[0] == tag {
			return true
		}
	}
	return false
}

// HostKeys returns the SSH public keys trusted for a host, as known_hosts
// holds them for it; none when it is not known. Validation takes it as
// input so that it stays offline: the caller reads known_hosts.
type HostKeys func(host string) ([]ssh.PublicKey, error)

// checkSecrets checks the secrets of a host's apps that differ from what
// the host last accepted (refs): the header parses, no plain file has the
// name it decrypts to, and when the host's keys are known, one of its
// stanzas is for one of them. A secret for another host of the tree is
// refused naming that host. An app the host already runs is not looked
// into: a deploy does not check it out again, and walking every file of
// every app would cost more than the rest of validation together.
func (l *loader) checkSecrets(c *Cluster, h *Host, refs map[string]store.ID, keys *keyCache) ([]problem, error) {
	var probs []problem
	var hostKeys []ssh.PublicKey
	loaded := false
	changed, err := l.changedApps(h, refs)
	if err != nil {
		return nil, err
	}
	for _, a := range changed {
		files, err := l.secrets(a.Tree)
		if err != nil {
			return nil, err
		}
		d, err := l.app(a.Tree)
		if err != nil {
			return nil, err
		}
		clash, err := l.checkSecretNames(d.root, files)
		if err != nil {
			return nil, err
		}
		for _, p := range clash {
			probs = append(probs, problem{h.Name + "/" + a.Name + "/" + p.path, p.msg})
		}
		for _, f := range files {
			where := h.Name + "/" + a.Name + "/" + f.TreePath
			stanzas, perr, err := l.ageHeader(f.Blob)
			if err != nil {
				return nil, err
			}
			if perr != nil {
				probs = append(probs, problem{where, perr.Error()})
				continue
			}
			if keys == nil {
				continue
			}
			if !loaded {
				if hostKeys, err = usableKeys(keys, h.Name); err != nil {
					return nil, err
				}
				loaded = true
			}
			if len(hostKeys) == 0 || forAny(stanzas, hostKeys) {
				continue // an unknown host fails at connect, with its own error
			}
			msg, err := l.wrongHost(c, h, stanzas, hostKeys, keys)
			if err != nil {
				return nil, err
			}
			probs = append(probs, problem{where, msg})
		}
	}
	return probs, nil
}

func usableKeys(keys *keyCache, host string) ([]ssh.PublicKey, error) {
	all, err := keys.get(host)
	if err != nil {
		return nil, fmt.Errorf("host %s: reading its host keys to check its secrets: %w", host, err)
	}
	var out []ssh.PublicKey
	for _, k := range all {
		if t := k.Type(); t == ssh.KeyAlgoED25519 || t == ssh.KeyAlgoRSA {
			out = append(out, k)
		}
	}
	return out, nil
}

func forAny(stanzas []AgeStanza, keys []ssh.PublicKey) bool {
	for _, k := range keys {
		if ForKey(stanzas, k) {
			return true
		}
	}
	return false
}

// wrongHost says whose secret it is, when it belongs to another host of
// the tree. Only then are other hosts' keys read.
func (l *loader) wrongHost(c *Cluster, h *Host, stanzas []AgeStanza, hostKeys []ssh.PublicKey, keys *keyCache) (string, error) {
	all := make([]string, len(c.Hosts))
	for i, o := range c.Hosts {
		all[i] = o.Name
	}
	keys.fetch(all)
	var owners []string
	for _, other := range c.Hosts {
		if other.Name == h.Name {
			continue
		}
		ks, err := usableKeys(keys, other.Name)
		if err != nil {
			return "", err
		}
		if forAny(stanzas, ks) {
			owners = append(owners, other.Name)
		}
	}
	fix := fmt.Sprintf("re-encrypt it with 'deptool secret encrypt %s'", h.Name)
	if len(owners) > 0 {
		return fmt.Sprintf("is encrypted for host %s, not for %s; %s", strings.Join(owners, ", "), h.Name, fix), nil
	}
	return fmt.Sprintf("is not encrypted to %s's host key (%s %s, from known_hosts); %s",
		h.Name, hostKeys[0].Type(), ssh.FingerprintSHA256(hostKeys[0]), fix), nil
}

// ageHeader parses a secret's header once per blob; perr says what is
// wrong with the file, err that the store could not be read.
func (l *loader) ageHeader(blob store.ID) (stanzas []AgeStanza, perr, err error) {
	if r, ok := l.headers[blob]; ok {
		return r.stanzas, r.err, nil
	}
	data, err := l.src.ReadBlob(blob)
	if err != nil {
		return nil, nil, err
	}
	stanzas, perr = ParseAgeHeader(data)
	l.headers[blob] = headerResult{stanzas, perr}
	return stanzas, perr, nil
}

type headerResult struct {
	stanzas []AgeStanza
	err     error
}

// changedApps are the apps of h that differ from what it last accepted.
func (l *loader) changedApps(h *Host, refs map[string]store.ID) ([]*App, error) {
	if apps, ok := l.changed[h.Name]; ok {
		return apps, nil
	}
	apps, err := l.findChangedApps(h, refs)
	if err == nil {
		l.changed[h.Name] = apps
	}
	return apps, err
}

func (l *loader) findChangedApps(h *Host, refs map[string]store.ID) ([]*App, error) {
	base, ok := refs[h.Name]
	_, tree, _, err := deployedAt(l.src, h.Name, base, ok)
	if err != nil {
		return nil, err
	}
	deployed, err := appEntries(l.src, h.Name, tree)
	if err != nil {
		return nil, err
	}
	var out []*App
	for _, a := range h.Apps {
		if deployed[a.Name] != a.Tree {
			out = append(out, a)
		}
	}
	return out, nil
}

// hostsWithSecrets are the hosts validation needs the keys of: those
// with a secret in an app a deploy would check out.
func (l *loader) hostsWithSecrets(c *Cluster, refs map[string]store.ID) ([]string, error) {
	var out []string
	for _, h := range c.Hosts {
		changed, err := l.changedApps(h, refs)
		if err != nil {
			return nil, err
		}
		for _, a := range changed {
			secrets, err := l.secrets(a.Tree)
			if err != nil {
				return nil, err
			}
			if len(secrets) > 0 {
				out = append(out, h.Name)
				break
			}
		}
	}
	return out, nil
}

// keyCache asks HostKeys once per host, many hosts at once: resolving a
// host as OpenSSH does runs ssh -G, about 10 ms each, so a fleet's keys
// are fetched in parallel rather than one after the other.
type keyCache struct {
	keys HostKeys
	mu   sync.Mutex
	got  map[string]keyAnswer
}

type keyAnswer struct {
	keys []ssh.PublicKey
	err  error
}

// keyLookups is how many hosts' keys are looked up at once.
const keyLookups = 16

func newKeyCache(keys HostKeys) *keyCache {
	return &keyCache{keys: keys, got: map[string]keyAnswer{}}
}

// fetch looks up the hosts not looked up yet, in parallel.
func (k *keyCache) fetch(hosts []string) {
	k.mu.Lock()
	var todo []string
	for _, h := range hosts {
		if _, ok := k.got[h]; !ok {
			todo = append(todo, h)
		}
	}
	k.mu.Unlock()
	var wg sync.WaitGroup
	sem := make(chan struct{}, keyLookups)
	for _, h := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			keys, err := k.keys(h)
			k.mu.Lock()
			k.got[h] = keyAnswer{keys, err}
			k.mu.Unlock()
		}()
	}
	wg.Wait()
}

func (k *keyCache) get(host string) ([]ssh.PublicKey, error) {
	k.fetch([]string{host})
	k.mu.Lock()
	defer k.mu.Unlock()
	a := k.got[host]
	return a.keys, a.err
}
