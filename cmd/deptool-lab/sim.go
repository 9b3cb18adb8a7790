package main

import (
	"fmt"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/deptool/deptool/internal/simfleet"
)

func newSim() *cobra.Command {
	var (
		state, prefix, agent string
		n                    int
	)
	cmd := &cobra.Command{
		Use:   "sim --state DIR --hosts N [--prefix NAME] [--agent FILE]",
		Short: "Serve N simulated hosts over real SSH on loopback, until interrupted",
		Long: `Serve N simulated hosts in this one process, for measuring deptool at scale
without booting machines: each is an SSH server on its own port of 127.0.0.1
with its own ed25519 host key, and runs deptool's real agent on its own root
directory under DIR with a simulated systemd when deptool starts it. The
agent is uploaded on first contact, as to a real host; --agent FILE installs
FILE (a deptool binary) on every host first, as after a first deploy.

Writes DIR/ssh_config (with DIR/known_hosts and DIR/id_ed25519), so
DEPTOOL_SSH_CONFIG=DIR/ssh_config deptool deploy reaches the hosts, named
PREFIX00000 and on. Prints "ready" on stdout once every host listens. Needs
one file descriptor per host and two per connection: raise ulimit -n first.
No root needed.`,
		Example: `  deptool-lab sim --state /tmp/sim --hosts 1000 --agent bin/deptool &
  DEPTOOL_SSH_CONFIG=/tmp/sim/ssh_config deptool deploy --yes`,
		Args: usage(func(a []string) bool { return len(a) == 0 }),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 1 {
				return fmt.Errorf("--hosts %d: want at least 1", n)
			}
			var lim syscall.Rlimit
			if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(n)+256 {
				lim.Cur = min(lim.Max, uint64(3*n)+256)
				syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
			}
			start := time.Now()
			names := make([]string, n)
			for i := range names {
				names[i] = fmt.Sprintf("%s%05d", prefix, i)
			}
			f, err := simfleet.Start(state, names)
			if err != nil {
				return err
			}
			defer f.Close()
			if agent != "" {
				if _, err := f.Preinstall(agent); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "sim: %d hosts up in %.1fs; DEPTOOL_SSH_CONFIG=%s\n", n, time.Since(start).Seconds(), f.ConfigFile)
			fmt.Fprintln(cmd.OutOrStdout(), "ready")
			<-cmd.Context().Done()
			return nil
		},
	}
	stateFlag(cmd, &state)
	cmd.Flags().IntVar(&n, "hosts", 0, "how many hosts")
	cmd.Flags().StringVar(&prefix, "prefix", "h", "host names: PREFIX00000, PREFIX00001...")
	cmd.Flags().StringVar(&agent, "agent", "", "install this deptool binary as every host's agent first")
	return cmd
}
