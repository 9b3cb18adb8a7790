// Package agent is the deptool that runs on each host: it speaks the wire
// protocol on stdin and stdout, keeps the host's store, and executes the
// plans the operator sends. It never plans.
//
// Everything it touches lives under one root ("/" in production, a temp dir
// in tests); the paths are package diff/layout's table:
//
//	/etc/hostname                       checked against the hello
//	/var/lib/deptool/lock               flock'd by the agent; holds its Holder
//	/var/lib/deptool/store/             bare Git store, this host's commits only;
//	                                    refs/heads/current (last good),
//	                                    refs/heads/target (last attempted)
//	/var/lib/deptool/apps/<app>/<tree>  one checkout per app tree id
//	/var/lib/deptool/apps/<app>/current -> <tree>
//	/var/lib/deptool/apps/<app>/previous -> <tree>
//	/var/lib/deptool/apps/<app>/.tmp-*  checkouts being written (or left by a crash)
//	/var/lib/deptool/apps/.removed-<app> a removed app until the apply succeeds
//	/var/lib/deptool/adopted/<path>     host files replaced by identical links
//	/var/lib/deptool/attempt.json       what the last apply did (Attempt)
//	/var/lib/deptool/journal.jsonl      one line per apply
//
// Checkouts are written to a temp name (mode 0700 until the end), synced
// and renamed, so a directory named after a tree is always complete. Files
// get the modes and owners of the manifest's "files" and secrets (NAME.age)
// are decrypted into NAME with the host's SSH key, all worked out before
// anything changes (files.go); current and previous are relative
// links replaced by rename. Refs are loose Git refs written the same way.
//
// A secret's plaintext never leaves the host in what the agent says: a
// validate command or a unit may print it, and what the agent sends ends
// in the store's notes and a team's remote for good. The session's
// secret.Redactor learns each plaintext as it is decrypted (or read from
// a checkout the apply runs), and every message sent (wire.Conn.Filter)
// and journal line written passes through it: one choke point, not a
// scrub at each place output is gathered.
//
// Manifest symlinks point at /var/lib/deptool/apps/<app>/current/<file>, so
// switching current switches every link of the app at once. So do the
// links of an app's special directories:
//
//	/etc/systemd/system/<unit>          -> .../current/systemd/<unit>
//	/etc/systemd/system/<unit>.d/<f>    -> .../current/systemd/<unit>.d/<f>
//	                                    (file by file: unmanaged drop-ins stay)
//	/etc/sysusers.d/<f>.conf            -> .../current/sysusers/<f>.conf
//	/etc/containers/systemd/<quadlet>   -> .../current/quadlets/<quadlet>
//
// # Apply
//
// An apply runs the plan's phases (wire.Plan) across all apps: checkouts;
// manifest symlinks; sysusers links and systemd-sysusers; stop, then
// disable units; unlink, then link units, drop-ins and quadlets; removed
// apps moved aside; daemon-reload; enable, then restart units; then the
// restarted units settle for the request's window (0: checked once); then
// the health checks of the added and updated apps run, in parallel, each
// retried until it passes or its timeout runs out. Every change is recorded in
// attempt.json before it is made; checks change nothing.
//
// In the code each phase is a step type that owns its state and is given
// the rest (env: the host's paths and store, the plan, systemd, the
// attempt's effect log, progress and the results): putBack (reconcile,
// reestablish), fileStep (checkouts, modes and owners, removals), linkStep,
// validateStep, unitStep (the forward unit changes), settle, confirmStep
// and checkStep. results collects what the Result reports; unitRollback
// undoes an attempt, for a rollback and a repair. applier runs the steps
// in order and turns their outcome into a Result; a new step is a type
// holding *env and its own fields, called from applier.execute.
//
// systemd is reached through the units interface: the D-Bus driver of
// package systemd at root "/", nothing elsewhere (an apply that needs
// systemd then fails before changing anything), a recorder in local tests.
//
// # Rollback
//
// When a step fails, a unit does not settle or a health check does not
// pass, and the plan asks for rollback, the agent undoes the attempt
// before answering: units the old commit does not run are stopped (and
// disabled if the attempt enabled them), the files go back (Undo), systemd
// reloads, units the attempt disabled are enabled again, and every unit it
// touched that the old commit runs restarts and settles (the old commit's
// checks are not run: it is what ran before). The outcome is "rolled back", or
// "rollback failed", and the journal line says so with the reason; current
// stays on the old commit, target names the one attempted. Without
// rollback the outcome is failed and the host stays as the failure left
// it, for the next apply to undo first (repair), units included.
//
// A repair goes on when units of the version before do not come back
// (they are reported as a warning): a host whose rollback failed is
// brought to a working version by the next apply. Every apply first points
// each app's current link at the checkout of the host store's current
// commit (reconcile): the refs are the record, not links someone changed.
//
// # Bounds
//
// The agent waits for the operator at most IdleTimeout (idle.go) before an
// apply starts, then gives up and releases the lock; its output goes
// through a queue that a stalled connection cannot block, so an apply
// always finishes. Each systemd call has the request's unit timeout as its
// deadline; a job without a result by then is killed (systemd.ErrJobTimeout)
// and counts as failed, on the way back as well as forward.
//
// # Links it did not make
//
// As root, the agent never follows a symlink it did not make: host paths
// are reached directory by directory from / with O_NOFOLLOW and changed
// with the *at calls (fsutil.go); temp names are random. Its state
// directory must be root's alone (checkStateDir).
//
// Left to do: systemd-sysusers is not undone (users it created stay); a
// drop-in directory emptied by unlinks stays.
package agent
