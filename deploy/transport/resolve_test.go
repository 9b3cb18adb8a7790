package transport

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A host missing from the ssh config is a name that does not resolve; that
// is the error to see, not that no key was found to log in with.
func TestHostMissingFromConfigSaysItDoesNotResolve(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	cfg := filepath.Join(home, "ssh_config")
	if err := os.WriteFile(cfg, []byte("Host web1\n  HostName 198.18.1.2\n  IdentityFile "+filepath.Join(home, "nokey")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Dial(context.Background(), "uxwbe1.invalid", Options{ConfigFile: cfg, NoAgent: true})
	if err == nil || !strings.HasPrefix(err.Error(), "connect: the name does not resolve (") || strings.Contains(err.Error(), "uxwbe1") {
		t.Errorf("Dial of a host the config does not have: %v", err)
	}
}
