package agent

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy/wire"
)

// testProber retries without pausing: the tests' servers decide when a
// check passes, not the clock.
func testProber() *prober {
	p := newProber()
	p.interval = time.Millisecond
	return p
}

func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// closedPort is a local address nothing listens on any more.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

func TestCheckPasses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for name, c := range map[string]wire.Check{
		"200":               {HTTP: serve(t, status(200)) + "/healthz"},
		"204":               {HTTP: serve(t, status(204))},
		"expected 503":      {HTTP: serve(t, status(503)), ExpectStatus: 503},
		"expected redirect": {HTTP: serve(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) }), ExpectStatus: 302},
		"tcp":               {TCP: ln.Addr().String()},
	} {
		t.Run(name, func(t *testing.T) {
			r := testProber().run(context.Background(), "web", c)
			if !r.OK || r.Error != "" || r.Attempts != 1 || r.App != "web" || r.Check != c.String() {
				t.Errorf("report %+v", r)
			}
		})
	}
}

func TestCheckFailsWithLastError(t *testing.T) {
	var followed atomic.Int32
	elsewhere := serve(t, func(w http.ResponseWriter, _ *http.Request) { followed.Add(1) })
	for name, tt := range map[string]struct {
		c    wire.Check
		want string
	}{
		"closed port": {wire.Check{TCP: closedPort(t), Timeout: "100ms"}, "connect: connection refused"},
		"http closed": {wire.Check{HTTP: "http://" + closedPort(t) + "/", Timeout: "100ms"}, "connect: connection refused"},
		"500":         {wire.Check{HTTP: serve(t, status(500)), Timeout: "100ms"}, "status 500, want 2xx"},
		"not the one": {wire.Check{HTTP: serve(t, status(200)), ExpectStatus: 204, Timeout: "100ms"}, "status 200, want 204"},
		"redirect":    {wire.Check{HTTP: serve(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, elsewhere+"/x", http.StatusFound) }), Timeout: "100ms"}, "status 302, want 2xx (a redirect to " + elsewhere + "/x, which checks do not follow"},
		"hangs":       {wire.Check{HTTP: serve(t, func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }), Timeout: "100ms"}, "context deadline exceeded"},
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			r := testProber().run(context.Background(), "web", tt.c)
			if r.OK || r.Error == "" || !strings.Contains(r.Error, tt.want) {
				t.Errorf("report %+v, want a failure with %q", r, tt.want)
			}
			if r.Attempts < 1 || r.Elapsed < tt.c.Duration() || time.Since(start) > tt.c.Duration()+attemptLimit {
				t.Errorf("%d attempts in %s for a %s check", r.Attempts, r.Elapsed, tt.c.Duration())
			}
		})
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}

func TestCheckRetriesUntilItPasses(t *testing.T) {
	var hits atomic.Int32
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		if hits.Add(1) < 4 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	r := testProber().run(context.Background(), "web", wire.Check{HTTP: url, Timeout: "1m"})
	if !r.OK || r.Attempts != 4 || r.Error != "" {
		t.Errorf("report %+v, want a pass on the 4th attempt", r)
	}
}

func TestCheckReadsLittleOfTheBody(t *testing.T) {
	// Read to the end, this body would keep the check busy until its
	// timeout and fail it.
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 64<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	r := testProber().run(context.Background(), "web", wire.Check{HTTP: url, Timeout: "5s"})
	if !r.OK || r.Attempts != 1 {
		t.Errorf("an endless body: report %+v, want a pass at once", r)
	}
}

func TestCheckSendsNoBodyAndOnlyGET(t *testing.T) {
	got := make(chan string, 1)
	url := serve(t, func(_ http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.Path + " " + r.Header.Get("User-Agent") + " " + strings.Repeat("x", int(r.ContentLength))
	})
	if r := testProber().run(context.Background(), "web", wire.Check{HTTP: url + "/healthz"}); !r.OK {
		t.Fatalf("report %+v", r)
	}
	if req := <-got; req != "GET /healthz deptool-check " {
		t.Errorf("request %q", req)
	}
}

