// Package ui is how a deploy looks on the operator's side while it runs
// and when it ends: live progress on a terminal, plain lines in a log, and
// the closing summary. It sits beside cmd/deptool, which picks a display
// for its output, and receives the deploy's events through
// deploy.Reporter, so the executor never knows how it is shown.
//
// A fleet larger than the terminal gets one aggregate line redrawn in
// place, with the failures printed above it as they happen: a display
// that redrew one line per host would scroll its own rows away and fill
// the scrollback with copies of them.
package ui
