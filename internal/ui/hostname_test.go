package ui

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy"
	hostlayout "github.com/deptool/deptool/diff/layout"
	"github.com/deptool/deptool/internal/simhost"
)

// `deptool check` over simulated hosts: one healthy, one unreachable, one
// whose host store lost the commit it runs. Each printed line, text or
// JSON, names its host once: the printer adds it, and neither the
// operator nor the agent puts it in the error.
func TestCheckLinesNameTheirHostOnce(t *testing.T) {
	dir, err := os.MkdirTemp("", "sim") // short: a host's socket path must fit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	now := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	fleet := simhost.New(dir, now)
	t.Cleanup(fleet.Wait)
	hosts := []string{"alpha", "bravo", "charlie"}
	for _, h := range hosts {
		if _, err := fleet.Add(h); err != nil {
			t.Fatal(err)
		}
	}
	fleet.Host("bravo").Dial = func(context.Context) error {
		return errors.New("dial tcp 198.18.0.2:22: connect: no route to host")
	}
	hostStore := filepath.Join(fleet.Host("charlie").Root, hostlayout.StoreDir)
	if out, err := exec.Command("git", "init", "-q", "--bare", hostStore).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	lost := "2e75f0cd0a895ed4b3d449dc6574af9f655961d3\n"
	if err := os.WriteFile(filepath.Join(hostStore, "refs/heads/current"), []byte(lost), 0o644); err != nil {
		t.Fatal(err)
	}

	results := deploy.Check(context.Background(), nil, hosts, deploy.ConnectOptions{Dialer: fleet, Operator: "ann@laptop", Now: now, Parallel: 3})
	var b strings.Builder
	PrintCheckResults(&b, results, true)
	text := strings.Split(strings.TrimSpace(b.String()), "\n")
	var lines []string
	for _, r := range results {
		data, _ := json.Marshal(r)
		lines = append(lines, string(data))
	}
	for _, l := range append(text, lines...) {
		for _, h := range hosts {
			if n := strings.Count(l, h); n > 1 {
				t.Errorf("%s is named %d times in %q", h, n, l)
			}
		}
	}
	for _, h := range []string{"bravo", "charlie"} {
		if !regexp.MustCompile(`(?m)^` + h + ` +not checked: `).MatchString(b.String()) {
			t.Errorf("%s not reported as not checked:\n%s", h, b.String())
		}
	}
}
