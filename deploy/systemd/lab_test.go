package systemd

import (
	"bytes"
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/internal/lab"
)

// onHostEnv marks a run of this test binary on a lab host, where the
// TestOnHost tests talk to that host's systemd. D-Bus is the host's own
// system bus, so the tests must run there, not here over SSH.
const onHostEnv = "DEPTOOL_SYSTEMD_ON_HOST"

func TestMain(m *testing.M) {
	if os.Getenv(onHostEnv) == "1" {
		os.Exit(m.Run())
	}
	lab.Main(m)
}

// hostTests run, each in its own process, on a lab host.
var hostTests = []string{
	"TestOnHostRestartGood",
	"TestOnHostCrashAfterStart",
	"TestOnHostOneshot",
	"TestOnHostBadExecStart",
	"TestOnHostEnableSurvivesGC",
	"TestOnHostEnableWithoutInstall",
	"TestOnHostStopDisable",
	"TestOnHostUnknownUnit",
	"TestOnHostReloadUnit",
	"TestOnHostRun",
	"TestOnHostJobTimeoutKillsTheUnit",
}

const hostBin = "/usr/local/bin/deptool-systemd.test"

// TestLab copies this test binary onto a lab host and runs the TestOnHost
// tests there, one process each.
func TestLab(t *testing.T) {
	l := lab.Start(t, "sd1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	self, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	var errb bytes.Buffer
	// Copied rather than run from the overlay's lower layer: the test
	// binary may live on a mount the host does not see.
	code, err := l.Run(ctx, "sd1", []string{"sh", "-c", "cat > " + hostBin + ".tmp && chmod 755 " + hostBin + ".tmp && mv " + hostBin + ".tmp " + hostBin}, self, nil, &errb)
	if err != nil || code != 0 {
		t.Fatalf("copying the test binary to sd1: exit %d, %v: %s", code, err, errb.String())
	}
	t.Cleanup(func() { _, _ = l.Exec("sd1", "rm", "-f", hostBin) })
	for _, name := range hostTests {
		t.Run(strings.TrimPrefix(name, "TestOnHost"), func(t *testing.T) {
			// Separate buffers: the SSH session copies stdout and stderr
			// from two goroutines, and one shared bytes.Buffer lost the
			// whole output now and then.
			var out, errb bytes.Buffer
			argv := []string{"env", onHostEnv + "=1", hostBin, "-test.run", "^" + name + "$", "-test.v", "-test.count=1", "-test.timeout=2m"}
			code, err := l.Run(ctx, "sd1", argv, nil, &out, &errb)
			t.Logf("on sd1:\n%s%s", out.String(), errb.String())
			if err != nil {
				t.Fatalf("running %s on sd1: %v", name, err)
			}
			// A test that skipped or did not match proves nothing.
			if code != 0 || !strings.Contains(out.String(), "--- PASS: "+name) {
				t.Fatalf("%s on sd1: exit status %d, no PASS line", name, code)
			}
		})
	}
}

// TestHostTestsListed keeps hostTests complete: a TestOnHost test missing
// from it would only ever be skipped.
func TestHostTestsListed(t *testing.T) {
	if os.Getenv(onHostEnv) == "1" {
		t.Skip("source is not on the host")
	}
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && strings.HasPrefix(fn.Name.Name, "TestOnHost") && !slices.Contains(hostTests, fn.Name.Name) {
				t.Errorf("%s (%s) is not in hostTests, so TestLab never runs it", fn.Name.Name, f)
			}
		}
	}
}
