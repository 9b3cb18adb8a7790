package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	neturl "net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// A team shares a store through a Git remote (any URL go-git reaches: a
// path, file://, ssh://). Fetching never moves a local ref blindly: the
// remote's refs land under trackingPrefix, and are then integrated into
// the local ones:
//
//   - main and the outcome notes are histories: when both sides have new
//     commits, a merge commit joins them (main keeps the local tree, notes
//     the union of both sides' notes). Nothing is rewritten.
//   - host refs and pins are pointers: the last fetched value is the merge
//     base; a side that did not move it takes the other side's value, a
//     deletion included. When both moved a host ref, the later host commit
//     wins (a host's lock orders the deploys to it); when both moved a pin,
//     the local one does.
//
// Pushing sends the local refs that differ from the tracking ones, in one
// atomic push that requires each remote ref to be where it was fetched: a
// ref on the remote is only ever moved from the value this store saw.

const trackingPrefix = "refs/deptool/remote/"

// RemoteOption is the store's Git config option naming its remote.
const RemoteOption = "remote"

// shared are the refs a team shares, as remote refspec patterns.
var shared = []string{"refs/heads/main", "refs/notes/deptool", "refs/remotes/*", "refs/pins/*", ConfigRef.String(), SignersRef.String()}

// Remote returns the URL of the store's remote; "" when it has none.
func (s *Store) Remote() (string, error) { return s.Config(RemoteOption) }

// SetRemote records url as the store's remote.
//
// A relative path is recorded as an absolute one: every command after
// this one runs from wherever the operator is, below the cluster or not.
func (s *Store) SetRemote(url string) error {
	if ep, err := transport.NewEndpoint(url); err == nil && ep.Protocol == "file" && !strings.HasPrefix(url, "file://") && !filepath.IsAbs(url) {
		abs, err := filepath.Abs(url)
		if err != nil {
			return err
		}
		url = abs
	}
	return s.setConfig(RemoteOption, url)
}

// RemoteAuth says how to reach url: the go-git auth and the address to
// dial (see RemoteLogin). The store, below deptool's SSH layer, cannot
// import it: the caller passes one to each exchange with the remote; nil
// leaves go-git's defaults.
type RemoteAuth func(url string) (RemoteLogin, error)

// RemoteLogin is how one exchange reaches the remote.
type RemoteLogin struct {
	// Auth logs in; nil: go-git's own.
	Auth transport.AuthMethod
	// Addr, when set, is host:port to dial for an SSH remote in place of
	// the URL's host, which go-git would otherwise look up in
	// ~/.ssh/config: the caller has resolved the host its own way.
	Addr string
	// Done, when set, is called once the exchange is over.
	Done func()
}

// login is the login for an exchange with url, with Done always set, and
// the endpoint go-git is to dial.
func login(url string, auth RemoteAuth) (RemoteLogin, *transport.Endpoint, error) {
	l := RemoteLogin{Done: func() {}}
	if auth != nil {
		var err error
		if l, err = auth(url); err != nil {
			return RemoteLogin{}, nil, err
		}
		if l.Done == nil {
			l.Done = func() {}
		}
	}
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		l.Done()
		return RemoteLogin{}, nil, err
	}
	if l.Addr != "" {
		if err := dialAt(ep, l.Addr); err != nil {
			l.Done()
			return RemoteLogin{}, nil, err
		}
	}
	return l, ep, nil
}

// dialAt points an SSH endpoint at addr (host:port), keeping its user and
// path.
func dialAt(ep *transport.Endpoint, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q of %s: %w", addr, ep.Host, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("address %q of %s: %w", addr, ep.Host, err)
	}
	ep.Host, ep.Port = host, p
	return nil
}

// endpointURL is ep as a URL go-git parses back into ep. A relative path
// (host:repo.git, relative to the login's home) has only the scp-like
// form. go-git dials no IPv6 address it parsed from a URL (it brackets
// the host twice), so a HostName that is one is refused.
func endpointURL(ep *transport.Endpoint) (string, error) {
	if strings.Contains(ep.Host, ":") {
		return "", fmt.Errorf("the ssh config gives %s as the remote's HostName, an IPv6 address, which Git's SSH client here cannot dial: give a DNS name that resolves to it", ep.Host)
	}
	if ep.Protocol != "ssh" || strings.HasPrefix(ep.Path, "/") {
		u := neturl.URL{Scheme: ep.Protocol, Host: net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port)), Path: ep.Path}
		if ep.User != "" || ep.Password != "" {
			u.User = neturl.User(ep.User)
			if ep.Password != "" {
				u.User = neturl.UserPassword(ep.User, ep.Password)
			}
		}
		return u.String(), nil
	}
	user := ""
	if ep.User != "" {
		user = ep.User + "@"
	}
	return fmt.Sprintf("%s%s:%d:%s", user, ep.Host, ep.Port, ep.Path), nil
}

