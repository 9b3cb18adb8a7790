// Package benchchart turns the raw runs that scripts/bench-deploy.sh records
// into the chart and the table that issue 8 ("Performance") asks for: deptool
// against Ansible and against the floor of plain parallel ssh.
package benchchart

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// Header is the first line of every runs file; anything else is refused so
// that a change in the bench script cannot silently shift the columns.
const Header = "series\thosts\trun\tseconds\tmax_rss_kb"

// Run is one timed deploy (or one round of ssh for the floor).
type Run struct {
	Series   string
	Hosts    int
	Run      int
	Seconds  float64
	MaxRSSKB int64 // 0 where nothing was measured, as for ssh-floor
}

// ParseError says which line of which file is wrong.
type ParseError struct {
	File string // empty when reading from a bare io.Reader
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// ReadFile is Read with the file's name in its errors.
func ReadFile(name string) ([]Run, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	runs, err := Read(f)
	return runs, withFile(err, name)
}

// withFile names the file in a ParseError, which Read cannot know.
func withFile(err error, name string) error {
	var pe *ParseError
	if errors.As(err, &pe) {
		pe.File = name
		return pe
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Read parses a runs file. Blank lines are skipped; a repeated
// (series, hosts, run) is an error because it means two bench runs were
// appended to one file and their medians would mix.
func Read(r io.Reader) ([]Run, error) {
	sc := bufio.NewScanner(r)
	type key struct {
		series     string
		hosts, run int
	}
	seen := map[key]int{}
	var runs []Run
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if line == 1 {
			if text != Header {
				return nil, &ParseError{Line: 1, Msg: fmt.Sprintf("header is %q, want %q", text, Header)}
			}
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		run, err := parseRow(text)
		if err != nil {
			return nil, &ParseError{Line: line, Msg: err.Error()}
		}
		k := key{run.Series, run.Hosts, run.Run}
		if first, dup := seen[k]; dup {
			return nil, &ParseError{Line: line, Msg: fmt.Sprintf("%s, %d hosts, run %d already on line %d", run.Series, run.Hosts, run.Run, first)}
		}
		seen[k] = line
		runs = append(runs, run)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if line == 0 {
		return nil, &ParseError{Line: 1, Msg: fmt.Sprintf("empty file, want header %q", Header)}
	}
	if len(runs) == 0 {
		return nil, &ParseError{Line: line, Msg: "no runs after the header"}
	}
	return runs, nil
}

func parseRow(text string) (Run, error) {
	f := strings.Split(text, "\t")
	if len(f) != 5 {
		return Run{}, fmt.Errorf("%d tab-separated fields, want 5 (%s)", len(f), strings.ReplaceAll(Header, "\t", ", "))
	}
	var r Run
	var err error
	if r.Series = strings.TrimSpace(f[0]); r.Series == "" {
		return Run{}, errors.New("series is empty")
	}
	if r.Hosts, err = strconv.Atoi(f[1]); err != nil || r.Hosts < 1 {
		return Run{}, fmt.Errorf("hosts %q is not a positive integer", f[1])
	}
	if r.Run, err = strconv.Atoi(f[2]); err != nil || r.Run < 0 {
		return Run{}, fmt.Errorf("run %q is not a non-negative integer", f[2])
	}
	// Zero seconds cannot be a real deploy and would break the log axis.
	if r.Seconds, err = strconv.ParseFloat(f[3], 64); err != nil || !(r.Seconds > 0) || math.IsInf(r.Seconds, 0) {
		return Run{}, fmt.Errorf("seconds %q is not a positive number", f[3])
	}
	if r.MaxRSSKB, err = strconv.ParseInt(f[4], 10, 64); err != nil || r.MaxRSSKB < 0 {
		return Run{}, fmt.Errorf("max_rss_kb %q is not a non-negative integer", f[4])
	}
	return r, nil
}

// Env is deploy.env: facts about the machine the runs were taken on, in the
// order the file gives them.
type Env []KV

// KV is one key=value line of deploy.env.
type KV struct{ Key, Value string }

// ReadEnvFile reads deploy.env; a missing file is not an error since older
// bench runs did not write one.
func ReadEnvFile(name string) (Env, error) {
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env, err := ReadEnv(f)
	return env, withFile(err, name)
}

// ReadEnv parses key=value lines; blank lines and # comments are skipped and
// one level of quotes is removed, as a shell would.
func ReadEnv(r io.Reader) (Env, error) {
	sc := bufio.NewScanner(r)
	var env Env
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		k, v, ok := strings.Cut(text, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, &ParseError{Line: line, Msg: fmt.Sprintf("%q is not key=value", text)}
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env = append(env, KV{k, v})
	}
	return env, sc.Err()
}
