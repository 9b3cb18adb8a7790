package ui

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/deptool/deptool/deploy"
)

// Events is what --output json writes: one JSON object per line, each
// naming its kind in "event" and when it happened in "time", so a pipeline
// can act on a host's outcome while other hosts are still deploying.
// docs/json.md is the schema; change both together.
type Events struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// NewEvents writes events to w.
func NewEvents(w io.Writer) *Events {
	return &Events{w: w, now: time.Now}
}

// Emit writes one event: kind and time, then body's own fields. A body
// with a time of its own (a deploy in the log, a journal entry) keeps it,
// so no line has a key twice.
func (e *Events) Emit(kind string, body any) error {
	fields, err := json.Marshal(body)
	if err != nil {
		return err
	}
	var own map[string]json.RawMessage
	json.Unmarshal(fields, &own) // not an object: no fields of its own
	head, err := json.Marshal(struct {
		Event string    `json:"event"`
		Time  time.Time `json:"time,omitzero"`
	}{kind, e.timeUnless(own)})
	if err != nil {
		return err
	}
	line := head
	if fields = bytes.TrimPrefix(fields, []byte("{")); len(fields) > 1 {
		line = append(append(head[:len(head)-1], ','), fields...)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err = e.w.Write(append(line, '\n'))
	return err
}

func (e *Events) timeUnless(own map[string]json.RawMessage) time.Time {
	if _, ok := own["time"]; ok {
		return time.Time{}
	}
	return e.now().UTC()
}

// The bodies of events that are not some package's type already.
type (
	phaseEvent struct {
		Host   string       `json:"host"`
		Phase  deploy.Phase `json:"phase"`
		Detail string       `json:"detail,omitempty"`
	}
	unitEvent struct {
		Host string `json:"host"`
		deploy.UnitReport
	}
	checkEvent struct {
		Host string `json:"host"`
		deploy.CheckReport
	}
	summaryEvent struct {
		Deploy   string         `json:"deploy"`
		Hosts    int            `json:"hosts"`
		Outcomes map[string]int `json:"outcomes"`
		Elapsed  time.Duration  `json:"elapsed_ns"`
		ExitCode int            `json:"exit_code"`
		Source   string         `json:"source,omitempty"`
	}
	errorEvent struct {
		Error    string `json:"error"`
		ExitCode int    `json:"exit_code"`
	}
)

// Phase and Done make the stream a deploy.Reporter.
func (e *Events) Phase(host string, p deploy.Phase, detail string) {
	e.Emit("phase", phaseEvent{Host: host, Phase: p, Detail: detail})
}

// Done reports a host's units and health checks, then its outcome.
func (e *Events) Done(r deploy.HostResult) {
	for _, u := range r.Units {
		e.Emit("unit", unitEvent{Host: r.Host, UnitReport: u})
	}
	for _, c := range r.Checks {
		e.Emit("check", checkEvent{Host: r.Host, CheckReport: c})
	}
	r.Units, r.Checks = nil, nil // sent above, one event each
	e.Emit("outcome", r)
}

// Summary closes a deploy's stream.
func (e *Events) Summary(res *deploy.Result, code int) error {
	s := summaryEvent{Deploy: res.Deploy.String(), Hosts: len(res.Hosts), Outcomes: map[string]int{}, Elapsed: res.Elapsed, ExitCode: code, Source: res.Source}
	for _, h := range res.Hosts {
		s.Outcomes[string(h.Outcome)]++
	}
	return e.Emit("summary", s)
}

// Error ends a stream that a command's failure cut short: a pipeline
// reading it learns why from the stream itself.
func (e *Events) Error(err error, code int) error {
	return e.Emit("error", errorEvent{Error: err.Error(), ExitCode: code})
}

// each writes one event of kind per item.
func each[T any](e *Events, kind string, items []T) error {
	for _, it := range items {
		if err := e.Emit(kind, it); err != nil {
			return err
		}
	}
	return nil
}
