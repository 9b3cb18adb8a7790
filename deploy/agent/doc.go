// Package agent is the deptool that runs on each host: it speaks the wire
// protocol on stdin and stdout, keeps the host's store, and executes the
// plans the operator sends. It never plans.
//
// Everything it touches lives under one root ("/" in production, a temp dir
// in tests):
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
// Checkouts are written to a temp name, synced and renamed, so a directory
// named after a tree is always complete; current and previous are relative
// links replaced by rename. Refs are loose Git refs written the same way.
//
// Manifest symlinks point at /var/lib/deptool/apps/<app>/current/<file>, so
// switching current switches every link of the app at once.
package agent