func TestRunAllKeepsOrderAndRunsInParallel(t *testing.T) {
	// Both servers answer only once both were asked: run one by one, the
	// first would wait for its timeout.
	var asked atomic.Int32
	both := make(chan struct{})
	h := func(w http.ResponseWriter, r *http.Request) {
		if asked.Add(1) == 2 {
			close(both)
		}
		select {
		case <-both:
		case <-r.Context().Done():
		}
	}
	a, b := serve(t, h), serve(t, h)
	closed := closedPort(t)
	reports := testProber().runAll(context.Background(), []appCheck{
		{"one", wire.Check{HTTP: a, Timeout: "10s"}},
		{"two", wire.Check{TCP: closed, Timeout: "50ms"}},
		{"three", wire.Check{HTTP: b, Timeout: "10s"}},
	})
	var got []string
	for _, r := range reports {
		got = append(got, r.App+" "+r.Check+" "+map[bool]string{true: "ok", false: "failed"}[r.OK])
	}
	want := "one " + a + " ok, two tcp " + closed + " failed, three " + b + " ok"
	if strings.Join(got, ", ") != want {
		t.Errorf("got %q, want %q", strings.Join(got, ", "), want)
	}
	for _, r := range reports {
		if r.App != "two" && r.Attempts != 1 {
			t.Errorf("%s took %d attempts: not asked in parallel", r.App, r.Attempts)
		}
	}
}

func TestChangedChecksSkipsRemovedApps(t *testing.T) {
	c := wire.Check{TCP: "127.0.0.1:1"}
	p := &wire.Plan{Apps: []wire.AppPlan{
		{App: "a", Action: wire.Add, Checks: []wire.Check{c}},
		{App: "b", Action: wire.Remove, Checks: []wire.Check{c}},
		{App: "c", Action: wire.Update, Checks: []wire.Check{c, c}},
	}}
	var got []string
	for _, ac := range changedChecks(p) {
		got = append(got, ac.app)
	}
	if strings.Join(got, " ") != "a c c" {
		t.Errorf("checks of %v", got)
	}
}

func TestCheckPlanRefusesBadChecks(t *testing.T) {
	p := &wire.Plan{Apps: []wire.AppPlan{{App: "web", Action: wire.Remove, Checks: []wire.Check{
		{TCP: "127.0.0.1:5432"}, {HTTP: "file:///etc/shadow"}, {TCP: "a:1", Timeout: "100h"},
	}}}}
	err := checkPlan(p, nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{`app web: checks[1]: http "file:///etc/shadow": must start with http://`, `app web: checks[2]: timeout "100h" is longer than the limit`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "checks[0]") {
		t.Errorf("a good check refused: %v", err)
	}
}

// A failing check fails the apply after the units settled, and the host
// rolls back as for a failed unit; a passing one lets it through.
func TestFailingCheckRollsBack(t *testing.T) {
	h, rec := unitHost(t)
	ok := serve(t, status(200))
	v1 := files{
		"manifest.json":       `{"systemd": {"units_enabled": ["web.service"]}, "checks": [{"http": "` + ok + `"}]}`,
		"systemd/web.service": "[Service]\n",
	}
	d1 := h.deploy(apps{"web": v1}).mustSucceed(t)
	if len(d1.result.Checks) != 1 || !d1.result.Checks[0].OK || !hasStep(d1.progress, "check") {
		t.Fatalf("v1 checks %+v", d1.result.Checks)
	}
	rec.take()
	closed := closedPort(t)
	v2 := files{
		"manifest.json":       `{"systemd": {"units_enabled": ["web.service"]}, "checks": [{"tcp": "` + closed + `", "timeout": "100ms"}]}`,
		"systemd/web.service": "[Service]\nEnvironment=V=2\n",
	}
	d2 := h.deploy(apps{"web": v2})
	res := d2.result
	wantErr := "app web: check tcp " + closed + ": dial tcp " + closed + ": connect: connection refused (for 100ms)"
	if res.Outcome != wire.RolledBack || res.Message() != wantErr {
		t.Fatalf("result %s: %q, want rolled back with %q", res.Outcome, res.Message(), wantErr)
	}
	if len(res.Checks) != 1 || res.Checks[0].OK || res.Checks[0].App != "web" || res.Checks[0].Check != "tcp "+closed {
		t.Errorf("check reports %+v", res.Checks)
	}
	if got := strings.Join(rec.take(), ", "); got != "reload, restart web.service, settle web.service 0s, reload, restart web.service, settle web.service 0s" {
		t.Errorf("systemd calls: %s", got)
	}
	if r := h.refs(); r.current != d1.commit || r.target != d2.commit {
		t.Errorf("refs %+v: want current at v1", r)
	}
	if got := h.readlink(appsDir + "/web/current"); got != h.appTree(v1) {
		t.Errorf("current -> %s, want the v1 checkout", got)
	}
	j := h.journal()
	last := j[len(j)-1]
	if last.Outcome != wire.RolledBack || len(last.FailedChecks) != 1 || !strings.HasPrefix(last.FailedChecks[0], "web: tcp "+closed+": dial tcp") {
		t.Errorf("journal %+v", last)
	}
}
