package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/deptool/deptool/deploy/transport"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
)

// Defaults of a deploy, for the CLI's flags and for Options left zero.
const (
	// DefaultParallel is how many hosts are worked on at once.
	DefaultParallel = 32
	// DefaultSettle is how long hosts watch restarted units: long enough
	// to catch a service that dies a second after starting.
	DefaultSettle = 2 * time.Second
	// DefaultConfirmTimeout is how long a host waits to hear from a new
	// connection after its apply: ample for an SSH login over a slow link.
	DefaultConfirmTimeout = 30 * time.Second
	// DefaultValidateTimeout bounds each validate command of a manifest:
	// a configuration test takes a second or two, not half a minute.
	DefaultValidateTimeout = 30 * time.Second
	// RemoteTimeout bounds each exchange with the store's remote: a plan
	// must not wait on an unreachable remote longer than an operator
	// waits for it.
	RemoteTimeout = 10 * time.Second
)

// Team is how a command exchanges records with the store's remote, if
// the store has one.
type Team struct {
	// Auth reaches the remote; nil: RemoteSSH.
	Auth store.RemoteAuth
	// Log receives the lines that say how an exchange went (the remote
	// not reached, other clones' deploys merged); nil: none.
	Log io.Writer
	// Timeout bounds each exchange; zero: RemoteTimeout.
	Timeout time.Duration
	// Signers is told what an exchange did to the team's signers (taken,
	// refused, a local change dropped); nil: nothing is said.
	Signers func(s *store.Store, url string, news store.SignersNews)
}

func (t Team) auth() store.RemoteAuth {
	if t.Auth == nil {
		return RemoteSSH
	}
	return t.Auth
}

func (t Team) logf(format string, args ...any) {
	if t.Log != nil {
		fmt.Fprintf(t.Log, format, args...)
	}
}

// Transaction is every command that records in the store (deploy,
// rollback, repair, sync, pin): it holds the store's deploy lock from
// the plan to the last record, takes in what other clones recorded
// before it plans, and sends what it recorded by the time it ends. Begin
// one, run its operations, End it.
type Transaction struct {
	ctx   context.Context // Begin's: the exchanges end with the command
	store *store.Store
	team  Team
	lock  *store.DeployLock
	// lockErr is why a transaction begun with BeginIfFree holds no lock:
	// it then exchanges nothing with the remote.
	lockErr error
	// unsent is set once an operation recorded what the remote lacks.
	unsent bool
}

// Begin takes the store's deploy lock in the name of who (the command
// line, for whoever finds it taken) and exchanges records with the
// store's remote. A lock held by another command is an error
// (store.BusyError): a plan made while another deploy from this store
// runs is stale before it is shown.
func Begin(ctx context.Context, s *store.Store, who string, team Team) (*Transaction, error) {
	lock, err := s.Lock(who, store.Operator(), time.Now())
	if err != nil {
		return nil, err
	}
	t := &Transaction{ctx: ctx, store: s, team: team, lock: lock}
	t.exchange(ctx, true)
	return t, nil
}

// BeginIfFree is Begin for a command that may go on while a deploy from
// this store runs (pin, unpin): without the lock, it exchanges nothing
// with the remote, and says so at each exchange.
func BeginIfFree(ctx context.Context, s *store.Store, who string, team Team) *Transaction {
	t := &Transaction{ctx: ctx, store: s, team: team}
	t.lock, t.lockErr = s.Lock(who, store.Operator(), time.Now())
	t.exchange(ctx, true)
	return t
}

// Send sends what the transaction recorded to the remote now, rather
// than when it ends: before a command prints its result, so that what
// the exchange says comes first.
func (t *Transaction) Send() {
	if t.unsent {
		t.unsent = false
		t.exchange(t.ctx, true)
	}
}

// End sends what is still unsent and lets go of the store's deploy lock.
func (t *Transaction) End() {
	t.Send()
	if t.lock != nil {
		t.lock.Unlock()
		t.lock = nil
	}
}

// Exchange exchanges records with the store's remote again, and reports
// its URL ("" without one) and whether it was reached.
func (t *Transaction) Exchange() (url string, reached bool) {
	t.unsent = false
	return t.exchange(t.ctx, true)
}

// Reach fetches from url, a remote not yet recorded, under the
// transaction's lock: whether it answers at all.
func (t *Transaction) Reach(url string) (store.SyncResult, error) {
	if t.lock == nil {
		return store.SyncResult{}, t.lockErr
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.team.timeout())
	defer cancel()
	return t.store.Fetch(ctx, url, t.team.auth())
}

