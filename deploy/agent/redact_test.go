package agent

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/deptool/deptool/deploy/wire"
)

// A validate command that prints a secret and fails: its output reaches
// the operator (validation report, error, progress) and the host's journal
// with the secret's value replaced by its name, whole, line by line, and
// as JSON escapes it.
func TestSecretsRedactedFromWhatLeavesTheHost(t *testing.T) {
	h, _ := unitHost(t)
	key := h.hostKey()
	const plain = "pa\"ss-Word-1\nsecond-line-xyz\n"
	app := validatedApp("v1\n", "/bin/cat", "db.password", "fail")
	app["db.password.age"] = encryptFor(t, plain, key)
	app["echo.json"] = `{"password": "pa\"ss-Word-1"}` // the secret as JSON escapes it
	app["manifest.json"] = `{"systemd": {"units_enabled": ["web.service"]}, "validate": [["/bin/cat", "echo.json"], ["/bin/cat", "db.password", "fail"]]}`
	d := h.deploy(apps{"web": app})
	if d.result.Outcome != wire.RolledBack {
		t.Fatalf("outcome %s (%s), want rolled back by the failed validation", d.result.Outcome, d.result.Message())
	}
	sent, err := json.Marshal(struct {
		R wire.Result
		P []wire.Progress
	}{d.result, d.progress})
	if err != nil {
		t.Fatal(err)
	}
	journal, err := os.ReadFile(h.path(stateDir + "/journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{"what the agent sent": string(sent), "the journal": string(journal)} {
		for _, leak := range []string{"pa\"ss-Word-1", `pa\"ss-Word-1`, `pa\\\"ss-Word-1`, "second-line-xyz", "ss-Word"} {
			if strings.Contains(text, leak) {
				t.Errorf("%s holds the secret (%q):\n%s", what, leak, text)
			}
		}
	}
	out := d.result.Validation[0].Output + d.result.Validation[1].Output
	if !strings.Contains(out, "[secret web/db.password]") {
		t.Errorf("validation output %q does not name the secret it hides", out)
	}
	if !strings.Contains(d.result.Message(), "[secret web/db.password]") {
		t.Errorf("error %q does not name the secret it hides", d.result.Message())
	}
	if !strings.Contains(string(journal), "[secret web/db.password]") {
		t.Errorf("journal does not name the secret it hides:\n%s", journal)
	}
}

// A secret of an app the deploy does not touch, printed by another app's
// command (as an outside unit's error could): redacted too, though this
// session never decrypted it.
func TestSecretsOfRunningAppsRedacted(t *testing.T) {
	h, _ := unitHost(t)
	key := h.hostKey()
	db := files{"db.password.age": encryptFor(t, "running-Secret-77\n", key)}
	h.deploy(apps{"db": db}).mustSucceed(t)
	web := validatedApp("v1\n", "/bin/cat", h.path(appsDir+"/db/current/db.password"), "fail")
	d := h.deploy(apps{"db": db, "web": web})
	if d.result.Outcome != wire.RolledBack {
		t.Fatalf("outcome %s (%s), want rolled back by the failed validation", d.result.Outcome, d.result.Message())
	}
	if out := d.result.Validation[0].Output; strings.Contains(out, "running-Secret") || !strings.Contains(out, "[secret db/db.password]") {
		t.Errorf("validation output %q: want the running app's secret replaced by its name", out)
	}
}
