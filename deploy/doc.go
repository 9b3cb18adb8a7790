// Package deploy executes plans: it connects to every affected host over
// SSH (package transport), starts deptool's own agent there (package agent,
// spoken to through package wire), sends each host only its own objects,
// applies, and advances the store's refs for the hosts that succeeded.
//
// It owns the operator's transaction (Transaction, for deploy, rollback,
// repair, sync and pin): the store's deploy lock, the exchange of records
// with the team's remote (its SSH login passed to the store, RemoteSSH),
// the plan, committing the tree, running the hosts stage by stage, moving
// refs, recording each host's outcome as a note, and ranking the outcomes
// into the exit status; and the history those notes make (History,
// DeployedVersions, Status, RollbackTo). Commands that only read from
// hosts (Check, Ping, RemoteLog) take ConnectOptions and no transaction.
// Its errors never name the host: HostResult does, once. The CLI only
// wires flags to these and prints what they return.
//
// It never plans: plans come from package diff, computed offline.
package deploy
