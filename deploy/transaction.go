package deploy

import (
	"context"
	"fmt"
	"strings"
	"time"

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
)

// Deploy is the deploy transaction, for deploy and rollback alike: it
// commits the plan's tree to the store as a deploy commit with message
// (default: one naming the hosts), applies it to the plan's hosts with
// the store's retention, moves the refs of the hosts that deployed and
// records every host's outcome as a note on the commit. The plan must be
// made against s; the caller has shown it and had it confirmed.
func Deploy(ctx context.Context, s *store.Store, plan *diff.Plan, message string, opts Options) (*Result, error) {
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
	return Run(ctx, s, plan, deployID, opts)
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