// Plan checks the store's records the plan relies on and plans tree with
// opts (see CheckPlan, diff.MakePlan).
func (t *Transaction) Plan(tree store.ID, opts diff.PlanOptions) (*diff.Plan, error) {
	return Plan(t.store, tree, opts)
}

// Plan is the plan of a transaction, for a command that only shows it
// (deploy --plan-only) and takes no lock.
func Plan(s *store.Store, tree store.ID, opts diff.PlanOptions) (*diff.Plan, error) {
	if err := CheckPlan(s, tree, opts); err != nil {
		return nil, err
	}
	return diff.MakePlan(s, tree, opts)
}

// SigningKey finds the key deploys to host are signed with (see the
// package function SigningKey), before the operator confirms anything: a
// store that requires signatures and an operator without a key learn it
// first. The first signed deploy of a store from before signing starts
// its trust chain with the deploying key. close lets go of the key.
func (t *Transaction) SigningKey(host string) (sign store.SignCommit, close func(), err error) {
	sign, key, close, err := SigningKey(t.store, transport.Options{}, host)
	if err != nil {
		return nil, close, err
	}
	if sign != nil {
		if keys, err := t.store.AllowedSigners(); err == nil && len(keys) == 0 && t.store.Path() != "" {
			if err := t.store.AddAllowedSigner(store.Operator(), key); err != nil {
				return nil, close, err
			}
		}
		return sign, close, nil
	}
	if req, err := t.store.RequireSignatures(); err != nil {
		return nil, close, err
	} else if req {
		return nil, close, errors.New("this store requires signed deploys and no signing key was found: add your key to ssh-agent, or name one with DEPTOOL_SIGNING_KEY (see docs/security.md); nothing was committed or deployed")
	}
	return nil, close, nil
}

// Deploy commits the plan's tree to the store as a deploy commit with
// message (default: one naming the hosts), applies it to the plan's
// hosts with the store's retention, moves the refs of the hosts that
// deployed and records every host's outcome as a note on the commit.
// The plan must be the transaction's (Plan); the caller has shown it and
// had it confirmed. A nil result means nothing was committed or
// contacted; otherwise the records go to the remote (see Send).
func (t *Transaction) Deploy(ctx context.Context, plan *diff.Plan, message string, opts Options) (*Result, error) {
	res, err := commitAndRun(ctx, t.store, plan, message, opts)
	t.unsent = t.unsent || res != nil
	return res, err
}

// Sync pulls each host's current commit and its objects into the store
// and points the host's ref at it: what to do after deploys from another
// store, or to adopt hosts into a fresh clone. The moved refs go to the
// remote at once.
func (t *Transaction) Sync(ctx context.Context, hosts []string, opts ConnectOptions) []SyncResult {
	res := syncHosts(ctx, t.store, hosts, opts)
	t.unsent = true
	return res
}

// Pin holds host at rev (a commit as 'deptool log' shows it), or without
// rev at the deploy it last accepted, and returns the commit it is held
// at: plans leave the host out until Unpin. The pin goes to the remote at
// once.
func (t *Transaction) Pin(host, rev string) (store.ID, error) {
	at, err := pinHost(t.store, host, rev)
	t.unsent = t.unsent || err == nil
	return at, err
}

// Unpin releases host: deploys include it again.
func (t *Transaction) Unpin(host string) error {
	err := t.store.Unpin(host)
	t.unsent = t.unsent || err == nil
	return err
}

// CheckRecording checks hosts (see Check) for the command line who, and
// records what they say of this store's deploys that never heard back,
// unless a deploy from this store is running: it is the one writing
// those records then.
func CheckRecording(ctx context.Context, s *store.Store, who string, hosts []string, opts ConnectOptions) []CheckResult {
	var record *store.Store
	if lock, err := s.Lock(who, store.Operator(), time.Now()); err == nil {
		defer lock.Unlock()
		record = s
	}
	return Check(ctx, record, hosts, opts)
}

