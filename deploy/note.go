package deploy

import (
	"encoding/json"
	"time"

	"github.com/deptool/deptool/store"
)

// outcomesNote is the Git note a deploy leaves on its deploy commit, with
// every host's outcome: a stored format (version 1), which later releases
// read back in 'deptool log', 'status' and 'sync'. It is its own type,
// apart from Result and HostResult (the in-memory result, whose HostResult
// is also the JSON event "outcome"), so a change to one is a visible
// change to the other; TestOutcomesNoteFormat pins its fields and reads a
// note as the previous release wrote it.
type outcomesNote struct {
	Deploy  store.ID      `json:"deploy"`
	Hosts   []noteHost    `json:"hosts"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Source  string        `json:"source,omitempty"`
}

// noteHost is one host's outcome in an outcomesNote. Its fields are
// HostResult's, so each converts to the other; a field added to one only
// compiles once the other has it too.
type noteHost struct {
	Host       string             `json:"host"`
	Outcome    Outcome            `json:"outcome"`
	Commit     store.ID           `json:"commit,omitzero"`
	Error      string             `json:"error,omitempty"`
	Detail     string             `json:"detail,omitempty"`
	Elapsed    time.Duration      `json:"elapsed_ns"`
	Units      []UnitReport       `json:"units,omitempty"`
	Checks     []CheckReport      `json:"checks,omitempty"`
	Validation []ValidationReport `json:"validation,omitempty"`
	Freed      int64              `json:"freed_bytes,omitempty"`
}

// encodeNote renders res as its outcomes note.
func encodeNote(res *Result) ([]byte, error) {
	n := outcomesNote{Deploy: res.Deploy, Elapsed: res.Elapsed, Source: res.Source}
	if res.Hosts != nil {
		n.Hosts = []noteHost{} // an empty list stays one, not null
	}
	for _, h := range res.Hosts {
		n.Hosts = append(n.Hosts, noteHost(h))
	}
	return json.Marshal(n)
}

// decodeNote reads an outcomes note, of this release or an earlier one.
func decodeNote(data []byte) (*Result, error) {
	var n outcomesNote
	if err := json.Unmarshal(data, &n); err != nil {
		return nil, err
	}
	res := &Result{Deploy: n.Deploy, Elapsed: n.Elapsed, Source: n.Source}
	for _, h := range n.Hosts {
		res.Hosts = append(res.Hosts, HostResult(h))
	}
	return res, nil
}
