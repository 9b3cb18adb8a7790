package ui

import (
	"strings"
	"testing"

	"github.com/deptool/deptool/deploy"
)

// A deploy that does not verify is marked, and says its outcomes are not
// shown, instead of "no outcomes recorded".
func TestLogMarksAnUnverifiedDeploy(t *testing.T) {
	var b strings.Builder
	PrintLog(&b, []deploy.Entry{{Operator: "root@vm", Message: "deploy to a1", Unverified: "it is unsigned, and this store requires signed deploys"}}, false)
	out := b.String()
	if !strings.Contains(out, "    (not verified: it is unsigned, and this store requires signed deploys; its outcomes are not shown)\n") {
		t.Errorf("no mark:\n%s", out)
	}
	if strings.Contains(out, "no outcomes recorded") {
		t.Errorf("an unverified deploy shown as interrupted:\n%s", out)
	}
}
