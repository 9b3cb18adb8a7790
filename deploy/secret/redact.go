package secret

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"sync"
)

// MinRedacted is the length of the shortest plaintext, or line of a
// multi-line one, that a Redactor replaces. Shorter values ("1", "on",
// "yes") occur by chance in almost any output: replacing them would hide
// everything and protect nothing, since they are guessed as easily.
const MinRedacted = 4

// A Redactor knows the plaintexts an agent decrypted and replaces each
// with "[secret NAME]" in what leaves the host, so that a command that
// prints a secret (a validate command, a unit's error message quoting its
// config) does not carry it into the operator's output, the store's
// notes or a team remote, which keep it forever.
//
// It replaces, longest first: the whole value with surrounding space
// trimmed, each of its lines that is MinRedacted bytes or longer (a key
// file quoted a line at a time), and each of those as JSON escapes it
// (output that is itself JSON). It may be used from many goroutines.
type Redactor struct {
	mu    sync.RWMutex
	pairs map[string]string // plaintext form -> "[secret NAME]"
	rep   *strings.Replacer
}

// NewRedactor returns a Redactor that knows no secret yet.
func NewRedactor() *Redactor {
	return &Redactor{pairs: map[string]string{}}
}

// Add records a secret's plaintext under name (the file's path in its
// app). A value already known keeps its first name. A nil Redactor
// records nothing.
func (r *Redactor) Add(name string, plaintext []byte) {
	if r == nil {
		return
	}
	mark := "[secret " + name + "]"
	var forms []string
	whole := strings.TrimSpace(string(plaintext))
	forms = append(forms, whole)
	if strings.ContainsAny(whole, "\r\n") {
		for _, line := range strings.Split(whole, "\n") {
			forms = append(forms, strings.TrimSpace(line))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	added := false
	for _, f := range forms {
		for _, form := range []string{f, jsonEscaped(f)} {
			if len(form) < MinRedacted {
				continue
			}
			if _, ok := r.pairs[form]; !ok {
				r.pairs[form] = mark
				added = true
			}
		}
	}
	if added {
		r.rep = r.replacer()
	}
}

// replacer lists the longest forms first: strings.Replacer tries them in
// that order at each position, so a whole value wins over its lines.
func (r *Redactor) replacer() *strings.Replacer {
	forms := make([]string, 0, len(r.pairs))
	for f := range r.pairs {
		forms = append(forms, f)
	}
	slices.SortFunc(forms, func(a, b string) int {
		if d := len(b) - len(a); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	args := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		args = append(args, f, r.pairs[f])
	}
	return strings.NewReplacer(args...)
}

func jsonEscaped(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	out := strings.TrimSpace(b.String())
	return out[1 : len(out)-1]
}

// Empty reports whether no secret is known: nothing needs redacting.
func (r *Redactor) Empty() bool {
	if r == nil {
		return true
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.rep == nil
}

// String returns s with every known plaintext replaced.
func (r *Redactor) String(s string) string {
	if r.Empty() {
		return s
	}
	r.mu.RLock()
	rep := r.rep
	r.mu.RUnlock()
	return rep.Replace(s)
}

// JSON redacts a JSON document's string values, not its bytes: replacing
// in the encoding could cut through the syntax around a value, or miss a
// plaintext JSON escaped differently. Object keys are left alone: they
// are the protocol's field names, and a secret that happens to spell one
// must not take the field away. The result is the
// same document, re-encoded; numbers keep their digits. A document that
// does not parse is redacted as text.
func (r *Redactor) JSON(data []byte) []byte {
	if r.Empty() {
		return data
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return []byte(r.String(string(data)))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r.value(v)); err != nil {
		return []byte(r.String(string(data)))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func (r *Redactor) value(v any) any {
	switch v := v.(type) {
	case string:
		return r.String(v)
	case []any:
		for i := range v {
			v[i] = r.value(v[i])
		}
		return v
	case map[string]any:
		for k, x := range v {
			v[k] = r.value(x)
		}
		return v
	}
	return v
}
