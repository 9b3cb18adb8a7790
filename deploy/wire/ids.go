package wire

import (
	"encoding/json"

	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
)

// The Go API speaks store.ID; on the wire ids are hex, as diff.ObjectID
// writes them, so a captured session reads like git output. Each message
// with ids shadows them with hex fields: the outer field wins over the
// embedded one of the same JSON name.

type hexID = diff.ObjectID

func (m *HelloReply) MarshalJSON() ([]byte, error) {
	type plain HelloReply
	return json.Marshal(struct {
		*plain
		Current hexID `json:"current,omitzero"`
		Target  hexID `json:"target,omitzero"`
	}{(*plain)(m), hexID(m.Current), hexID(m.Target)})
}

func (m *HelloReply) UnmarshalJSON(b []byte) error {
	type plain HelloReply
	aux := struct {
		*plain
		Current hexID `json:"current,omitzero"`
		Target  hexID `json:"target,omitzero"`
	}{plain: (*plain)(m)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	m.Current, m.Target = store.ID(aux.Current), store.ID(aux.Target)
	return nil
}

func (m *LockRequest) MarshalJSON() ([]byte, error) {
	type plain LockRequest
	return json.Marshal(struct {
		*plain
		Base hexID `json:"base,omitzero"`
	}{(*plain)(m), hexID(m.Base)})
}

func (m *LockRequest) UnmarshalJSON(b []byte) error {
	type plain LockRequest
	aux := struct {
		*plain
		Base hexID `json:"base,omitzero"`
	}{plain: (*plain)(m)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	m.Base = store.ID(aux.Base)
	return nil
}

func (m *ApplyRequest) MarshalJSON() ([]byte, error) {
	type plain ApplyRequest
	return json.Marshal(struct {
		*plain
		Commit hexID `json:"commit"`
		Deploy hexID `json:"deploy,omitzero"`
	}{(*plain)(m), hexID(m.Commit), hexID(m.Deploy)})
}

func (m *ApplyRequest) UnmarshalJSON(b []byte) error {
	type plain ApplyRequest
	aux := struct {
		*plain
		Commit hexID `json:"commit"`
		Deploy hexID `json:"deploy,omitzero"`
	}{plain: (*plain)(m)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	m.Commit, m.Deploy = store.ID(aux.Commit), store.ID(aux.Deploy)
	return nil
}

func (m *Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		*plain
		Current hexID `json:"current,omitzero"`
		Target  hexID `json:"target,omitzero"`
	}{(*plain)(m), hexID(m.Current), hexID(m.Target)})
}

func (m *Result) UnmarshalJSON(b []byte) error {
	type plain Result
	aux := struct {
		*plain
		Current hexID `json:"current,omitzero"`
		Target  hexID `json:"target,omitzero"`
	}{plain: (*plain)(m)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	m.Current, m.Target = store.ID(aux.Current), store.ID(aux.Target)
	return nil
}

func (m *FetchReply) MarshalJSON() ([]byte, error) {
	type plain FetchReply
	return json.Marshal(struct {
		*plain
		Current hexID `json:"current,omitzero"`
	}{(*plain)(m), hexID(m.Current)})
}

func (m *FetchReply) UnmarshalJSON(b []byte) error {
	type plain FetchReply
	aux := struct {
		*plain
		Current hexID `json:"current,omitzero"`
	}{plain: (*plain)(m)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	m.Current = store.ID(aux.Current)
	return nil
}

func (e *AgentError) MarshalJSON() ([]byte, error) {
	type plain AgentError
	return json.Marshal(struct {
		*plain
		Current hexID `json:"current,omitzero"`
	}{(*plain)(e), hexID(e.Current)})
}

func (e *AgentError) UnmarshalJSON(b []byte) error {
	type plain AgentError
	aux := struct {
		*plain
		Current hexID `json:"current,omitzero"`
	}{plain: (*plain)(e)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	e.Current = store.ID(aux.Current)
	return nil
}
