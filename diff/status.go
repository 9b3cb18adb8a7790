package diff

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/deptool/deptool/store"
)

// HostStatus is where one host stands: what it last accepted and which of
// its apps differ from the config tree.
type HostStatus struct {
	Host string `json:"host"`
	// New is true for a host never deployed from this store.
	New bool `json:"new"`
	// Untracked is true for a host deployed before but no longer in the
	// config tree; deploys leave it alone.
	Untracked bool `json:"untracked,omitempty"`
	// Deployed, Operator and Commit describe the last deploy the host
	// accepted: when, by whom, and the deploy commit on main.
	Deployed time.Time `json:"deployed,omitzero"`
	Operator string    `json:"operator,omitempty"`
	Commit   store.ID  `json:"commit,omitzero"`
	// Source is the source-of-truth commit that deploy's tree came from,
	// as its commit records it; "" when it records none.
	Source string `json:"source,omitempty"`
	// Undeployed names the apps whose tree differs from the host's: added,
	// changed or removed since.
	Undeployed []string `json:"undeployed,omitempty"`
	// Unknown is the commit the host was last deployed from when this store
	// does not hold it: deployed from another store ('deptool sync' brings
	// it here).
	Unknown store.ID `json:"unknown_commit,omitzero"`
	// PinnedAt is the commit 'deptool pin' holds the host at, if any.
	PinnedAt store.ID `json:"pinned_at,omitzero"`
	// Attempt is the host's last deploy attempt when it did not deploy
	// (rolled back, failed...), newer than its last deploy; nil otherwise.
	// Package deploy fills it in from the store's outcome notes.
	Attempt *Attempt `json:"last_attempt,omitempty"`
	// Unverified says why the store's record of the host does not
	// verify (package deploy checks it): the host is then not counted as
	// deployed, and 'deptool sync' takes the host's own record.
	Unverified string `json:"unverified,omitempty"`
}

// Attempt is a deploy attempt that did not take, as status shows it.
type Attempt struct {
	Commit  store.ID  `json:"commit"` // the deploy commit on main
	Time    time.Time `json:"time"`
	Outcome string    `json:"outcome"`
	Why     string    `json:"why,omitempty"`
}

// Status reports every host of the config tree desired (or those in limit),
// then, without a limit, the hosts deployed before but gone from the tree.
// It reads only the store; unchanged hosts cost one ref and one commit.
func Status(s *store.Store, desired store.ID, limit []string) ([]HostStatus, error) {
	return status(s, desired, limit)
}

func status(src source, desired store.ID, limit []string) ([]HostStatus, error) {
	hosts, err := hostEntries(src, desired)
	if err != nil {
		return nil, err
	}
	selected, err := selectHosts(hosts, limit, nil)
	if err != nil {
		return nil, err
	}
	pins, err := src.Pins()
	if err != nil {
		return nil, err
	}
	out := make([]HostStatus, 0, len(selected))
	sources := map[store.ID]string{} // deploy commit: its source
	for _, h := range selected {
		st, err := hostStatus(src, sources, h.Name, h.ID)
		if err != nil {
			return nil, err
		}
		st.PinnedAt = pins[h.Name]
		out = append(out, st)
	}
	if len(limit) > 0 {
		return out, nil
	}
	gone, err := untracked(src, hosts)
	if err != nil {
		return nil, err
	}
	for _, name := range gone {
		st, err := hostStatus(src, sources, name, store.ZeroID)
		if err != nil {
			return nil, err
		}
		st.Untracked, st.Undeployed = true, nil
		out = append(out, st)
	}
	return out, nil
}

func hostStatus(src source, sources map[store.ID]string, host string, tree store.ID) (HostStatus, error) {
	st := HostStatus{Host: host}
	base, from, ok, err := deployed(src, host)
	if err != nil {
		return st, err
	}
	st.New = !ok
	if ok {
		err := describeDeploy(src, sources, base, &st)
		switch {
		case store.ObjectMissing(err):
			// A fetch from a host last deployed from another store: its
			// host commit is here, the deploy commit it names is not.
			st.Unknown = st.Commit
		case err != nil:
			return st, fmt.Errorf("host %s: %w", host, err)
		}
	}
	if from == tree || tree.IsZero() {
		return st, nil
	}
	oldApps, err := appEntries(src, host, from)
	if err != nil {
		return st, err
	}
	newApps, err := appEntries(src, host, tree)
	if err != nil {
		return st, err
	}
	for _, name := range unionNames(oldApps, newApps) {
		if oldApps[name] != newApps[name] {
			st.Undeployed = append(st.Undeployed, name)
		}
	}
	return st, nil
}

