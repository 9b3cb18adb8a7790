// Package deploy executes plans: it connects to every affected host over
// SSH (package transport), starts deptool's own agent there (package agent,
// spoken to through package wire), sends each host only its own objects,
// applies, and advances the store's refs for the hosts that succeeded.
//
// It never plans: plans come from package diff, computed offline.
package deploy
