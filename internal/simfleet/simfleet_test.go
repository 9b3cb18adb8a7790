package simfleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy/transport"
	"github.com/deptool/deptool/deploy/wire"
)

// The operator's own SSH layer reaches a simulated host through the
// config the fleet wrote (host key checked against its known_hosts), and
// the host answers the start command and the upload as a host's shell
// would: no agent is exit 97 with the platform, an upload installs the
// agent whose hello then reports the uploaded build, anything else is 127.
func TestOperatorReachesASimulatedHostOverSSH(t *testing.T) {
	f, err := Start(t.TempDir(), []string{"h0", "h1"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := transport.Dial(ctx, "h1", transport.Options{ConfigFile: f.ConfigFile})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	var exit *transport.ExitError
	if _, err := conn.Run(ctx, "echo hi", nil); !errors.As(err, &exit) || exit.Status != 127 {
		t.Errorf("an unknown command: %v, want exit status 127", err)
	}

	blob := []byte("#!/bin/sh\n# not really deptool\n")
	build := buildOf(blob)
	path := wire.AgentPath(build)
	start := fmt.Sprintf(`true; [ -x %s ] || { uname -sm >&2; exit 97; }; exec %s agent`, path, path)
	if _, err := conn.Run(ctx, start, nil); !errors.As(err, &exit) || exit.Status != 97 || !strings.Contains(exit.Stderr, "Linux") {
		t.Errorf("start without the agent: %v, want exit 97 with uname", err)
	}

	proc, err := conn.UploadAndStart(ctx, path, transport.NewBlob(blob), 0o755, "true; exec "+path+" agent")
	if err != nil {
		t.Fatal(err)
	}
	client := wire.NewClient(proc.Stdout, proc.Stdin)
	hello, err := client.Hello(ctx, wire.HelloRequest{Version: wire.Version, Build: build, Host: "h1", Operator: "test"})
	if err != nil {
		t.Fatalf("hello after the upload: %v", err)
	}
	if hello.Build != build {
		t.Errorf("hello says build %q, uploaded %q", hello.Build, build)
	}
	proc.Close()
	got, err := os.ReadFile(filepath.Join(f.Root("h1"), path))
	if err != nil || string(got) != string(blob) {
		t.Errorf("the upload on h1's root: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(f.Root("h0"), path)); err == nil {
		t.Errorf("h0 has the agent uploaded to h1")
	}
}
