// Command deptool-lab boots and stops lab hosts: real systemd machines on
// this machine, for deptool's end-to-end tests, the demo and benchmarks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/deptool/deptool/internal/lab"
)

// exitErr carries an exit status to main without printing anything more.
type exitErr struct{ code int }

func (e exitErr) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRoot().ExecuteContext(ctx)
	var ee exitErr
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, message(err))
		os.Exit(1)
	}
}

// message prefixes errors that do not already say where they come from.
func message(err error) string {
	if msg := err.Error(); strings.HasPrefix(msg, "lab: ") {
		return msg
	}
	return "deptool-lab: " + err.Error()
}

// usage rejects a command line that does not fit the command's use line.
func usage(ok func(args []string) bool) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if !ok(args) {
			return fmt.Errorf("usage: deptool-lab %s (see --help)", cmd.Use)
		}
		return nil
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "deptool-lab",
		Short: "Boot and stop lab hosts: systemd machines in namespaces on this machine",
		Long: `deptool-lab boots lab hosts: this machine's own root under a throwaway
overlay, booted by systemd-nspawn with systemd as PID 1, each in its own
network namespace at 198.18.I.2 with sshd listening. Everything it creates is
recorded in a state directory, so 'down' removes it all, even after a crash.

Needs root and the packages 'just lab-deps' installs.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newUp(), newDown(), newExec())
	root.AddCommand(faultCommands()...)
	root.AddCommand(newLimitDisk(), newUnlimitDisk(), newBuildRoot(), newSim())
	for _, c := range root.Commands() {
		c.DisableFlagsInUseLine = true
	}
	return root
}

func newUp() *cobra.Command {
	var state, release string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "up --state DIR [--release RELEASE] NAME[@RELEASE]...",
		Short: "Boot hosts and wait until each runs with no failed unit",
		Long: `Boot the named hosts in parallel and return once each one's systemd reports
'running' with no failed unit. Writes DIR/ssh_config (and known_hosts and the
lab's client key), so 'ssh -F DIR/ssh_config NAME' works. A host that does not
come up tears down every host this command started.

Hosts boot this machine's own root, or with --release (or NAME@RELEASE, for
one host) a Debian release's: bullseye, bookworm or trixie (or 11, 12, 13).
A release's root is built once with mmdebstrap (about a minute) and cached
in ` + lab.RootCache + `; one lab may mix releases.`,
		Example: `  deptool-lab up --state .lab web1 web2 db1
  deptool-lab up --state .lab --release trixie trx1 old1@bullseye web1@12
  ssh -F .lab/ssh_config web1 systemctl status
  DEPTOOL_SSH_CONFIG=.lab/ssh_config deptool ping`,
		Args: usage(func(a []string) bool { return len(a) > 0 }),
		RunE: func(cmd *cobra.Command, names []string) error {
			start := time.Now()
			_, err := lab.Up(cmd.Context(), lab.Options{StateDir: state, BootTimeout: timeout, Progress: cmd.ErrOrStderr(), Release: release}, names...)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "lab: %d hosts up in %.1fs; ssh -F %s/ssh_config NAME\n", len(names), time.Since(start).Seconds(), state)
			return nil
		},
	}
	stateFlag(cmd, &state)
	cmd.Flags().DurationVar(&timeout, "timeout", lab.DefaultBootTimeout, "how long each host may take to boot")
	cmd.Flags().StringVar(&release, "release", "", "Debian release of the hosts whose name has no @RELEASE (default: this machine's own root)")
	return cmd
}

func newDown() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "down --state DIR",
		Short: "Stop every host of a lab and remove all it made",
		Long: `Stop every host recorded in DIR and remove everything 'up' created: processes,
