package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
)

// A signed deploy commit names, in a trailer, a fan-out index of its root
// tree, so a host proves its entry with the index's root and one bucket
// (a few kB) rather than the whole root tree (350 kB at 10,000 hosts,
// sent to every host, naming every other host). The index is a pure
// function of the root tree: it is never stored, the operator computes
// it again when it builds a host's proof.

// HostsTrailer starts the line of a signed deploy commit's message naming
// its host index.
const HostsTrailer = "Deptool-Hosts: "

const hostsToken = "deptool-hosts"

// HostIndex is a root tree's host index: an index tree of up to 256
// entries (BucketOf's names), each a bucket tree of the hosts it holds,
// name -> the root tree's entry. Git trees, so a host checks them with
// the hashing it already does; their raw objects (content without the
// "tree <len>" header) are what hosts are sent.
type HostIndex struct {
	ID      ID
	Root    []byte
	Buckets map[string][]byte
}

// BucketOf is the index bucket that holds host: the first byte of the
// SHA-256 of its name, in hex, so buckets fill evenly whatever the names.
func BucketOf(host string) string {
	sum := sha256.Sum256([]byte(host))
	return hex.EncodeToString(sum[:1])
}

// Bucket is the raw bucket tree holding host; empty (the empty tree's
// content) when no host of the root falls in it.
func (x *HostIndex) Bucket(host string) []byte { return x.Buckets[BucketOf(host)] }

// BuildHostIndex computes the host index of a root tree of entries.
func BuildHostIndex(entries []Entry) (*HostIndex, error) {
	obj, err := encodeTree(entries)
	if err != nil {
		return nil, err
	}
	raw, err := readAll(obj)
	if err != nil {
		return nil, err
	}
	return hostIndexOf(raw)
}

// hostIndexOf computes the host index of a raw root tree in one pass over
// its bytes: entries keep their root order in their bucket, which is
// Git's order, so buckets need no decoding, sorting or encoding (at
// 10,000 hosts that is most of a deploy's signing cost).
func hostIndexOf(raw []byte) (*HostIndex, error) {
	var buckets [256][]byte
	for i := range buckets {
		buckets[i] = make([]byte, 0, len(raw)/200)
	}
	for rest := raw; len(rest) > 0; {
		sp := bytes.IndexByte(rest, ' ')
		nul := bytes.IndexByte(rest, 0)
		if sp < 0 || nul < sp || len(rest) < nul+21 {
			return nil, errors.New("store: host index: malformed root tree")
		}
		sum := sha256.Sum256(rest[sp+1 : nul])
		buckets[sum[0]] = append(buckets[sum[0]], rest[:nul+21]...)
		rest = rest[nul+21:]
	}
	x := &HostIndex{Buckets: map[string][]byte{}}
	var top bytes.Buffer
	for i, b := range buckets {
		if len(b) == 0 {
			continue
		}
		name := hex.EncodeToString([]byte{byte(i)})
		x.Buckets[name] = b
		id := plumbing.ComputeHash(plumbing.TreeObject, b)
		top.WriteString("40000 " + name + "\x00")
		top.Write(id[:])
	}
	x.Root = top.Bytes()
	x.ID = ID(plumbing.ComputeHash(plumbing.TreeObject, x.Root))
	return x, nil
}

// indexMemo keeps the last host index computed: a deploy computes it to
// sign and again to send, and at 10,000 hosts each costs milliseconds.
var indexMemo struct {
	sync.Mutex
	root ID
	x    *HostIndex
}

// HostIndex computes the host index of root tree root.
func (s *Store) HostIndex(root ID) (*HostIndex, error) {
	indexMemo.Lock()
	if indexMemo.x != nil && indexMemo.root == root {
		x := indexMemo.x
		indexMemo.Unlock()
		return x, nil
	}
	indexMemo.Unlock()
	var raw []byte
	if root != EmptyTree {
		var err error
		if raw, err = s.RawObject(root); err != nil {
			return nil, err
		}
	}
	x, err := hostIndexOf(raw)
	if err != nil {
		return nil, err
	}
	indexMemo.Lock()
	indexMemo.root, indexMemo.x = root, x
	indexMemo.Unlock()
	return x, nil
}

// withHostsTrailer adds the trailer naming index to message: in its
// trailer paragraph when it ends with one (Deptool-Source, a rollback's
// From/To), else in a new one, so Git and `deptool log` keep the subject.
func withHostsTrailer(message string, index ID) (string, error) {
	if _, ok, err := HostsIn(message); ok || err != nil {
		return "", errors.New("the deploy message has a Deptool-Hosts line, which deptool writes itself: remove it")
	}
	msg := strings.TrimRight(message, "\n")
	line := HostsTrailer + index.String() + "\n"
	paras := strings.Split(msg, "\n\n")
	if len(paras) > 1 && isTrailerParagraph(paras[len(paras)-1]) {
		return msg + "\n" + line, nil
	}
	return msg + "\n\n" + line, nil
}

func isTrailerParagraph(p string) bool {
	for _, l := range strings.Split(p, "\n") {
		token, _, ok := strings.Cut(l, ": ")
		if !ok || token == "" || strings.ContainsAny(token, " \t") {
			return false
		}
	}
	return true
}

// HostsIn finds the host index a signed deploy commit's message names.
// ok is false for a message without one (deploys signed before the index
// existed). A message that names two, or names one anywhere but in its
// last paragraph after the subject, is an error: a host must not pick
// between readings of what was signed.
func HostsIn(message string) (id ID, ok bool, err error) {
	lines := strings.Split(strings.TrimRight(message, "\n"), "\n")
	at := -1
	for i, l := range lines {
		token, _, found := strings.Cut(l, ":")
		if !found || !strings.EqualFold(strings.TrimSpace(token), hostsToken) {
			continue
		}
		if at >= 0 {
			return ZeroID, false, errors.New("the deploy message has two Deptool-Hosts trailers")
		}
		at = i
	}
	if at < 0 {
		return ZeroID, false, nil
	}
	blank := -1
	for i := at - 1; i >= 0; i-- {
		if strings.TrimSpace(lines[i]) == "" {
			blank = i
			break
		}
	}
	v, exact := strings.CutPrefix(lines[at], HostsTrailer)
	if blank < 1 || !exact || !plumbing.IsHash(v) || strings.ToLower(v) != v {
		return ZeroID, false, fmt.Errorf("the deploy message's Deptool-Hosts line %q is not its trailer", lines[at])
	}
	for _, l := range lines[at+1:] {
		if strings.TrimSpace(l) == "" {
			return ZeroID, false, fmt.Errorf("the deploy message's Deptool-Hosts line %q is not in its last paragraph", lines[at])
		}
	}
	return ID(plumbing.NewHash(v)), true, nil
}

// WithoutHosts is message without its host index trailer: an id for hosts
// to check, not for people to read.
func WithoutHosts(message string) string {
	if _, ok, err := HostsIn(message); !ok || err != nil {
		return message
	}
	var out []string
	for _, l := range strings.Split(message, "\n") {
		if !strings.HasPrefix(l, HostsTrailer) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