// SyncResult says what a fetch changed.
type SyncResult struct {
	// Merged is true when main had new commits on both sides and a merge
	// commit joins them.
	Merged bool
	// Ahead is true when the local store has records the remote lacks.
	Ahead bool
	// Moved names the local refs the fetch moved.
	Moved []string
	// Signers says what became of the remote's signers.
	Signers SignersNews
}

// Fetch brings the remote's refs and objects into the store and integrates
// them (see above). The caller holds the deploy lock: integrating moves
// refs that deploys move too.
func (s *Store) Fetch(ctx context.Context, url string, auth RemoteAuth) (SyncResult, error) {
	before, err := s.refsUnder(trackingPrefix)
	if err != nil {
		return SyncResult{}, err
	}
	var specs []config.RefSpec
	for _, p := range shared {
		if !strings.HasSuffix(p, "*") {
			// go-git refuses a fetch whose exact ref the remote lacks
			// (a remote with only the shared config, or none): a
			// pattern matches nothing instead.
			p += "*"
		}
		specs = append(specs, config.RefSpec("+"+p+":"+trackingPrefix+strings.TrimPrefix(p, "refs/")))
	}
	l, ep, err := login(url, auth)
	if err != nil {
		return SyncResult{}, fmt.Errorf("store: fetch from %s: %w", url, err)
	}
	defer l.Done()
	dial := url
	if l.Addr != "" {
		if dial, err = endpointURL(ep); err != nil {
			return SyncResult{}, fmt.Errorf("store: fetch from %s: %w", url, err)
		}
	}
	remote := git.NewRemote(s.repo.Storer, &config.RemoteConfig{Name: "deptool", URLs: []string{dial}})
	s.objMu.Lock()
	err = remote.FetchContext(ctx, &git.FetchOptions{RemoteName: "deptool", RefSpecs: specs, Prune: true, Auth: l.Auth})
	s.objMu.Unlock()
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return SyncResult{}, fmt.Errorf("store: fetch from %s: %w", url, err)
	}
	// go-git wrote the tracking refs in place: only integrate and push
	// read them, under the deploy lock.
	after, err := s.refsUnder(trackingPrefix)
	if err != nil {
		return SyncResult{}, err
	}
	return s.integrate(before, after)
}

// integrate merges the fetched refs into the local ones.
func (s *Store) integrate(base, theirs map[string]ID) (SyncResult, error) {
	var res SyncResult
	for _, hist := range []plumbing.ReferenceName{MainRef, OutcomesRef} {
		remote, ok := theirs[strings.TrimPrefix(hist.String(), "refs/")]
		if !ok {
			continue
		}
		moved, merged, err := s.integrateHistory(hist, remote)
		if err != nil {
			return res, err
		}
		if moved {
			res.Moved = append(res.Moved, hist.String())
		}
		res.Merged = res.Merged || merged && hist == MainRef
	}
	for _, kind := range []string{"remotes/", "pins/"} {
		mine, err := s.refsUnder("refs/" + kind)
		if err != nil {
			return res, err
		}
		names := map[string]bool{}
		for _, m := range []map[string]ID{base, theirs} {
			for k := range m {
				if name, ok := strings.CutPrefix(k, kind); ok {
					names[name] = true
				}
			}
		}
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for n := range names {
				if !yield(n) {
					return
				}
			}
		}) {
			ref, err := hostRef("refs/"+kind, name)
			if err != nil {
				return res, fmt.Errorf("store: the remote holds refs/%s%s, which no deptool makes: %w; delete that ref on the remote", kind, name, err)
			}
			b, t, l := base[kind+name], theirs[kind+name], mine[name]
			next, change, err := s.pick(kind, b, t, l)
			if err != nil {
				return res, err
			}
			if !change {
				continue
			}
			if next.IsZero() {
				err = s.removeRef(ref)
			} else {
				err = s.setRef(ref, next, l)
			}
			if err != nil {
				return res, err
			}
			res.Moved = append(res.Moved, ref.String())
		}
	}
	// The shared config is a pointer too: a clone takes the remote's
	// default cluster unless it published another since.
	name := strings.TrimPrefix(ConfigRef.String(), "refs/")
	mine, _, err := s.readRef(ConfigRef)
	if err != nil {
		return res, err
	}
	if next, change, err := s.pick("config", base[name], theirs[name], mine); err != nil {
		return res, err
	} else if change && !next.IsZero() {
		if err := s.setRef(ConfigRef, next, mine); err != nil {
			return res, err
		}
		res.Moved = append(res.Moved, ConfigRef.String())
	}
	// The signers move only along a chain that verifies.
	if res.Signers, err = s.integrateSigners(base, theirs); err != nil {
		return res, err
	}
	if !res.Signers.Taken.IsZero() {
		res.Moved = append(res.Moved, SignersRef.String())
	}
	ahead, err := s.ahead()
	res.Ahead = ahead
	return res, err
}

