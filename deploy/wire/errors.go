package wire

import (
	"fmt"

	"github.com/deptool/deptool/store"
)

// Code classifies an AgentError so the operator can act on it.
type Code string

// Error codes.
const (
	// CodeHostname: /etc/hostname names another host.
	CodeHostname Code = "hostname"
	// CodeBuild: the agent is another build than the operator.
	CodeBuild Code = "build"
	// CodeVersion: the agent speaks another protocol version.
	CodeVersion Code = "version"
	// CodeBusy: another deploy holds the host's lock; Holder says who.
	CodeBusy Code = "busy"
	// CodeStale: the host is not at the commit the plan was made
	// against; Current says where it is. Nothing changed on the host.
	CodeStale Code = "stale"
	// CodeNotLocked: a request that changes the host came without a lock.
	CodeNotLocked Code = "not_locked"
	// CodeMissing: the host's store lacks an object the request needs.
	CodeMissing Code = "missing"
	// CodeBadRequest: the request does not make sense (bad plan, no hello).
	CodeBadRequest Code = "bad_request"
	// CodeUnsupported: the agent does not know the request.
	CodeUnsupported Code = "unsupported"
	// CodeAborted: the sender gave up a byte stream half way.
	CodeAborted Code = "aborted"
	// CodeInternal: anything else that went wrong on the host.
	CodeInternal Code = "internal"
)

// AgentError is an error the agent reported (or, for a build or version
// mismatch, the client found in the agent's hello). Message is written for
// the operator.
type AgentError struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Holder is set for CodeBusy.
	Holder *Holder `json:"holder,omitempty"`
	// Current is set for CodeStale: the host's actual current commit.
	Current store.ID `json:"current,omitzero"`
}

func (e *AgentError) Error() string { return e.Message }

// Errorf makes an AgentError.
func Errorf(code Code, format string, args ...any) *AgentError {
	return &AgentError{Code: code, Message: fmt.Sprintf(format, args...)}
}
