// Package systemd is the agent's driver for systemd on its own host: it
// talks to PID 1 over the system bus (D-Bus, through go-systemd) to reload,
// enable and disable unit files, restart and stop units with their job
// results, and watch units settle after a restart.
//
// Nothing here runs systemctl: its exit status and text are a lossy view of
// what the bus reports directly (job results, NRestarts, Result), and the
// agent must tell a unit that came up from one that merely got a "done" job.
// Only JournalTail shells out, to journalctl, because it reads for display.
//
// # Settling
//
// A restart job returning "done" proves little: a Type=simple service is
// "active (running)" the moment it forks, and one that crashes 0.8 s later
// with Restart=on-failure is back in "activating (auto-restart)" a moment
// after that (see lab.md). Settle therefore polls each unit's properties at
// a short interval for the whole window and judges the unit on everything
// it saw, not on one sample.
//
// # Install links
//
// deptool links /etc/systemd/system/x.service to
// /var/lib/deptool/apps/<app>/current/systemd/x.service. systemd resolves
// that chain when it enables a unit and writes .wants links to the
// versioned checkout, which dangle once that checkout is garbage-collected.
// Enable repairs them; see FixInstallLinks.
package systemd
