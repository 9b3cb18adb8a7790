package diff

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// ManifestName is the optional file at an app's root that says which units
// to enable, which symlinks to create and which health checks to run.
const ManifestName = "manifest.json"

// Manifest is an app's manifest.json, in Deptool's format:
//
//	{"systemd": {"units_enabled": ["a.service"]}, "symlinks": {"/etc/a.conf": "a.conf"}}
//
// Every section is optional.
type Manifest struct {
	Systemd SystemdManifest `json:"systemd"`
	// Symlinks maps an absolute path on the host to a file in the app. The
	// link points through the app's current checkout, so it always follows
	// the active version.
	Symlinks map[string]string `json:"symlinks,omitempty"`
	// Checks are health checks run after the app's units settle, when a
	// deploy changed the app.
	Checks []Check `json:"checks,omitempty"`
	// Files sets the mode and ownership of files in the app, by exact
	// path or glob (see files.go).
	Files map[string]FileAttrs `json:"files,omitempty"`
	// Validate lists commands (argv lists, no shell) run on the host in
	// the new checkout before it becomes current; one that fails refuses
	// the deploy with the host untouched.
	Validate [][]string `json:"validate,omitempty"`
}

// SystemdManifest is the "systemd" section of a manifest.
type SystemdManifest struct {
	// UnitsEnabled lists units from the app's systemd/ directory to enable
	// and keep running. Every other unit there is linked but left alone.
	UnitsEnabled []string `json:"units_enabled,omitempty"`
	// Reload lists units reloaded (and started if not running) when the
	// app changes: enabled units of the app, which are then reloaded
	// instead of restarted, or units of the host the app does not ship.
	Reload []string `json:"reload,omitempty"`
	// Restart lists units the app does not ship (or ships but does not
	// enable) to restart when the app changes.
	Restart []string `json:"restart,omitempty"`
}

