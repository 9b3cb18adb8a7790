package agent

import (
	"path/filepath"
	"strings"

	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
)

// knowRunningSecrets tells the session's redactor the secrets of every
// checkout of the commit the host runs: any unit may print one when it
// fails, an outside unit reloaded for another app included, and its
// journal lines go back to the operator. Read from the checkouts, which
// hold them decrypted: nothing is decrypted for this. A file that cannot
// be read is skipped; the apply that needs it will say so.
func (s *session) knowRunningSecrets(st *store.Store, current store.ID) {
	if current == store.ZeroID {
		return
	}
	info, err := st.CommitInfo(current)
	if err != nil {
		return
	}
	apps, err := appTrees(st, info.Tree)
	if err != nil {
		return
	}
	for app, tree := range apps {
		if !validName(app) {
			continue
		}
		dir := filepath.Join(s.l.appDir(app), tree.String())
		walkSecrets(st, tree, "", func(rel string) {
			if p, err := readSecretFile(filepath.Join(dir, rel)); err == nil {
				s.redact.Add(app+"/"+rel, p)
			}
		})
	}
}

// walkSecrets calls fn with the checkout path (without .age) of each
// secret below tree.
func walkSecrets(st *store.Store, tree store.ID, rel string, fn func(string)) {
	entries, err := st.ReadTree(tree)
	if err != nil {
		return
	}
	for _, e := range entries {
		switch {
		case e.IsDir():
			walkSecrets(st, e.ID, rel+e.Name+"/", fn)
		case diff.IsSecret(e.Name):
			fn(rel + strings.TrimSuffix(e.Name, diff.SecretSuffix))
		}
	}
}
