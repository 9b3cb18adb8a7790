package wire

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/deptool/deptool/store"
)

// Ids in messages are store.IDs, which travel as hex, so a captured
// session reads like git output.

// Type names a message on the wire. Each message spells its own, once, in
// its Type method; the registry below lists the messages.
type Type string

// Message is anything that travels in a message frame.
type Message interface{ Type() Type }

// HelloRequest opens a session. Host is the host's name in the config tree;
// the agent refuses to work when /etc/hostname says otherwise.
type HelloRequest struct {
	Version  string `json:"version"`
	Build    string `json:"build"`
	Host     string `json:"host"`
	Operator string `json:"operator"`
}

// HelloReply is the agent's identity and the host's refs.
type HelloReply struct {
	Version  string `json:"version"`
	Build    string `json:"build"`
	Hostname string `json:"hostname"`
	// Current is the last host commit applied successfully, Target the
	// last one attempted; zero when there is none. They differ after a
	// failed or interrupted apply.
	Current store.ID `json:"current,omitzero"`
	Target  store.ID `json:"target,omitzero"`
}

// LockRequest takes the host's deploy lock. Base is the host commit the
// operator believes is deployed (zero for a host never deployed).
type LockRequest struct {
	Base     store.ID `json:"base,omitzero"`
	Operator string   `json:"operator"`
}

// LockReply confirms the lock is held until bye or the end of the session.
type LockReply struct{}

// ObjectsRequest announces a Git pack in data frames. Want are the commits
// the host must hold whole once the pack is stored: the one to apply and
// the one it runs, which a rollback goes back to.
type ObjectsRequest struct {
	Want []store.ID `json:"want,omitempty"`
}

// ObjectsReply confirms the pack is stored on the host. Missing, when set,
// is an object of a wanted commit the host still lacks: its store lost
// objects it should have, and needs a pack made without haves.
type ObjectsReply struct {
	Missing store.ID `json:"missing,omitzero"`
}

// ApplyRequest applies a host commit that is already in the host's store.
type ApplyRequest struct {
	Commit   store.ID `json:"commit"`
	Deploy   store.ID `json:"deploy,omitzero"`
	Operator string   `json:"operator"`
	Plan     Plan     `json:"plan"`
	// Settle is how long the agent watches restarted units before judging
	// them. The operator picks the default (2 s); 0 checks once, at once.
	Settle time.Duration `json:"settle,omitempty"`
	// Keep is how many checkouts per app the agent keeps after a
	// successful apply besides current and previous; 0 means the agent's
	// default (5).
	Keep int `json:"keep,omitempty"`
	// ConfirmTimeout, when set, makes the agent hold a successful apply
	// open until a confirm request with the token of its AwaitConfirm
	// arrives over a new connection, and roll back by itself when none
	// comes in time: a deploy that breaks logins undoes itself.
	ConfirmTimeout time.Duration `json:"confirm_timeout,omitempty"`
	// UnitTimeout bounds each systemd job of the apply and its rollback;
	// a unit whose job has no result by then counts as failed and its
	// processes are killed. 0 means DefaultUnitTimeout.
	UnitTimeout time.Duration `json:"unit_timeout,omitempty"`
	// ValidateTimeout bounds each of the plan's validation commands; 0
	// means the agent's default (30 s).
	ValidateTimeout time.Duration `json:"validate_timeout,omitempty"`
	// Signed, when set, proves that an operator signed the host commit's
	// tree (see Signed); the agent checks it against the keys allowed to
	// deploy to the host. RequireSigned makes a host that has not yet
	// seen a signed deploy refuse an unsigned one (the store's
	// deptool.requireSignatures); one that has refuses them anyway.
	Signed        *Signed `json:"signed,omitempty"`
	RequireSigned bool    `json:"require_signed,omitempty"`
}

// Signed is what a host needs to check a deploy's signature without
// learning other hosts' configuration: the signed deploy commit's raw
// object, and the raw trees (Git's tree content, without its header) that
// lead from it to the host's entry, which must be the host commit's tree.
// A commit whose message names a host index (store.HostsIn) is proved by
// the index's root and the host's bucket: a few kB, naming the hosts that
// share the bucket. One signed before the index existed is proved by its
// root tree, which names every host. Trees name hosts and tree ids, never
// their content.
type Signed struct {
	Commit []byte `json:"commit"`
	Root   []byte `json:"root,omitempty"`
	Index  []byte `json:"index,omitempty"`
	Bucket []byte `json:"bucket,omitempty"`
}