// describeDeploy fills in when and by whom the host commit base was made,
// and the deploy commit it was made for.
func describeDeploy(src source, sources map[store.ID]string, base store.ID, st *HostStatus) error {
	info, err := src.CommitInfo(base)
	if err != nil {
		return err
	}
	deploy, ok, err := src.DeployOf(base)
	if err != nil {
		return err
	}
	if !ok {
		deploy = base // a host commit made by hand: name it instead
	}
	st.Deployed, st.Operator, st.Commit = info.Time, info.Operator, deploy
	if known, seen := sources[deploy]; seen || !ok {
		st.Source = known
		return nil
	}
	// Most hosts share a few deploys: each deploy commit is read once.
	d, err := src.CommitInfo(deploy)
	if err != nil {
		return err
	}
	st.Source = store.SourceIn(d.Message, store.SourceTrailer)
	sources[deploy] = st.Source
	return nil
}

// RenderStatus writes one line per host: when it was last deployed and from
// which commit (or that it is new), and which apps have undeployed changes.
func RenderStatus(w io.Writer, hosts []HostStatus, color bool) error {
	width := 0
	for _, h := range hosts {
		width = max(width, len(h.Host))
	}
	var b strings.Builder
	for _, h := range hosts {
		fmt.Fprintf(&b, "%-*s  %s\n", width, h.Host, statusLine(h, color))
		if h.Attempt != nil {
			fmt.Fprintf(&b, "%-*s  %s\n", width, "", attemptLine(h.Attempt, color))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// StatusText is what status says of a host, without its name: its state
// line, and how its last attempt ended when that did not deploy ("" when
// there is nothing to say), for printers that lay hosts out themselves.
func StatusText(h HostStatus, color bool) (state, attempt string) {
	if h.Attempt != nil {
		attempt = attemptLine(h.Attempt, color)
	}
	return statusLine(h, color), attempt
}

func statusLine(h HostStatus, color bool) string {
	line := statusState(h, color)
	if !h.PinnedAt.IsZero() {
		line += "; " + paint("pinned at "+h.PinnedAt.String()[:7], yellow, color) + ": deploys leave it alone"
	}
	return line
}

// attemptLine says how the host's last attempt ended, under its line.
func attemptLine(a *Attempt, color bool) string {
	line := paint(fmt.Sprintf("last attempt %s at %s: %s", a.Commit.String()[:12], a.Time.Format("2006-01-02 15:04 -0700"), a.Outcome), red, color)
	if a.Why != "" {
		line += ": " + a.Why
	}
	return line
}

func statusState(h HostStatus, color bool) string {
	if h.Unverified != "" {
		return paint("record not verified: "+h.Unverified, red, color) + "; run 'deptool sync --limit " + h.Host + "'"
	}
	what := "new host"
	switch {
	case !h.Unknown.IsZero():
		what = fmt.Sprintf("deployed from another store: commit %s unknown here; run sync", h.Unknown.String()[:12])
	case !h.New:
		what = fmt.Sprintf("deployed %s by %s, commit %s", h.Deployed.Format("2006-01-02 15:04 -0700"), h.Operator, h.Commit.String()[:12])
		if h.Source != "" {
			what += ", source " + shortSource(h.Source)
		}
	}
	switch {
	case h.Untracked:
		return what + "; no longer in the config tree, left alone"
	case len(h.Undeployed) > 0:
		return what + "; " + paint("undeployed changes: "+strings.Join(h.Undeployed, ", "), yellow, color)
	case h.New:
		return what + "; no apps yet"
	}
	return what + "; up to date"
}

// shortSource abbreviates a source commit as log does its store commits,
// keeping a "-dirty" mark.
func shortSource(src string) string {
	id, dirty := strings.CutSuffix(src, "-dirty")
	if len(id) > 12 {
		id = id[:12]
	}
	if dirty {
		id += "-dirty"
	}
	return id
}