// FetchTeam takes in what other clones recorded, for the commands that
// only read (status, log, diff, a plan): they send nothing, since a read
// that pushed paid for every large file the store held before it could
// answer. It takes the store's lock for the fetch alone, in the name of
// who, and skips it while a deploy from this store runs.
//
// It returns the remote's URL ("" without one) and whether the exchange
// took place, for status to say how the store compares with the remote.
func FetchTeam(ctx context.Context, s *store.Store, who string, team Team) (url string, reached bool) {
	t := &Transaction{store: s, team: team}
	if url, err := s.Remote(); err != nil || url == "" {
		return "", false
	}
	t.lock, t.lockErr = s.Lock(who, store.Operator(), time.Now())
	defer t.End()
	return t.exchange(ctx, false)
}

func (t Team) timeout() time.Duration {
	if t.Timeout > 0 {
		return t.Timeout
	}
	return RemoteTimeout
}

// exchange fetches and integrates what other clones recorded, and with
// push sends what this one recorded. Without the remote, it says so in
// one line and the command goes on from this store alone.
func (t *Transaction) exchange(ctx context.Context, push bool) (url string, reached bool) {
	s := t.store
	url, err := s.Remote()
	if err != nil || url == "" {
		return "", false
	}
	if t.lockErr != nil {
		if errors.Is(t.lockErr, store.ErrBusy) {
			t.team.logf("deptool: not exchanging records with the remote: a deploy from this store is running\n")
		} else {
			t.team.logf("deptool: not exchanging records with the remote: %v\n", t.lockErr)
		}
		return url, false
	}
	ctx, cancel := context.WithTimeout(ctx, t.team.timeout())
	defer cancel()
	var res store.SyncResult
	if push {
		res, err = s.Sync(ctx, url, t.team.auth())
	} else {
		res, err = s.Fetch(ctx, url, t.team.auth())
	}
	if err != nil {
		ahead := ""
		if n, _ := s.Unpushed(); n > 0 {
			ahead = fmt.Sprintf(" (%d of its refs not on the remote yet)", n)
		}
		if errors.Is(err, store.ErrRemoteMoved) {
			// Reached, but other clones pushed at every round.
			t.team.logf("deptool: remote %s kept moving while this store integrated it (other clones pushing): its records%s go with the next command that reaches the remote\n", url, ahead)
			return url, false
		}
		if errors.Is(err, store.ErrRemoteRejected) {
			// Reached: what it refused stays here until what it said is
			// fixed, on the remote or in this store.
			t.team.logf("deptool: remote %s refused this store's records%s: %v\nworking from this store alone; fix what the remote objects to, and the next command that reaches it sends them\n", url, ahead, err)
			return url, false
		}
		t.team.logf("deptool: remote %s not reached (%v): working from this store alone, which may be behind; its records%s go with the next command that reaches the remote\n", url, err, ahead)
		return url, false
	}
	if res.Merged {
		t.team.logf("deptool: merged the deploys other clones of this store recorded\n")
	}
	if t.team.Signers != nil && res.Signers != (store.SignersNews{}) {
		t.team.Signers(s, url, res.Signers)
	}
	return url, true
}

// commitAndRun commits the plan's tree to the store as a deploy commit
// with message (default: one naming the hosts), applies it to the plan's
// hosts with the store's retention, moves the refs of the hosts that
// deployed and records every host's outcome as a note on the commit. The
// plan must be made against s; the caller has shown it and had it
// confirmed, and holds the transaction.
func commitAndRun(ctx context.Context, s *store.Store, plan *diff.Plan, message string, opts Options) (*Result, error) {
	opts.defaults()
	if message == "" {
		message = Message(plan)
	}
	message = withSource(message, opts.Source)
	keep, err := s.Keep()
	if err != nil {
		return nil, err
	}
	if opts.Keep == 0 {
		opts.Keep = keep
	}
	if opts.Sign == nil {
		if req, err := s.RequireSignatures(); err != nil {
			return nil, err
		} else if req {
			return nil, errNoSigningKey
		}
	}
	deployID, err := s.CommitSigned(plan.Tree, message, opts.Operator, opts.Now(), opts.Sign)
	if err != nil {
		return nil, err
	}
	return run(ctx, s, plan, deployID, opts)
}

// Message is a deploy commit's default message: the hosts it deploys to.
func Message(plan *diff.Plan) string {
	names := make([]string, len(plan.Hosts))
	for i, h := range plan.Hosts {
		names[i] = h.Host
	}
	if len(names) > 5 {
		names = append(names[:5], fmt.Sprintf("and %d more", len(names)-5))
	}
	return "deploy to " + strings.Join(names, ", ")
}
