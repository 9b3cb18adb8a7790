// Package ui is everything deptool shows: the plan, the diff and its stat,
// status, check and repair, log, ping and sync, and a deploy while it runs
// (live progress on a terminal, plain lines in a log) and when it ends (the
// summary). Each is text for a person or JSON events for a program
// (--output json, docs/json.md) behind one Printer, so the two cannot say
// different things. cmd/deptool hands it results; diff and deploy return
// data and print nothing, and the deploy's events reach it through
// deploy.Reporter, so the executor never knows how it is shown.
//
// A fleet larger than the terminal gets one aggregate line redrawn in
// place, with the failures printed above it as they happen: a display
// that redrew one line per host would scroll its own rows away and fill
// the scrollback with copies of them.
package ui
