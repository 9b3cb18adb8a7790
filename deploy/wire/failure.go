package wire

import "encoding/json"

// FailureCode says what ended an apply, or its rollback, so the operator
// acts on the kind of failure without reading its message.
type FailureCode string

// Failure codes.
const (
	// FailUnit: a unit failed to start or did not stay up (Unit names it).
	FailUnit FailureCode = "unit"
	// FailCheck: a health check never passed (App names its app).
	FailCheck FailureCode = "check"
	// FailValidation: a validation command failed before anything
	// changed (App names its app).
	FailValidation FailureCode = "validation"
	// FailUnconfirmed: no confirmation came in time (see
	// ApplyRequest.ConfirmTimeout).
	FailUnconfirmed FailureCode = "unconfirmed"
	// FailStep: any other step of the apply failed (Step names it).
	FailStep FailureCode = "step"
	// FailRollback: undoing the failed attempt failed too.
	FailRollback FailureCode = "rollback"
	// FailText: an agent from before typed failures sent only a message,
	// which for a failed rollback already says why the rollback failed.
	FailText FailureCode = "text"
)

// Failure is why an apply, or its rollback, failed, as the agent knows it.
// Message is written for the operator and names no host: the operator
// adds the host where it prints one.
type Failure struct {
	Code FailureCode `json:"code"`
	// Step is the apply's step that failed, as its progress names it
	// ("checkout", "settle", "check", "validate", "confirm wait"...).
	Step    string `json:"step,omitempty"`
	App     string `json:"app,omitempty"`
	Unit    string `json:"unit,omitempty"`
	Message string `json:"message"`
}

func (f *Failure) Error() string { return f.Message }

// Text is the failure's message, empty for none.
func (f *Failure) Text() string {
	if f == nil {
		return ""
	}
	return f.Message
}

// UnmarshalJSON reads a failure, or the plain message an agent from
// before typed failures sent in its place.
func (f *Failure) UnmarshalJSON(b []byte) error {
	var msg string
	if json.Unmarshal(b, &msg) == nil {
		*f = Failure{Code: FailText, Message: msg}
		return nil
	}
	type plain Failure // without this method
	return json.Unmarshal(b, (*plain)(f))
}