// ParseManifest reads a manifest strictly: unknown or repeated keys, values
// of the wrong type, null and anything after the closing brace are errors.
// name is how the file is shown in error messages.
func ParseManifest(name string, data []byte) (Manifest, error) {
	m, err := parseManifest(data)
	if err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

// MaxManifestSize bounds a manifest.json. A manifest names units, links,
// owners and checks; a thousand of each fit in a tenth of this. What is
// larger is a mistake (a data file saved under the wrong name), and the
// planner, the plan and the agent would each hold it in memory.
const MaxManifestSize = 1 << 20

func parseManifest(data []byte) (Manifest, error) {
	if len(data) > MaxManifestSize {
		return Manifest{}, fmt.Errorf("is %d bytes, more than the limit of %d (1 MiB): a manifest lists units, links and checks; keep data in the app's other files", len(data), MaxManifestSize)
	}
	// The shape walk first: it knows where in the file a problem is, which
	// encoding/json's errors do not say for unknown or repeated keys.
	if err := checkManifestShape(data); err != nil {
		return Manifest{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, describeJSONError(data, err)
	}
	return m, nil
}

type shapeKind int

const (
	shapeObject shapeKind = iota // fixed keys
	shapeMap                     // any keys, values of one shape
	shapeList
	shapeString
	shapeInt // a whole number
)

type shape struct {
	kind   shapeKind
	fields map[string]*shape // shapeObject
	elem   *shape            // shapeMap, shapeList
	hint   string            // added to a wrong-type message, if set
}

var (
	stringShape = &shape{kind: shapeString}
	intShape    = &shape{kind: shapeInt}
)

// manifestShape mirrors Manifest. A new section is a new entry here and a
// new field there.
var manifestShape = &shape{kind: shapeObject, fields: map[string]*shape{
	"systemd": {kind: shapeObject, fields: map[string]*shape{
		"units_enabled": {kind: shapeList, elem: stringShape},
		"reload":        {kind: shapeList, elem: stringShape},
		"restart":       {kind: shapeList, elem: stringShape},
	}},
	"validate": {kind: shapeList, elem: &shape{kind: shapeList, elem: stringShape}},
	"symlinks": {kind: shapeMap, elem: stringShape},
	"checks": {kind: shapeList, elem: &shape{kind: shapeObject, fields: map[string]*shape{
		"http":          stringShape,
		"tcp":           stringShape,
		"expect_status": intShape,
		"timeout":       stringShape,
	}}},
	"files": filesShape,
}}

// describe says what a value of shape s must be, as in "must be %s".
func (s *shape) describe() string {
	switch s.kind {
	case shapeObject:
		return "an object"
	case shapeMap:
		return "an object of " + s.elem.plural()
	case shapeList:
		return "a list of " + s.elem.plural()
	case shapeInt:
		return "a whole number"
	}
	return "a string"
}

func (s *shape) plural() string {
	switch s.kind {
	case shapeObject, shapeMap:
		return "objects"
	case shapeList:
		return "lists"
	case shapeInt:
		return "whole numbers"
	}
	return "strings"
}

func checkManifestShape(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("the file is empty; write {} or delete it")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // to tell 204 from 204.5 and 1e400
	w := walker{dec: dec, data: data}
	if err := w.value(manifestShape, ""); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("unexpected data after the closing brace on line %d; a manifest holds one JSON object", w.line())
	}
	return nil
}

type walker struct {
	dec  *json.Decoder
	data []byte
}

func (w *walker) line() int {
	off := min(int(w.dec.InputOffset()), len(w.data))
	return 1 + bytes.Count(w.data[:off], []byte("\n"))
}

func (w *walker) token() (json.Token, error) {
	tok, err := w.dec.Token()
	if err != nil {
		return nil, describeJSONError(w.data, err)
	}
	return tok, nil
}

// value checks the next value against s; key is where it sits, for messages.
func (w *walker) value(s *shape, key string) error {
	tok, err := w.token()
	if err != nil {
		return err
	}
	want := json.Delim('{')
	switch s.kind {
	case shapeList:
		want = json.Delim('[')
	case shapeString:
		if _, ok := tok.(string); ok {
			return nil
		}
		return w.wrongType(s, key, tok)
	case shapeInt:
		n, ok := tok.(json.Number)
		if !ok {
			return w.wrongType(s, key, tok)
		}
		if _, err := strconv.ParseInt(n.String(), 10, 32); err != nil {
			return fmt.Errorf("%s on line %d must be %s, not %s", quoteKey(key), w.line(), s.describe(), n)
		}
		return nil
	}
	if tok != want {
		return w.wrongType(s, key, tok)
	}
	if s.kind == shapeList {
		return w.list(s, key)
	}
	return w.object(s, key)
}

func (w *walker) wrongType(s *shape, key string, tok json.Token) error {
	if key == "" {
		return fmt.Errorf("the manifest must be a JSON object, not %s", tokenKind(tok))
	}
	msg := fmt.Sprintf("%s on line %d must be %s, not %s", quoteKey(key), w.line(), s.describe(), tokenKind(tok))
	if s.hint != "" {
		msg += "; " + s.hint
	}
	return errors.New(msg)
}

func (w *walker) list(s *shape, key string) error {
	for i := 0; w.dec.More(); i++ {
		if err := w.value(s.elem, fmt.Sprintf("%s[%d]", key, i)); err != nil {
			return err
		}
	}
	_, err := w.token() // ']'
	return err
}

func (w *walker) object(s *shape, key string) error {
	seen := map[string]bool{}
	for w.dec.More() {
		tok, err := w.token()
		if err != nil {
			return err
		}
		name, _ := tok.(string) // object keys are always strings
		if seen[name] {
			return fmt.Errorf("%s appears twice (line %d); keep one", quoteKey(childKey(s, key, name)), w.line())
		}
		seen[name] = true
		child := s.elem
		if s.kind == shapeObject {
			child = s.fields[name]
			if child == nil {
				return w.unknownKey(s, key, name)
			}
		}
		if err := w.value(child, childKey(s, key, name)); err != nil {
			return err
		}
	}
	_, err := w.token() // '}'
	return err
}

func (w *walker) unknownKey(s *shape, key, name string) error {
	msg := fmt.Sprintf("unknown key %q", name)
	if key != "" {
		msg += fmt.Sprintf(" in %q", key)
	}
	msg += fmt.Sprintf(" on line %d", w.line())
	known := make([]string, 0, len(s.fields))
	for k := range s.fields {
		known = append(known, k)
	}
	sort.Strings(known)
	if guess := closest(name, known); guess != "" {
		return fmt.Errorf("%s (did you mean %q?)", msg, guess)
	}
	return fmt.Errorf("%s; known keys: %s", msg, strings.Join(known, ", "))
}

func childKey(s *shape, key, name string) string {
	if s.kind == shapeMap {
		return fmt.Sprintf("%s[%q]", key, name)
	}
	if key == "" {
		return name
	}
	return key + "." + name
}

func quoteKey(key string) string { return "key " + key }

func tokenKind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "a list"
	case string:
		return "a string"
	case bool:
		return "true/false"
	case nil:
		return "null"
	}
	return "a number"
}

// describeJSONError turns encoding/json's errors into sentences that say
// where the problem is.
func describeJSONError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("invalid JSON on line %d: %s", lineAt(data, syn.Offset), syn.Error())
	case errors.As(err, &typ):
		return fmt.Errorf("key %s on line %d has the wrong type: %s", typ.Field, lineAt(data, typ.Offset), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errors.New("the JSON ends too early; is a closing brace or quote missing?")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("unknown key %s", name)
	}
	return err
}

func lineAt(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

// closest returns the known key nearest to name, if it is near enough to be
// a typo.
func closest(name string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(name, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and swaps
// of adjacent letters that make a into b: a swap is the commonest typo
// ("wbe" for "web"), so it counts as one.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
