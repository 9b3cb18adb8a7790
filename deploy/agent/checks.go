package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/deptool/deptool/deploy/wire"
)

// Health checks: after the units of a deploy settled, the agent probes what
// the changed apps' manifests name until each probe passes or its timeout
// runs out. Probes only observe (a GET without a body, a TCP connect); a
// failing one fails the apply, which rolls back like a failed unit.

const (
	// checkInterval is the pause between attempts: short enough that a
	// service that needs a moment to bind is seen soon after it does, long
	// enough not to hammer one that is failing.
	checkInterval = 250 * time.Millisecond
	// attemptLimit caps one attempt, so a server that hangs on one
	// connection (still starting up, say) is asked again while the check's
	// time lasts; the remaining time caps it further.
	attemptLimit = 2 * time.Second
	// bodyLimit is how much of an answer's body is read: enough to let a
	// small answer complete the exchange, never a large download.
	bodyLimit = 4 << 10
)

// prober runs health checks.
type prober struct {
	interval time.Duration
	client   *http.Client
	dialer   net.Dialer
}

func newProber() *prober {
	return &prober{
		interval: checkInterval,
		client: &http.Client{
			// Redirects are not followed: the check is of this service,
			// not of wherever it points (possibly another host). A 3xx
			// fails unless expect_status names it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{
				// No proxy from the agent's environment: checks probe the
				// host's own services, typically on 127.0.0.1.
				Proxy:             nil,
				DisableKeepAlives: true,
			},
		},
	}
}

// appCheck is one check of one app in the plan.
type appCheck struct {
	app   string
	check wire.Check
}

// runAll runs checks in parallel and reports them in the order given.
func (p *prober) runAll(ctx context.Context, checks []appCheck) []wire.CheckReport {
	reports := make([]wire.CheckReport, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i] = p.run(ctx, c.app, c.check)
		}()
	}
	wg.Wait()
	return reports
}

// run retries one check until it passes or its timeout runs out.
func (p *prober) run(ctx context.Context, app string, c wire.Check) wire.CheckReport {
	start := time.Now()
	r := wire.CheckReport{App: app, Check: c.String()}
	deadline := start.Add(c.Duration())
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for {
		r.Attempts++
		err := p.attempt(ctx, c)
		if err == nil {
			r.OK, r.Error = true, ""
			break
		}
		// An attempt cut short by the check's own deadline says less than
		// the failure before it ("connection refused", "status 503").
		if r.Error == "" || time.Now().Before(deadline) {
			r.Error = err.Error()
		}
		wait := time.NewTimer(p.interval)
		select {
		case <-ctx.Done():
		case <-wait.C:
		}
		wait.Stop()
		if ctx.Err() != nil {
			break
		}
	}
	r.Elapsed = time.Since(start)
	return r
}

func (p *prober) attempt(ctx context.Context, c wire.Check) error {
	ctx, cancel := context.WithTimeout(ctx, attemptLimit)
	defer cancel()
	if c.TCP != "" {
		conn, err := p.dialer.DialContext(ctx, "tcp", c.TCP)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return p.get(ctx, c)
}

func (p *prober) get(ctx context.Context, c wire.Check) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.HTTP, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "deptool-check")
	resp, err := p.client.Do(req)
	if err != nil {
		// The URL is in the check's name already; keep only the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return uerr.Err
		}
		return err
	}
	_, rerr := io.Copy(io.Discard, io.LimitReader(resp.Body, bodyLimit))
	resp.Body.Close()
	code := resp.StatusCode
	switch {
	case c.ExpectStatus != 0 && code != c.ExpectStatus:
		return fmt.Errorf("status %d, want %d%s", code, c.ExpectStatus, redirectNote(resp))
	case c.ExpectStatus == 0 && (code < 200 || code > 299):
		return fmt.Errorf("status %d, want 2xx%s", code, redirectNote(resp))
	}
	if rerr != nil && !errors.Is(rerr, io.ErrUnexpectedEOF) {
		return fmt.Errorf("status %d, but reading the answer failed: %w", code, rerr)
	}
	return nil
}

// redirectNote explains a 3xx: it is not followed, on purpose.
func redirectNote(resp *http.Response) string {
	loc := resp.Header.Get("Location")
	if resp.StatusCode < 300 || resp.StatusCode > 399 || loc == "" {
		return ""
	}
	return fmt.Sprintf(" (a redirect to %s, which checks do not follow; check that URL instead, or set expect_status: %d)", loc, resp.StatusCode)
}

// changedChecks lists the checks of the apps the plan adds or updates:
// an app the deploy did not touch was not restarted and is not judged.
func changedChecks(p *wire.Plan) []appCheck {
	var out []appCheck
	for _, ap := range p.Apps {
		if ap.Action == wire.Remove {
			continue
		}
		for _, c := range ap.Checks {
			out = append(out, appCheck{ap.App, c})
		}
	}
	return out
}

// checkStep runs the changed apps' health checks, once their units
// settled, and reports them to the results.
type checkStep struct {
	*env
	probe *prober
}

// run fails when any check did not pass, naming each with its last error.
func (a checkStep) run() error {
	checks := changedChecks(a.plan)
	if len(checks) == 0 {
		return nil
	}
	for _, c := range checks {
		a.say(wire.Progress{Step: "check", App: c.app, Detail: c.check.String()})
	}
	a.out.checks = a.probe.runAll(a.sd.ctx, checks)
	var failed []string
	for i, r := range a.out.checks {
		if !r.OK {
			failed = append(failed, fmt.Sprintf("app %s: check %s: %s (for %s)", r.App, r.Check, r.Error, checks[i].check.Duration()))
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}
