package deploy

import (
	"context"
	"os/exec"
	"strings"
	"time"

	"github.com/deptool/deptool/store"
)

// A config tree is generated from a source-of-truth repository; each deploy
// commit says which commit of it produced the tree, in a trailer of its
// message, so plain `git log` shows it too.
const sourceTrailer = store.SourceTrailer

// sourceTimeout bounds asking Git about the cluster directory's work tree.
const sourceTimeout = 5 * time.Second

// SourceOf names the commit of the Git work tree that dir lies in, as
// "<id>", or "<id>-dirty" when the work tree has uncommitted changes under
// dir; "" when dir is in no work tree, or git is not installed.
func SourceOf(ctx context.Context, dir string) string {
	ctx, cancel := context.WithTimeout(ctx, sourceTimeout)
	defer cancel()
	head, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--verify", "-q", "HEAD").Output()
	if err != nil {
		return ""
	}
	id := strings.TrimSpace(string(head))
	status, err := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain", "--", ".").Output()
	if err == nil && len(strings.TrimSpace(string(status))) > 0 {
		id += "-dirty"
	}
	return id
}

// withSource adds the source trailer to a deploy commit's message.
func withSource(message, source string) string {
	if source == "" {
		return message
	}
	return strings.TrimRight(message, "\n") + "\n\n" + sourceTrailer + source + "\n"
}

// sourceIn finds the source trailer of a deploy commit's message.
func sourceIn(message string) string { return store.SourceIn(message, sourceTrailer) }

// BySource finds the newest deploy made from source commit rev (a full or
// abbreviated id of the source-of-truth repository, at least 7 digits).
func BySource(s *store.Store, rev string) (store.ID, bool, error) {
	if len(rev) < 7 {
		return store.ZeroID, false, nil
	}
	entries, err := History(s, nil, 0)
	if err != nil {
		return store.ZeroID, false, err
	}
	for _, e := range entries {
		if e.Source != "" && strings.HasPrefix(e.Source, rev) {
			return e.Commit, true, nil
		}
	}
	return store.ZeroID, false, nil
}
