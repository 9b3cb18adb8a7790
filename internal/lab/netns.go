package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const netnsDir = "/run/netns"

// setupNetwork gives host h its own network namespace, joined to the
// machine by a veth pair: VETH (machine side) and eth0 inside. The veth is
// created with its peer already in the namespace, so deleting the
// namespace takes both ends with it.
func setupNetwork(ctx context.Context, h *hostState) error {
	machine, host := addrs(h.Index)
	steps := [][]string{
		{"netns", "add", h.Netns},
		{"link", "add", h.Veth, "type", "veth", "peer", "name", "eth0", "netns", h.Netns},
		{"addr", "add", machine.String() + "/30", "dev", h.Veth},
		{"link", "set", h.Veth, "up"},
		{"-n", h.Netns, "addr", "add", host.String() + "/30", "dev", "eth0"},
		{"-n", h.Netns, "link", "set", "eth0", "up"},
		{"-n", h.Netns, "link", "set", "lo", "up"},
	}
	for _, args := range steps {
		if err := run(ctx, "ip", args...); err != nil {
			return fmt.Errorf("network: %w", err)
		}
	}
	return nil
}

// teardownNetwork deletes what setupNetwork made; missing pieces are fine.
func teardownNetwork(ctx context.Context, h *hostState) error {
	var errs []error
	if h.Netns != "" {
		if _, err := os.Stat(filepath.Join(netnsDir, h.Netns)); err == nil {
			if err := run(ctx, "ip", "netns", "delete", h.Netns); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// The veth normally vanishes with the namespace; it survives only when
	// the namespace was never made or its peer never moved.
	if h.Veth != "" && linkExists(h.Veth) {
		if err := run(ctx, "ip", "link", "delete", h.Veth); err != nil && linkExists(h.Veth) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// run runs a command and turns a failure into an error carrying its output.
func run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%s %s: %s", name, strings.Join(args, " "), msg)
	}
	return nil
}
