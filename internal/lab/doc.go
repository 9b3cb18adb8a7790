// Package lab boots real test hosts on this machine: each one is the
// machine's own root filesystem under a throwaway overlay, booted by
// systemd-nspawn with systemd as PID 1, D-Bus and sshd, in its own network
// namespace. It is the library behind cmd/deptool-lab and deptool's
// end-to-end tests. docs/development.md says how to run it and records
// why each step is done the way it is.
//
// # Hosts
//
// Host NAME with machine-wide index I gets:
//   - the address 198.18.I.2/30 on eth0 in its own network namespace,
//     joined by the veth labvI (198.18.I.1) to the machine (I > 255 uses
//     198.19.(I-255).x);
//   - an overlay of / with upper and work directories on tmpfs under
//     /dev/shm/deptool-lab-ID;
//   - its own cgroup (deptool-lab-ID-NAME) in each systemd-relevant
//     hierarchy, entered before nspawn starts;
//   - /etc/hostname NAME, a fresh machine ID, a fresh ed25519 host key and
//     the lab's client key in /root/.ssh/authorized_keys;
//   - the units in disabledUnits not started at boot (see rootfs.go).
//
// ID is a short random lab ID: network namespaces, nspawn machine names and
// cgroups carry it, so any number of labs (several test binaries, plus a
// developer's `just lab-up`) run side by side. Indexes are allocated through
// slot files under /run/deptool-lab.
//
// # State
//
// Everything a lab creates is recorded in its state directory (state.json)
// before it is created: PIDs (with start times, so a reused PID is never
// killed), mounts, namespaces, veths, cgroups and indexes. Down works from
// that record alone, so it is complete after a crash of the caller, can be
// repeated, and kills only processes the lab started. The directory also
// holds ssh_config, known_hosts and id_ed25519 for `ssh -F DIR/ssh_config NAME`.
//
// # Releases
//
// A host boots this machine's root, or with NAME@RELEASE (Options.Release,
// DEPTOOL_LAB_RELEASE in tests) a Debian release's root, built once with
// mmdebstrap and cached under RootCache (release.go); the rest of a host's
// setup is the same for both.
//
// # Faults
//
// Cut/Restore (the host's link), Freeze/Thaw (cgroup v2 freezer), Stop/Start
// (kill every process, boot the same root again) and LimitDisk/UnlimitDisk
// (a small tmpfs over a path) break one host for tests; faults.go. While a
// lab is up the machine keeps `unreachable 198.18.0.0/15`, so a cut host's
// address is never routed out through the default gateway.
//
// # Tests
//
// Test packages call Main from TestMain and Start in tests:
//
//	func TestMain(m *testing.M) { lab.Main(m) }
//
//	func TestDeploy(t *testing.T) {
//		l := lab.Start(t, "web1", "web2")
//		out, err := l.Exec("web1", "systemctl", "is-active", "nginx")
//		...	// or DEPTOOL_SSH_CONFIG=l.SSHConfig()
//	}
//
// Start boots a lab once per test binary for each set of names and shares
// it between tests; Main tears all of them down after the last test (and on
// SIGINT/SIGTERM). Tests that damage hosts use StartFresh, which boots a
// private lab torn down by t.Cleanup. Without Main, Start behaves like
// StartFresh. A lab left behind by a test binary that was killed is swept
// by the next test binary that starts a lab.
//
// When the lab cannot start (not root, systemd-nspawn missing, a boot
// failure), Start skips the test with one line saying why; with
// DEPTOOL_REQUIRE_LAB=1 (set by `just test` and CI) it fails the test
// instead.
package lab
