// Package diff is deptool's planner. It models a config tree (hosts, apps,
// manifests), validates it before anything is committed, compares the tree
// an operator wants with the tree each host last accepted, and renders the
// result as a plan, a unified diff, a stat or a status table.
//
// It is pure: it reads the store and nothing else. Unchanged hosts and apps
// are recognised by their tree ids, so planning never opens what did not
// change.
package diff
