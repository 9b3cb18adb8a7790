package transport

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/internal/lab"
)

func TestLabKeepAliveNoticesAFrozenHost(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	opts := labOptions(l)
	// Apart by a second: on a loaded machine a live host can miss three
	// keepalives 100 ms apart before the first command answers.
	opts.KeepAlive, opts.KeepAliveMax = time.Second, 3
	c := dialLab(t, "web1", opts)
	// The shell's parent is the sshd process serving this connection:
	// stopped, it answers nothing, as a host that vanished without a FIN.
	out, err := c.Run(labCtx(t), "echo $PPID", nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(out))
	mustExec(t, l, "web1", "kill", "-STOP", pid)
	t.Cleanup(func() { l.Exec("web1", "kill", "-KILL", pid) })

	ctx, cancel := context.WithTimeout(labCtx(t), 20*time.Second)
	defer cancel()
	_, err = c.Run(ctx, "true", nil)
	want := "true: connection lost: no answer to 3 keepalives 1s apart"
	if err == nil || err.Error() != want {
		t.Fatalf("Run on a frozen connection:\n got %v\nwant %s", err, want)
	}
}
