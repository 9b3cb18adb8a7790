package ui

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/internal/treetest"
	"github.com/deptool/deptool/store"
)

// What each kind of step looks like in a plan, one line each.
func TestPrintPlanLines(t *testing.T) {
	attr := diff.Attr{Mode: 0o640, Owner: "root", Group: "nginx"}
	at := store.ID{0xab, 0xcd, 0xef, 0x12}
	p := &diff.Plan{
		Pinned: []diff.PinnedHost{{Host: "web2", At: at, AppsDiffer: 2}},
		Hosts: []diff.HostPlan{{Host: "h", Rollback: true, Apps: []diff.AppPlan{{
			App: "web", Action: diff.Update,
			Files: []diff.FileChange{
				{Op: diff.Update, Path: "tls/key.pem", Attr: &attr, AttrChanged: true},
				{Op: diff.Update, Path: "db.password", Secret: true, Attr: &attr},
				{Op: diff.Add, Path: "new.token", Secret: true},
				{Op: diff.Update, Path: "run.sh", OldMode: diff.Mode(store.ModeFile), NewMode: diff.Mode(store.ModeExecutable)},
				{Op: diff.Add, Path: "a\x1bb"},
			},
			Validate: [][]string{{"/usr/sbin/nginx", "-t", "-c", "${DEPTOOL_CHECKOUT}/nginx.conf"}},
			Units: []diff.UnitStep{
				{Op: diff.Restart, Unit: "worker.service"},
				{Op: diff.Restart, Unit: "nginx.service", External: true},
				{Op: diff.Reload, Unit: "web.service"},
				{Op: diff.Reload, Unit: "ssh.service", External: true},
			},
		}}}},
	}
	got := renderPlan(t, p, false)
	for _, line := range []string{
		"web2: pinned at " + at.String()[:7] + ", 2 apps differ\n\n",
		"        ~ tls/key.pem (mode 0640 root:nginx)\n",
		"        ~ db.password (secret, mode 0640 root:nginx)\n",
		"        + new.token (secret)\n",
		"        ~ run.sh (now executable)\n",
		"        + \"a\\x1bb\"\n",
		"        restart unit worker.service\n        restart unit nginx.service (follows the app)\n        reload unit web.service\n        reload unit ssh.service (follows the app)\n",
		"        validate /usr/sbin/nginx -t -c ${DEPTOOL_CHECKOUT}/nginx.conf\n",
	} {
		if !strings.Contains(got, line) {
			t.Errorf("plan lacks %q:\n%s", line, got)
		}
	}
	if !strings.HasPrefix(got, "web2: pinned at ") {
		t.Errorf("the pinned hosts do not come first:\n%s", got)
	}
}

func TestPrintPlanShowsRollout(t *testing.T) {
	p := &diff.Plan{Hosts: hostPlans("web1", "web2"), Rollout: &diff.Rollout{Stages: []diff.Stage{{Name: "canary", Hosts: []string{"web1"}, Canary: true}, {Name: "rest", Hosts: []string{"web2"}}}}}
	want := "Rollout in 2 stages; the first stage where a host does not deploy stops it:\n    1. canary: web1\n    2. rest: web2\n"
	if got := renderPlan(t, p, false); !strings.Contains(got, want) {
		t.Errorf("plan:\n%s\nwant it to contain:\n%s", got, want)
	}
	p.Rollout = &diff.Rollout{Stages: []diff.Stage{{Name: "batch 1 of 1", Hosts: []string{"web1", "web2"}}}, Untouched: []string{"@canary"}}
	if got, want := renderPlan(t, p, false), "canary @canary selects no host this plan changes: no canary stage, the rollout starts with the next"; !strings.Contains(got, want) {
		t.Errorf("plan:\n%s\nwant it to say %q", got, want)
	}
}

func TestRenderRolloutWithABudgetStaysShort(t *testing.T) {
	var names []string
	for i := 1; i <= 40; i++ {
		names = append(names, fmt.Sprintf("web%02d", i))
	}
	ro := &diff.Rollout{MaxFail: "2", Allowed: 2, Stages: []diff.Stage{{Name: "canary", Hosts: names[:1], Canary: true}, {Name: "batch 1 of 6", Hosts: names[1:2]}, {Name: "batch 2 of 6", Hosts: names[2:7]}}}
	for i, at := 3, 7; i <= 5; i, at = i+1, at+10 {
		ro.Stages = append(ro.Stages, diff.Stage{Name: fmt.Sprintf("batch %d of 6", i), Hosts: names[at : at+10]})
	}
	ro.Stages = append(ro.Stages, diff.Stage{Name: "batch 6 of 6", Hosts: names[37:]})
	var b strings.Builder
	renderRollout(&b, ro)
	want := `
Rollout in 7 stages; it stops after the stage where more than 2 hosts have not deployed (--max-fail 2); a failed canary stops it at once:
    1. canary: web01
    2. batch 1 of 6: web02
    3. batch 2 of 6: web03..web07 (5 hosts)
    4-6. 3 batches of 10: web08..web37 (30 hosts)
    7. batch 6 of 6: web38..web40 (3 hosts)
`
	if b.String() != want {
		t.Errorf("rollout:\n%s\nwant:\n%s", b.String(), want)
	}
}