// pick is the three-way choice for a pointer ref: base is what the last
// fetch saw, theirs the remote's value now, mine the local one (zero:
// absent). change says whether mine must become next.
func (s *Store) pick(kind string, base, theirs, mine ID) (next ID, change bool, err error) {
	switch {
	case theirs == mine, theirs == base:
		return mine, false, nil // nothing new there, or only here
	case mine == base:
		return theirs, true, nil // moved (or deleted) only there
	case kind == "pins/" || theirs.IsZero() || mine.IsZero():
		return mine, false, nil // both changed: this store's intent stands
	}
	// Both moved a host ref: the later host commit is the later deploy.
	a, err := s.CommitInfo(mine)
	if err != nil {
		return mine, false, err
	}
	b, err := s.CommitInfo(theirs)
	if err != nil {
		return mine, false, err
	}
	if b.Time.After(a.Time) {
		return theirs, true, nil
	}
	return mine, false, nil
}

// integrateHistory joins the remote's history of name into the local one:
// nothing when the remote's is contained, a fast-forward when the local one
// is, else a merge commit with both as parents.
func (s *Store) integrateHistory(name plumbing.ReferenceName, remote ID) (moved, merged bool, err error) {
	_, err = s.update(name, true, func(local ID, ok bool) (ID, error) {
		if !ok {
			moved = true
			return remote, nil
		}
		if local == remote || s.descends(local, remote) {
			return local, nil
		}
		moved = true
		if s.descends(remote, local) {
			return remote, nil
		}
		merged = true
		return s.mergeCommit(name, local, remote)
	})
	return moved, merged, err
}

// descends reports whether a has b as an ancestor (or is b).
func (s *Store) descends(a, b ID) bool {
	return s.mustDescend("", a, b) == nil
}

// mergeCommit makes the commit that joins two histories of name. Main keeps
// the local tree (a merge is no deploy: planning never reads main's tree);
// the notes take every note of both sides.
func (s *Store) mergeCommit(name plumbing.ReferenceName, local, remote ID) (ID, error) {
	mine, err := s.CommitInfo(local)
	if err != nil {
		return ZeroID, err
	}
	tree := mine.Tree
	msg := "merge the deploys made from other clones of this store\n"
	if name == OutcomesRef {
		theirs, err := s.CommitInfo(remote)
		if err != nil {
			return ZeroID, err
		}
		entries, err := s.ReadTree(theirs.Tree)
		if err != nil {
			return ZeroID, err
		}
		ours, err := s.ReadTree(mine.Tree)
		if err != nil {
			return ZeroID, err
		}
		for _, e := range ours {
			entries = replaceEntry(entries, e)
		}
		if tree, err = s.WriteTree(entries); err != nil {
			return ZeroID, err
		}
		msg = "merge the outcomes recorded by other clones of this store\n"
	}
	return s.writeCommit(tree, []ID{local, remote}, msg, Operator(), s.now())
}

// Unpushed counts the local shared refs that differ from what the last
// exchange with the remote saw: records the remote lacks (or, after a
// fetch that could not be integrated, has otherwise).
func (s *Store) Unpushed() (int, error) {
	updates, err := s.pushUpdates()
	return len(updates), err
}

// ahead reports whether a local shared ref differs from what was fetched.
func (s *Store) ahead() (bool, error) {
	updates, err := s.pushUpdates()
	return len(updates) > 0, err
}

