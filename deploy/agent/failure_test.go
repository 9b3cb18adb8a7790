package agent

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/google/go-cmp/cmp"
)

// A failed apply says what failed as a code the operator acts on, with the
// step, app and unit, and its message names no host: the operator adds it.

func TestFailedUnitIsTyped(t *testing.T) {
	h, rec := rollbackHost(t)
	h.deploy(apps{"web": rbV1}).mustSucceed(t)
	rec.take()
	rec.fail("web.service", "not active: failed (exit-code)", 2)
	res := h.deploy(apps{"web": rbV2}).result
	want := &wire.Failure{Code: wire.FailUnit, Step: "settle", Unit: "web.service", Message: "unit web.service failed: not active: failed (exit-code)"}
	if diff := cmp.Diff(want, res.Failure); diff != "" {
		t.Errorf("failure (-want +got):\n%s", diff)
	}
	wantRollback := &wire.Failure{Code: wire.FailRollback, Step: "rollback", Message: "unit web.service failed: not active: failed (exit-code)"}
	if diff := cmp.Diff(wantRollback, res.RollbackFailure); diff != "" {
		t.Errorf("rollback failure (-want +got):\n%s", diff)
	}
}

func TestFailedStepIsTyped(t *testing.T) {
	h := newTestHost(t)
	h.deploy(apps{"a": files{"a.conf": "1"}, "b": files{"b.conf": "1"}}).mustSucceed(t)
	h.noRollback = true
	failing := h.opts
	failing.fault = func(e Effect) error {
		if e.Kind == EffectCheckout && e.App == "b" {
			return fmt.Errorf("write b.conf: %w", syscall.ENOSPC)
		}
		return nil
	}
	res := h.deployWith(failing, apps{"a": files{"a.conf": "2"}, "b": files{"b.conf": "2"}}).result
	want := &wire.Failure{Code: wire.FailStep, Step: "checkout", App: "b", Message: "app b: checkout: write b.conf: no space left on device"}
	if diff := cmp.Diff(want, res.Failure); diff != "" {
		t.Errorf("failure (-want +got):\n%s", diff)
	}
	if res.RollbackFailure != nil {
		t.Errorf("rollback failure %+v without a rollback", res.RollbackFailure)
	}
}

func TestFailedCheckIsTyped(t *testing.T) {
	h, _ := unitHost(t)
	closed := closedPort(t)
	v := files{
		"manifest.json":       `{"systemd": {"units_enabled": ["web.service"]}, "checks": [{"tcp": "` + closed + `", "timeout": "100ms"}]}`,
		"systemd/web.service": "[Service]\n",
	}
	res := h.deploy(apps{"web": v}).result
	if f := res.Failure; f == nil || f.Code != wire.FailCheck || f.App != "web" || f.Step != "check" || f.Unit != "" {
		t.Errorf("failure %+v, want the check of app web", f)
	}
}
