package benchchart

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// labels are the column and legend names for the known series.
var labels = map[string]string{
	Deptool:      "deptool",
	NoConfirm:    "deptool, no confirm",
	Settle:       "deptool, default settle",
	FirstContact: "first contact",
	Ansible:      "Ansible",
	Floor:        "ssh floor",
}

// Label is how a series is named in the table and the legend.
func Label(series string) string {
	if l, ok := labels[series]; ok {
		return l
	}
	return series
}

// envLabels name the deploy.env keys the bench script writes.
var envLabels = map[string]string{
	"binary_bytes": "deptool binary",
	"date":         "date",
	"cpu":          "CPU",
	"cores":        "cores",
	"kernel":       "kernel",
	"ansible":      "Ansible",
	"openssh":      "OpenSSH",
	"go":           "Go",
}

type column struct {
	head string
	cell func(hosts int) string
}

// WriteTable writes the summary as a markdown table, one row per host count,
// followed by how to read it and, when env is not empty, the machine.
func WriteTable(w io.Writer, s *Summary, env Env) error {
	cols := columns(s)
	var b strings.Builder
	b.WriteString("|")
	for _, c := range cols {
		fmt.Fprintf(&b, " %s |", c.head)
	}
	b.WriteString("\n|")
	for range cols {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, h := range s.Hosts {
		b.WriteString("|")
		for _, c := range cols {
			fmt.Fprintf(&b, " %s |", c.cell(h))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n" + notes(s) + "\n")
	if len(env) > 0 {
		b.WriteString("\nMachine:\n\n")
		for _, kv := range env {
			fmt.Fprintf(&b, "- %s: %s\n", envLabel(kv.Key), envValue(kv))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func columns(s *Summary) []column {
	cols := []column{{"hosts", strconv.Itoa}}
	for _, name := range s.Series {
		cols = append(cols, column{escape(Label(name)), func(h int) string {
			st, ok := s.Get(name, h)
			if !ok {
				return "–"
			}
			return formatStat(st)
		}})
	}
	ratio := func(head, num, den string, best bool, format func(float64) string) {
		if !s.Has(num) || !s.Has(den) {
			return
		}
		cols = append(cols, column{head, func(h int) string {
			get := s.Ratio
			if best {
				get = s.BestRatio
			}
			r, ok := get(num, den, h)
			if !ok {
				return "–"
			}
			return format(r)
		}})
	}
	ratio("deptool/floor", Deptool, Floor, false, formatRatio)
	ratio("deptool/floor, best", Deptool, Floor, true, formatRatio)
	ratio("vs Ansible", Ansible, Deptool, false, func(r float64) string { return formatRatio(r) + " faster" })
	ratio("first contact/steady", FirstContact, Deptool, false, formatRatio)
	if s.hasRSS() {
		cols = append(cols, column{"peak RSS", func(h int) string {
			kb, ok := s.PeakRSSKB(h)
			if !ok {
				return "–"
			}
			return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		}})
	}
	return cols
}

func notes(s *Summary) string {
	lo, hi := 0, 0
	for _, name := range s.Series {
		for _, h := range s.Hosts {
			if st, ok := s.Get(name, h); ok {
				if lo == 0 || st.N < lo {
					lo = st.N
				}
				hi = max(hi, st.N)
			}
		}
	}
	runs := fmt.Sprintf("%d runs", hi)
	if lo != hi {
		runs = fmt.Sprintf("%d–%d runs", lo, hi)
	}
	var n []string
	n = append(n, fmt.Sprintf("Wall time of one deploy to all hosts in parallel: median of %s, fastest–slowest in parentheses.", runs))
	if s.Has(Deptool) {
		n = append(n, "deptool is a steady-state deploy with --settle 0s.")
	}
	if s.Has(FirstContact) {
		n = append(n, "First contact includes uploading the agent.")
	}
	if s.Has(Floor) {
		n = append(n, "The ssh floor is `ssh host true` to the same hosts in parallel.")
		n = append(n, "Ratios compare medians, except “best”, which compares the fastest run of each.")
	}
	if s.hasRSS() {
		n = append(n, "Peak RSS is the largest max RSS of any deptool run at that host count.")
	}
	return strings.Join(n, "\n")
}

// formatStat gives a median with its range, at a precision that suits
// wall times from a tenth of a second to minutes.
func formatStat(st Stat) string {
	if st.N == 1 || st.Min == st.Max {
		return formatSeconds(st.Median) + " s"
	}
	return fmt.Sprintf("%s s (%s–%s)", formatSeconds(st.Median), formatSeconds(st.Min), formatSeconds(st.Max))
}

func formatSeconds(v float64) string {
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func formatRatio(r float64) string {
	if r < 10 {
		return strconv.FormatFloat(r, 'f', 2, 64) + "×"
	}
	return strconv.FormatFloat(r, 'f', 1, 64) + "×"
}

func envLabel(key string) string {
	if l, ok := envLabels[key]; ok {
		return l
	}
	return escape(key)
}

func envValue(kv KV) string {
	if kv.Key == "binary_bytes" {
		if n, err := strconv.ParseInt(kv.Value, 10, 64); err == nil {
			return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/(1<<20), n)
		}
	}
	return escape(kv.Value)
}

// escape keeps a stray | or newline from breaking the table.
func escape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