type refUpdate struct {
	name     string // without refs/
	from, to ID     // zero from: new there; zero to: delete
}

// pushUpdates are the shared refs whose local value differs from the
// tracking one.
func (s *Store) pushUpdates() ([]refUpdate, error) {
	tracking, err := s.refsUnder(trackingPrefix)
	if err != nil {
		return nil, err
	}
	local := map[string]ID{}
	for _, p := range shared {
		prefix := strings.TrimPrefix(strings.TrimSuffix(p, "*"), "refs/")
		if !strings.HasSuffix(p, "*") {
			id, ok, err := s.readRef(plumbing.ReferenceName(p))
			if err != nil {
				return nil, err
			}
			if ok {
				local[prefix] = id
			}
			continue
		}
		refs, err := s.refsUnder("refs/" + prefix)
		if err != nil {
			return nil, err
		}
		for name, id := range refs {
			local[prefix+name] = id
		}
	}
	var out []refUpdate
	for name, id := range local {
		if u := (refUpdate{name: name, from: tracking[name], to: id}); u.from != id && s.pushableSigners(u) {
			out = append(out, u)
		}
	}
	for name, id := range tracking {
		if _, ok := local[name]; !ok && strings.HasPrefix(name, "pins/") {
			out = append(out, refUpdate{name: name, from: id}) // unpinned here
		}
	}
	slices.SortFunc(out, func(a, b refUpdate) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// ErrRemoteRejected is returned by Push when the remote was reached and
// refused the records: a hook, receive.fsckObjects, a permission. Trying
// again changes nothing; the error carries the remote's own words.
var ErrRemoteRejected = errors.New("the remote refused the push")

// ErrRemoteMoved is returned by Push when the remote changed since the last
// fetch: fetch (which integrates) and push again.
var ErrRemoteMoved = errors.New("the remote moved since the last fetch")

// pushError tells a remote that moved under the push (fetch and try
// again) from one that refused it (a hook, receive.fsckObjects: trying
// again changes nothing), which carries the remote's own words.
func pushError(err error, said string) error {
	msg := err.Error()
	for _, moved := range []string{"required to be", "but is absent", "but expected", "non-fast-forward", "atomic transaction failed",
		"cannot lock", "failed to lock", "failed to update ref", "stale info"} {
		if strings.Contains(msg, moved) {
			return fmt.Errorf("%w (%v)", ErrRemoteMoved, err)
		}
	}
	if strings.Contains(msg, "command error on") || strings.Contains(msg, "unpack error") || strings.Contains(msg, "unpack ") {
		if said = remoteWords(said); said != "" {
			return fmt.Errorf("%w (%v); the remote said:\n%s", ErrRemoteRejected, err, said)
		}
		return fmt.Errorf("%w (%v)", ErrRemoteRejected, err)
	}
	return err
}

// remoteWords is the remote's side-band output without its progress
// counters: the last lines, indented, each escaped if it holds control
// characters, as it came from outside.
func remoteWords(said string) string {
	var lines []string
	for _, line := range strings.FieldsFunc(said, func(r rune) bool { return r == '\n' || r == '\r' }) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasSuffix(line, ", done.") || strings.Contains(line, "%") {
			continue
		}
		if strings.IndexFunc(line, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 || !utf8.ValidString(line) {
			line = strconv.Quote(line)
		}
		lines = append(lines, "  "+line)
	}
	const keep = 10
	if len(lines) > keep {
		lines = lines[len(lines)-keep:]
	}
	return strings.Join(lines, "\n")
}

// Sync fetches, integrates and pushes until the remote holds every local
// record, trying again (a few times) when another clone pushed in between:
// the remote refuses a push from a fetch it has moved past, so the next
// round integrates the other clone's records first.
func (s *Store) Sync(ctx context.Context, url string, auth RemoteAuth) (SyncResult, error) {
	var res SyncResult
	for try := 0; ; try++ {
		r, err := s.Fetch(ctx, url, auth)
		if err != nil {
			return res, err
		}
		res.Merged = res.Merged || r.Merged
		res.Moved = append(res.Moved, r.Moved...)
		if r.Signers != (SignersNews{}) {
			res.Signers = r.Signers
		}
		_, err = s.Push(ctx, url, auth)
		if errors.Is(err, ErrRemoteMoved) && try < 3 {
			continue
		}
		return res, err
	}
}
