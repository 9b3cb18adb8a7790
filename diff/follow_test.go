package diff

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlanReloadsAndFollowingUnits(t *testing.T) {
	s := newStore(t)
	files := map[string]string{
		"h/web/manifest.json": `{"systemd": {"units_enabled": ["web.service", "worker.service"], "reload": ["web.service", "ssh.service"], "restart": ["nginx.service"]},
			"validate": [["/usr/sbin/nginx", "-t", "-c", "${DEPTOOL_CHECKOUT}/nginx.conf"]]}`,
		"h/web/systemd/web.service":    "[Service]\n",
		"h/web/systemd/worker.service": "[Service]\n",
		"h/web/web.conf":               "v1\n",
	}
	deploy(t, s, buildTree(t, s, files), "h")

	// A config change: web reloads, worker restarts, the outside units follow.
	files["h/web/web.conf"] = "v2\n"
	p := mustPlan(t, s, buildTree(t, s, files), PlanOptions{})
	ap := p.Hosts[0].Apps[0]
	want := []UnitStep{
		{Op: Restart, Unit: "worker.service"},
		{Op: Restart, Unit: "nginx.service", External: true},
		{Op: Reload, Unit: "web.service"},
		{Op: Reload, Unit: "ssh.service", External: true},
	}
	if d := cmp.Diff(want, ap.Units); d != "" {
		t.Errorf("config change: units (-want +got):\n%s", d)
	}
	if d := cmp.Diff([][]string{{"/usr/sbin/nginx", "-t", "-c", "${DEPTOOL_CHECKOUT}/nginx.conf"}}, ap.Validate); d != "" {
		t.Errorf("validate (-want +got):\n%s", d)
	}
	deploy(t, s, buildTree(t, s, files), "h")

	// A change of web's own unit file: a reload would not apply it.
	files["h/web/systemd/web.service.d/x.conf"] = "[Service]\nNice=1\n"
	p = mustPlan(t, s, buildTree(t, s, files), PlanOptions{})
	if got := p.Hosts[0].Apps[0].Units; !cmp.Equal(got[len(got)-4:], []UnitStep{
		{Op: Restart, Unit: "web.service"}, {Op: Restart, Unit: "worker.service"},
		{Op: Restart, Unit: "nginx.service", External: true}, {Op: Reload, Unit: "ssh.service", External: true},
	}) {
		t.Errorf("unit file change: units %+v; want web restarted", got)
	}
	deploy(t, s, buildTree(t, s, files), "h")

	// Going back to a version without the lists still acts on the units
	// the newer version followed: their files change back.
	old := map[string]string{
		"h/web/manifest.json":       `{"systemd": {"units_enabled": ["web.service"]}}`,
		"h/web/systemd/web.service": "[Service]\n",
	}
	p = mustPlan(t, s, buildTree(t, s, old), PlanOptions{})
	var follow []UnitStep
	for _, u := range p.Hosts[0].Apps[0].Units {
		if u.External {
			follow = append(follow, u)
		}
	}
	if d := cmp.Diff([]UnitStep{{Op: Restart, Unit: "nginx.service", External: true}, {Op: Reload, Unit: "ssh.service", External: true}}, follow); d != "" {
		t.Errorf("going back: following units (-want +got):\n%s", d)
	}

	// Removing the app: its own units stop, the outside ones follow.
	p = mustPlan(t, s, buildTree(t, s, map[string]string{"h/other/f": "x"}), PlanOptions{})
	for _, ap := range p.Hosts[0].Apps {
		if ap.App != "web" {
			continue
		}
		var got []string
		for _, u := range ap.Units {
			got = append(got, string(u.Op)+" "+u.Unit)
		}
		want := []string{"stop web.service", "stop worker.service", "disable web.service", "disable worker.service",
			"unlink web.service", "unlink web.service.d/x.conf", "unlink worker.service", "restart nginx.service", "reload ssh.service"}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("removal: units (-want +got):\n%s", d)
		}
	}
}

func TestValidateFollowingUnitsAndCommands(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"web1/nginx/manifest.json": `{"systemd": {"units_enabled": ["nginx.service"],
			"reload": ["ssh.service", "ssh.service", "x@.service", "nope"],
			"restart": ["nginx.service", "cron.service", "ssh.service"]},
			"validate": [[], ["nginx", "-t"], ["/usr/sbin/../sbin/nginx"], ["/bin/true", "a\u0000b"], ["/usr/sbin/nginx", "-t"]]}`,
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1/nginx/manifest.json": {
			`systemd.reload lists "ssh.service" twice`,
			`systemd.reload lists the template "x@.service"`,
			`systemd.reload lists "nope", which is not a unit name`,
			`systemd.restart lists "nginx.service", which units_enabled already restarts`,
			`"ssh.service" is in both systemd.restart and systemd.reload`,
			`validate[0] is empty`,
			`validate[1]: the program "nginx" must be an absolute, clean path`,
			`validate[2]: the program "/usr/sbin/../sbin/nginx" must be an absolute, clean path`,
			`validate[3]: an argument contains a NUL byte`,
		},
	})
}

func TestValidateEnabledUnitsNeedInstall(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"web1/nginx/manifest.json": `{"systemd": {"units_enabled": ["nginx.service", "a.timer", "b.service", "c.service", "getty@tty1.service"]}}`,
		// Only a comment and another section's WantedBy.
		"web1/nginx/systemd/nginx.service": "[Unit]\nWantedBy=x\n# [Install]\n[Service]\nExecStart=/bin/true\n",
		// An empty [Install] enables nothing.
		"web1/nginx/systemd/a.timer": "[Timer]\nOnCalendar=daily\n[Install]\n",
		// A drop-in may carry it.
		"web1/nginx/systemd/b.service":                "[Service]\n",
		"web1/nginx/systemd/b.service.d/install.conf": "[Install]\nWantedBy=multi-user.target\n",
		"web1/nginx/systemd/c.service":                "[Service]\nExecStart=/bin/true\n\n  [Install]\n  Alias = cc.service\n",
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1/nginx/systemd/nginx.service": {`units_enabled lists "nginx.service", but the unit has no [Install] section`},
		"prod/web1/nginx/systemd/a.timer":       {`units_enabled lists "a.timer", but the unit has no [Install] section`},
	})
}

func TestValidateReloadedUnitsCanReload(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"web1/nginx/manifest.json": `{"systemd": {"units_enabled": ["nginx.service"], "reload": ["nginx.service", "a.service", "b.service", "ssh.service"]}}`,
		// nginx.service has no ExecReload; ssh.service is the host's.
		"web1/nginx/systemd/a.service":               "[Service]\nExecStart=/bin/a\nExecReload=/bin/kill -HUP $MAINPID\n",
		"web1/nginx/systemd/b.service":               "[Service]\nExecStart=/bin/b\n",
		"web1/nginx/systemd/b.service.d/reload.conf": "[Service]\nExecReload=/bin/kill -HUP $MAINPID\n",
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1/nginx/systemd/nginx.service": {`systemd.reload lists "nginx.service", but the unit has no ExecReload=`},
	})
}