mounts, network namespaces, veths, cgroups and the files in DIR. Safe to run
twice, on a lab left by a crashed run, or on a directory that does not exist.`,
		Example: `  deptool-lab down --state .lab`,
		Args:    usage(func(a []string) bool { return len(a) == 0 }),
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Teardown must finish even if the user presses ^C again.
			ctx := context.WithoutCancel(cmd.Context())
			return lab.Down(ctx, state)
		},
	}
	stateFlag(cmd, &state)
	return cmd
}

func newExec() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "exec --state DIR NAME -- CMD...",
		Short: "Run a command on a lab host, passing its exit status through",
		Long: `Run CMD on host NAME as root over SSH. The arguments reach the host as the
exact argv given (each is quoted for the remote shell); for a pipeline, run
'sh -c'. Exits with the command's exit status, or 255 if it could not run.`,
		Example: `  deptool-lab exec --state .lab web1 -- systemctl is-system-running
  deptool-lab exec --state .lab db1 -- sh -c 'journalctl -b | tail'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 || cmd.ArgsLenAtDash() != 1 {
				return execFailed(cmd, fmt.Errorf("usage: deptool-lab %s (see --help)", cmd.Use))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := lab.Open(state)
			if err != nil {
				return execFailed(cmd, err)
			}
			code, err := l.Run(cmd.Context(), args[0], args[1:], cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return execFailed(cmd, err)
			}
			if code != 0 {
				return exitErr{code}
			}
			return nil
		},
	}
	stateFlag(cmd, &state)
	return cmd
}

// faultCommands are the faults that take only host names: each applies
// to every named host in turn and stops at the first that fails.
func faultCommands() []*cobra.Command {
	type fault struct {
		use, short, long, example string
		do                        func(ctx context.Context, l *lab.Lab, name string) error
	}
	faults := []fault{
		{"cut", "Take hosts' network links down",
			`Take each host's link down (the machine side of its veth). Connections to it
fail at once with "no route to host" (the lab keeps 198.18.0.0/15
unreachable, so nothing goes out through the default gateway); connections
already open hang until they time out. 'restore' undoes it.`,
			"  deptool-lab cut --state .lab web1\n  deptool-lab restore --state .lab web1",
			func(_ context.Context, l *lab.Lab, n string) error { return l.Cut(n) }},
		{"restore", "Bring cut hosts' network links back up",
			"Bring each host's link back up after 'cut'; open connections that have not\ntimed out carry on.",
			"  deptool-lab restore --state .lab web1",
			func(_ context.Context, l *lab.Lab, n string) error { return l.Restore(n) }},
		{"freeze", "Freeze every process of hosts (cgroup freezer)",
			`Freeze every process of each host with the cgroup v2 freezer, as a host that
hangs: TCP connections are still accepted by its kernel, but nothing answers.
'thaw' lets it run on.`,
			"  deptool-lab freeze --state .lab web1\n  deptool-lab thaw --state .lab web1",
			func(_ context.Context, l *lab.Lab, n string) error { return l.Freeze(n) }},
		{"thaw", "Let frozen hosts run on",
			"Thaw each host frozen by 'freeze'.",
			"  deptool-lab thaw --state .lab web1",
			func(_ context.Context, l *lab.Lab, n string) error { return l.Thaw(n) }},
		{"stop", "Kill every process of hosts, keeping their root",
			`Kill every process of each host at once, as a power cut: its root
filesystem, host key, address and network stay, so 'start' boots the same
host again. A stopped host refuses connections.`,
			"  deptool-lab stop --state .lab web1\n  deptool-lab start --state .lab web1",
			func(_ context.Context, l *lab.Lab, n string) error { return l.Stop(n) }},
		{"start", "Boot stopped hosts again",
			`Boot each host stopped by 'stop' again, from the same root, with the same host