// DefaultUnitTimeout is the bound on one systemd job when the apply
// request names none (see deploy.DefaultUnitTimeout for why this long).
const DefaultUnitTimeout = 2 * time.Minute

// Progress reports one step of an apply as it happens.
type Progress struct {
	Step   string `json:"step"`
	App    string `json:"app,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// AwaitConfirm says every change of the apply is made and the host now
// waits until Deadline for a ConfirmRequest with Token over a new
// connection; without one it rolls back by itself.
type AwaitConfirm struct {
	Token    string    `json:"token"`
	Deadline time.Time `json:"deadline"`
}

// Outcome is how an apply ended, as the journal records it. Package deploy
// uses this type and adds the outcomes only the operator sees
// (unreachable, busy...), so the host journal, the store's notes and every
// output say an outcome the same way.
type Outcome string

// Outcomes.
const (
	Deployed Outcome = "deployed"
	// Failed: the apply stopped at an error and the host was left as it
	// was then (no rollback asked for, or nothing changed yet). The next
	// apply undoes what it did first.
	Failed Outcome = "failed"
	// RolledBack: the apply failed and the agent put the host back on the
	// commit it ran before (current), restarting the units it touched.
	RolledBack Outcome = "rolled back"
	// RollbackFailed: the apply failed and so did putting it back; the
	// next apply tries the undo again first.
	RollbackFailed Outcome = "rollback failed"
)

// UnmarshalText reads an outcome, including the spellings journals written
// before deptool 0.2 used ("rolled_back", "rollback_failed").
func (o *Outcome) UnmarshalText(b []byte) error {
	switch s := string(b); s {
	case "rolled_back":
		*o = RolledBack
	case "rollback_failed":
		*o = RollbackFailed
	default:
		*o = Outcome(s)
	}
	return nil
}

// Result ends an apply. A failed apply is a Result with Outcome Failed,
// RolledBack or RollbackFailed, not a protocol error: the host is
// consistent and says what happened.
type Result struct {
	Outcome Outcome `json:"outcome"`
	// Failure is why the apply failed (for RolledBack, why it was rolled
	// back); nil for Deployed.
	Failure *Failure `json:"error,omitempty"`
	// RollbackFailure is why the rollback failed, for RollbackFailed.
	RollbackFailure *Failure `json:"rollback_error,omitempty"`
	// Current and Target are the host's refs after the apply. After a
	// rollback, current is still the commit the host ran before and
	// target the commit attempted.
	Current store.ID `json:"current,omitzero"`
	Target  store.ID `json:"target,omitzero"`
	// Units are the units the apply restarted and then watched, and after
	// a rollback those the rollback restarted (AfterRollback), with their
	// states; a failed unit carries its last journal lines.
	Units []UnitReport `json:"units,omitempty"`
	// Checks are the health checks the apply ran after the units settled,
	// passed or failed.
	Checks []CheckReport `json:"checks,omitempty"`
	// Validation are the validation commands the apply ran, in order; a
	// failed one ends the list, and the apply.
	Validation []ValidationReport `json:"validation,omitempty"`
	// Freed is how many bytes garbage collection freed after a successful
	// apply: old checkouts and old agent binaries.
	Freed int64 `json:"freed,omitempty"`
}

// ValidationReport is how one of an app's validation commands ended.
type ValidationReport struct {
	App     string   `json:"app"`
	Command []string `json:"command"`
	OK      bool     `json:"ok"`
	Error   string   `json:"error,omitempty"` // why not OK, such as "exit status 1"
	// Output is what the command wrote to stdout and stderr (its end, if
	// long).
	Output string `json:"output,omitempty"`
}

// UnitReport is how one unit was doing when the agent judged it.
type UnitReport struct {
	Unit    string    `json:"unit"`
	State   string    `json:"state,omitempty"` // e.g. "active (running)"
	Since   time.Time `json:"since,omitzero"`
	MainPID uint32    `json:"main_pid,omitempty"`
	Failed  bool      `json:"failed,omitempty"`
	Reason  string    `json:"reason,omitempty"` // why Failed
	// Journal is the unit's last journal lines, for a failed unit.
	Journal []string `json:"journal,omitempty"`
	// AfterRollback marks a unit as seen after the rollback restarted it.
	AfterRollback bool `json:"after_rollback,omitempty"`
}

// CheckReport is how one health check ended.
type CheckReport struct {
	App   string `json:"app"`
	Check string `json:"check"` // as Check.String shows it
	OK    bool   `json:"ok"`
	// Error is the last attempt's error, for a check that never passed.
	Error    string        `json:"error,omitempty"`
	Attempts int           `json:"attempts"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// Err returns the failure as an error, or nil when the apply succeeded.
func (r Result) Err() error {
	if r.Outcome == Deployed {
		return nil
	}
	return &ApplyError{Failure: r.Failure, Rollback: r.RollbackFailure}
}

// Message is the failure as one line, as the journal and the operator say
// it: why the apply failed, then "; rollback: " and why the rollback did;
// empty when the apply succeeded.
func (r Result) Message() string {
	if err := r.Err(); err != nil {
		return err.Error()
	}
	return ""
}

// ApplyError is an apply that failed on the host. errors.As finds its
// Failure, whose Code says what failed.
type ApplyError struct {
	Failure  *Failure
	Rollback *Failure // nil unless the rollback failed too
}

func (e *ApplyError) Error() string {
	msg := e.Failure.Text()
	if e.Rollback != nil && (e.Failure == nil || e.Failure.Code != FailText) {
		msg += "; rollback: " + e.Rollback.Message
	}
	return msg
}

func (e *ApplyError) Unwrap() error {
	if e.Failure == nil {
		return nil
	}
	return e.Failure
}

// FetchRequest asks for the host's current commit and everything
// reachable from it.
type FetchRequest struct{}

// FetchReply names the commit whose pack follows in data frames. A host
// never deployed answers with a zero commit and an empty stream.
type FetchReply struct {
	Current store.ID `json:"current,omitzero"`
}

// Ping asks for a Pong with the same Seq.
type Ping struct {
	Seq int `json:"seq"`
}

// Pong answers a Ping.
type Pong struct {
	Seq int `json:"seq"`
}

// Bye ends the session: the agent releases the lock and exits.
type Bye struct{}

// ByeReply confirms the lock is released.
type ByeReply struct{}

// JournalRequest asks for the host's journal of applies, newest first, at
// most Limit entries (0: all). It needs a hello but not the lock.
type JournalRequest struct {
	Limit int `json:"limit,omitempty"`
}

// JournalReply holds the host's journal entries, newest first.
type JournalReply struct {
	Entries []JournalEntry `json:"entries"`
	// Warnings name lines of the journal that could not be read (a line
	// cut short by a crash or a full disk), which Entries leave out.
	Warnings []string `json:"warnings,omitempty"`
}

// JournalEntry is one apply on a host, as the host's journal records it,
// whichever store it came from. The journal on disk is the agent's own
// type (agent.JournalEntry), with the same fields.
type JournalEntry struct {
	Time     time.Time `json:"time"`
	Operator string    `json:"operator"`
	Deploy   store.ID  `json:"deploy"`
	From     store.ID  `json:"from"`
	To       store.ID  `json:"to"`
	Outcome  Outcome   `json:"outcome"`
	// Error is why the apply failed or was rolled back.
	Error string `json:"error,omitempty"`
	// RollbackError is why the rollback failed too.
	RollbackError string `json:"rollback_error,omitempty"`
	// FailedUnits are the units found failed, during the apply or after
	// the rollback.
	FailedUnits []string `json:"failed_units,omitempty"`
	// FailedChecks are the health checks that never passed, as
	// "app: check: last error".
	FailedChecks []string `json:"failed_checks,omitempty"`
}

// ConfirmRequest confirms, from a new connection, the apply that is
// waiting with Token. It needs a hello, not the lock. Without a token it
// confirms whichever apply waits: one whose operator is gone, found by
// the next deploy, whose own new connection proves what confirmation
// asks, that the host is still reachable. The agent reads that apply's
// token from the lock file, which only root can read.
type ConfirmRequest struct {
	Token string `json:"token,omitempty"`
}

// ConfirmReply says the waiting apply took the confirmation.
type ConfirmReply struct{}

// Holder is who holds a host's lock, and what it is doing.
type Holder struct {
	Operator string    `json:"operator"`
	PID      int       `json:"pid"`
	Since    time.Time `json:"since"`
	// Doing is what the holder does now: Applying, AwaitingConfirmation,
	// or "" for a session that only holds the lock.
	Doing  string   `json:"doing,omitempty"`
	Deploy store.ID `json:"deploy,omitzero"` // the deploy it applies
	// Until is, while AwaitingConfirmation, when the apply rolls back
	// by itself unless a new connection confirms it.
	Until time.Time `json:"until,omitzero"`
}

// What a lock holder does (Holder.Doing).
const (
	Applying             = "applying"
	AwaitingConfirmation = "awaiting confirmation"
)

func (*HelloRequest) Type() Type   { return "hello" }
func (*HelloReply) Type() Type     { return "hello_ok" }
func (*LockRequest) Type() Type    { return "lock" }
func (*LockReply) Type() Type      { return "locked" }
func (*ObjectsRequest) Type() Type { return "objects" }
func (*ObjectsReply) Type() Type   { return "objects_ok" }
func (*ApplyRequest) Type() Type   { return "apply" }
func (*Progress) Type() Type       { return "progress" }
func (*AwaitConfirm) Type() Type   { return "await_confirm" }
func (*Result) Type() Type         { return "result" }
func (*FetchRequest) Type() Type   { return "fetch" }
func (*FetchReply) Type() Type     { return "fetch_ok" }
func (*Ping) Type() Type           { return "ping" }
func (*Pong) Type() Type           { return "pong" }
func (*Bye) Type() Type            { return "bye" }
func (*ByeReply) Type() Type       { return "bye_ok" }
func (*AgentError) Type() Type     { return "error" }
func (*JournalRequest) Type() Type { return "journal" }
func (*JournalReply) Type() Type   { return "journal_ok" }
func (*ConfirmRequest) Type() Type { return "confirm" }
func (*ConfirmReply) Type() Type   { return "confirmed" }

// registry makes an empty message of each type, for DecodeMessage. A new
// message is a type with a Type method, listed here.
var registry = index(
	new(HelloRequest), new(HelloReply),
	new(LockRequest), new(LockReply),
	new(ObjectsRequest), new(ObjectsReply),
	new(ApplyRequest), new(Progress), new(AwaitConfirm), new(Result),
	new(FetchRequest), new(FetchReply),
	new(Ping), new(Pong),
	new(Bye), new(ByeReply),
	new(JournalRequest), new(JournalReply),
	new(ConfirmRequest), new(ConfirmReply),
	new(DriftRequest), new(DriftReply),
	new(AgentError),
)

// index maps each message's type to a maker of empty ones; two messages
// of one type are a mistake found at start.
func index(ms ...Message) map[Type]func() Message {
	r := map[Type]func() Message{}
	for _, m := range ms {
		if _, dup := r[m.Type()]; dup {
			panic("wire: two messages of type " + string(m.Type()))
		}
		t := reflect.TypeOf(m).Elem()
		r[m.Type()] = func() Message { return reflect.New(t).Interface().(Message) }
	}
	return r
}

type envelope struct {
	Type Type            `json:"type"`
	Body json.RawMessage `json:"body"`
}

// EncodeMessage renders m as a message frame's payload.
func EncodeMessage(m Message) ([]byte, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("agent protocol: encode %s: %w", m.Type(), err)
	}
	return json.Marshal(envelope{Type: m.Type(), Body: body})
}

// UnknownTypeError is a well-formed message of a type this build does not
// know: most likely a newer deptool on the other side.
type UnknownTypeError struct{ Type Type }

func (e *UnknownTypeError) Error() string {
	return fmt.Sprintf("agent protocol: unknown message type %q", e.Type)
}

// DecodeMessage parses a message frame's payload into a pointer to one of
// this package's message types. Unknown fields are ignored so that either
// side can grow a message without breaking the other.
func DecodeMessage(payload []byte) (Message, error) {
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return nil, protocolErrorf("bad message: %v", err)
	}
	newMsg, ok := registry[env.Type]
	if !ok {
		return nil, &UnknownTypeError{Type: env.Type}
	}
	m := newMsg()
	if len(env.Body) > 0 && string(env.Body) != "null" {
		if err := json.Unmarshal(env.Body, m); err != nil {
			return nil, protocolErrorf("bad %s message: %v", env.Type, err)
		}
	}
	return m, nil
}
