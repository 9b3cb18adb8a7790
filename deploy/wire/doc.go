// Package wire is the protocol between the operator's deptool and the agent
// it starts on each host: framed messages over the agent's stdin and stdout.
//
// A frame is a 4-byte big-endian payload length, a kind byte, then the
// payload. A message frame holds one JSON object {"type": ..., "body": ...};
// data frames carry a byte stream (a Git pack) in chunks, closed by an end
// frame. The operator drives the agent through Client; the agent uses Conn.
//
// Requests and their answers:
//
//	hello   -> hello_ok
//	lock    -> locked
//	objects, data..., end -> objects_ok
//	apply   -> progress..., [await_confirm, progress...] -> result
//	confirm -> confirmed  (from a new connection, while an apply awaits)
//	journal -> journal_ok
//	fetch   -> fetch_ok, data..., end
//	ping    -> pong
//	bye     -> bye_ok, then the agent exits
//
// The apply request carries Plan, the plan as the agent carries it out:
// package deploy makes it from the planner's, whose JSON (--output json)
// is a format of its own.
//
// Messages name no host: the operator knows which host a session is with,
// and says so once, where it reports on each host. Outcomes are spelled as
// package deploy spells them; deploy converts these types to its own.
//
// Any request may be answered by an error message instead (see AgentError).
package wire