key and address, and wait until it runs with no failed unit.`,
			"  deptool-lab start --state .lab web1",
			func(ctx context.Context, l *lab.Lab, n string) error { return l.Start(ctx, n) }},
	}
	var cmds []*cobra.Command
	for _, f := range faults {
		var state string
		cmd := &cobra.Command{
			Use:     f.use + " --state DIR NAME...",
			Short:   f.short,
			Long:    f.long,
			Example: f.example,
			Args:    usage(func(a []string) bool { return len(a) > 0 }),
			RunE: func(cmd *cobra.Command, names []string) error {
				l, err := lab.Open(state)
				if err != nil {
					return err
				}
				for _, n := range names {
					if err := f.do(cmd.Context(), l, n); err != nil {
						return err
					}
				}
				return nil
			},
		}
		stateFlag(cmd, &state)
		cmds = append(cmds, cmd)
	}
	return cmds
}

func newLimitDisk() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "limit-disk --state DIR NAME PATH SIZE",
		Short: "Put a small tmpfs over a directory of a host, to fill its disk",
		Long: `Mount a tmpfs of SIZE (as tmpfs takes it: 512k, 1m, 2g) over PATH inside host
NAME, with PATH's current contents copied in, so writing past SIZE fails with
"No space left on device". 'unlimit-disk' undoes it and keeps what was
written; so does 'stop' (the limit is lost with the host's processes).`,
		Example: `  deptool-lab limit-disk --state .lab web1 /var/lib/deptool 2m
  deptool-lab unlimit-disk --state .lab web1 /var/lib/deptool`,
		Args: usage(func(a []string) bool { return len(a) == 3 }),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := lab.Open(state)
			if err != nil {
				return err
			}
			return l.LimitDisk(args[0], args[1], args[2])
		},
	}
	stateFlag(cmd, &state)
	return cmd
}

func newUnlimitDisk() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "unlimit-disk --state DIR NAME PATH",
		Short: "Remove a disk limit, keeping what was written",
		Long: `Remove the tmpfs 'limit-disk' put over PATH inside host NAME. What was
written to it is copied back to the host's root first, so the host sees the
same files, with room again.`,
		Example: `  deptool-lab unlimit-disk --state .lab web1 /var/lib/deptool`,
		Args:    usage(func(a []string) bool { return len(a) == 2 }),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := lab.Open(state)
			if err != nil {
				return err
			}
			return l.UnlimitDisk(args[0], args[1])
		},
	}
	stateFlag(cmd, &state)
	return cmd
}

func newBuildRoot() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "build-root RELEASE...",
		Short: "Build (or find in the cache) the root of Debian releases for lab hosts",
		Long: `Build the root filesystem hosts of RELEASE boot (bullseye, bookworm, trixie,
or 11, 12, 13) with mmdebstrap, unless the cache in ` + lab.RootCache + `
already has one for the current package list, and print its directory. 'up'
builds missing roots itself; this command does it ahead of time, e.g. in CI
before tests that must not spend their time limit on it.`,
		Example: `  deptool-lab build-root bullseye bookworm trixie`,
		Args:    usage(func(a []string) bool { return len(a) > 0 }),
		RunE: func(cmd *cobra.Command, releases []string) error {
			// In parallel: a build mostly waits for the mirror and dpkg,
			// so three take little longer than one. mmdebstrap's output
			// is shown only for a single build, where it is readable.
			var progress io.Writer
			if len(releases) == 1 {
				progress = cmd.ErrOrStderr()
			}
			dirs := make([]string, len(releases))
			errs := make([]error, len(releases))
			var mu sync.Mutex
			var wg sync.WaitGroup
			for i, r := range releases {
				wg.Go(func() {
					start := time.Now()
					dirs[i], errs[i] = lab.BuildRoot(cmd.Context(), r, progress)
					if errs[i] == nil {
						mu.Lock()
						fmt.Fprintf(cmd.ErrOrStderr(), "lab: %s root ready (%.0fs)\n", r, time.Since(start).Seconds())
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				return err
			}
			for _, d := range dirs {
				fmt.Fprintln(cmd.OutOrStdout(), d)
			}
			return nil
		},
	}
	return cmd
}

// execFailed reports a command that never ran with 255, as ssh does, so it
// is not mistaken for the remote command's own status.
func execFailed(cmd *cobra.Command, err error) error {
	fmt.Fprintln(cmd.ErrOrStderr(), message(err))
	return exitErr{255}
}

func stateFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "state", "", "the lab's state directory (required)")
	cmd.MarkFlagRequired("state")
}