// What status says of a host in each state it can be in.
func TestStatusLines(t *testing.T) {
	commit := store.ID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc}
	for _, c := range []struct {
		h    diff.HostStatus
		want string
	}{
		{diff.HostStatus{Host: "web2", New: true}, "new host; no apps yet"},
		{diff.HostStatus{Host: "web1", Deployed: treetest.Time, Operator: "alice@laptop", Commit: commit, Source: "3f9c2e1d4b5a69788c7d6e5f4a3b2c1d0e9f8a7b-dirty"},
			"deployed 2025-01-02 15:04 +0000 by alice@laptop, commit 123456789abc, source 3f9c2e1d4b5a-dirty; up to date"},
		{diff.HostStatus{Host: "web1", Unknown: store.ID{0xde, 0xad, 0xbe, 0xef}, Commit: store.ID{0xde, 0xad, 0xbe, 0xef}},
			"deployed from another store: commit deadbeef0000 unknown here; run sync; up to date"},
		{diff.HostStatus{Host: "a1", Unverified: "refs/remotes/a1 is signed by no allowed key"},
			"record not verified: refs/remotes/a1 is signed by no allowed key; run 'deptool sync --limit a1'"},
		{diff.HostStatus{Host: "web1", Deployed: treetest.Time, Operator: "bob", Commit: commit, Undeployed: []string{"nginx", "php"}, PinnedAt: commit},
			"deployed 2025-01-02 15:04 +0000 by bob, commit 123456789abc; undeployed changes: nginx, php; pinned at 1234567: deploys leave it alone"},
	} {
		state, attempt := statusText(c.h, false)
		if state != c.want || attempt != "" {
			t.Errorf("%+v:\n got %q, %q\nwant %q", c.h, state, attempt, c.want)
		}
	}
	h := diff.HostStatus{Host: "web1", New: true, Attempt: &diff.Attempt{Commit: commit, Time: treetest.Time, Outcome: "rolled back", Why: "unit failed"}}
	if _, attempt := statusText(h, false); attempt != "last attempt 123456789abc at 2025-01-02 15:04 +0000: rolled back: unit failed" {
		t.Errorf("attempt line %q", attempt)
	}
}

// A secret's content is never shown, in the plan, the diff or the stat,
// whether the age file is binary or armored.
func TestPlanDiffAndStatShowNoSecret(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	encrypt := func(armored bool) string {
		var b bytes.Buffer
		var out io.WriteCloser = nopCloser{&b}
		if armored {
			out = armor.NewWriter(&b)
		}
		w, err := age.Encrypt(out, id.Recipient())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("hunter2\n")); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	first, second := encrypt(false), encrypt(true)
	s := newStore(t)
	files := map[string]string{"h/a/db.password.age": first, "h/a/manifest.json": `{"files": {"db.password": {"mode": "0640", "group": "app"}}}`}
	recordDeploy(t, s, buildTree(t, s, files), "h")
	files["h/a/db.password.age"] = second
	files["h/a/new.token.age"] = second
	p := mustPlan(t, s, buildTree(t, s, files), diff.PlanOptions{})
	plan := renderPlan(t, p, false)
	for _, want := range []string{"~ db.password (secret, mode 0640 root:app)\n", "+ new.token (secret)\n"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	var d, st bytes.Buffer
	if err := PrintDiff(&d, s, p, false); err != nil {
		t.Fatal(err)
	}
	if err := PrintStat(&st, s, p, false); err != nil {
		t.Fatal(err)
	}
	for what, out := range map[string]string{"plan": plan, "diff": d.String(), "stat": st.String()} {
		for _, secret := range []string{first, second} {
			if strings.Contains(out, secret[:60]) || strings.Contains(out, "BEGIN AGE") || strings.Contains(out, "age-encryption.org") {
				t.Errorf("the %s shows ciphertext:\n%s", what, out)
			}
		}
	}
	if !strings.Contains(st.String(), "h/a/db.password.age | secret") {
		t.Errorf("the stat does not name the secret as such:\n%s", st.String())
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
