package main

import (
	"strings"
	"testing"

	"github.com/deptool/deptool/internal/lab"
)

// needReload lists the host's deptool-managed units (links into the apps
// directory) that systemd says changed on disk.
func needReload(t *testing.T, l *lab.Lab, host string) string {
	t.Helper()
	return onHost(t, l, host, `
for p in /etc/systemd/system/*; do
  case "$(readlink "$p")" in /var/lib/deptool/apps/*) ;; *) continue ;; esac
  u=$(basename "$p")
  [ "$(systemctl show -P NeedDaemonReload "$u")" = no ] || echo "$u"
done`)
}

// After a deploy that changes only an app's config, one that changes its
// unit, and a rollback, systemd sees no managed unit as changed on disk.
func TestNoUnitChangedOnDiskAfterDeploys(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	unit := "[Service]\nExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=multi-user.target\n"
	op.write(map[string]string{
		"web1/svc/manifest.json":                   `{"systemd": {"units_enabled": ["dtnr.service"]}}`,
		"web1/svc/systemd/dtnr.service":            unit,
		"web1/svc/systemd/dtnr.service.d/env.conf": "[Service]\nEnvironment=A=1\n",
		"web1/svc/systemd/dtnr-helper.service":     "[Service]\nType=oneshot\nExecStart=/bin/true\n",
		"web1/svc/svc.conf":                        "v1\n",
	})
	steps := []struct {
		what  string
		files map[string]string
		args  []string
		code  int
	}{
		{"first deploy", nil, []string{"deploy", "--yes"}, 0},
		{"config-only deploy", map[string]string{"web1/svc/svc.conf": "v2\n"}, []string{"deploy", "--yes"}, 0},
		{"unit update", map[string]string{"web1/svc/systemd/dtnr.service.d/env.conf": "[Service]\nEnvironment=A=2\n", "web1/svc/svc.conf": "v3\n"}, []string{"deploy", "--yes"}, 0},
		// The unit fails to start: an automatic rollback.
		{"automatic rollback", map[string]string{"web1/svc/systemd/dtnr.service": strings.Replace(unit, "/bin/sleep infinity", "/bin/false", 1)}, []string{"deploy", "--yes"}, exitRolledBack},
		{"rollback --to", nil, []string{"rollback", "--to", "main~3", "--yes"}, 0},
	}
	for _, s := range steps {
		op.write(s.files)
		if out, code := op.run(s.args...); code != s.code {
			t.Fatalf("%s exited %d, want %d:\n%s", s.what, code, s.code, out)
		}
		if got := needReload(t, l, "web1"); got != "" {
			t.Errorf("after the %s, systemd says these changed on disk: %s", s.what, got)
		}
		if got := onHost(t, l, "web1", "systemctl status dtnr.service 2>&1 | grep -c 'changed on disk' || true"); got != "0" {
			t.Errorf("after the %s, systemctl status warns of a change on disk", s.what)
		}
	}
}
