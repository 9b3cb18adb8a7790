package benchchart

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gonum.org/v1/plot"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const hdr = Header + "\n"

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "line 1: empty file"},
		{"wrong header", "series\thosts\tseconds\n", `line 1: header is "series\thosts\tseconds"`},
		{"header only", hdr, "line 1: no runs after the header"},
		{"too few fields", hdr + "deptool\t1\t1\t0.2\n", "line 2: 4 tab-separated fields, want 5"},
		{"spaces not tabs", hdr + "deptool 1 1 0.2 100\n", "line 2: 1 tab-separated fields"},
		{"empty series", hdr + "\t1\t1\t0.2\t100\n", "line 2: series is empty"},
		{"zero hosts", hdr + "deptool\t0\t1\t0.2\t100\n", `line 2: hosts "0" is not a positive integer`},
		{"bad run", hdr + "deptool\t1\tx\t0.2\t100\n", `line 2: run "x"`},
		{"zero seconds", hdr + "deptool\t1\t1\t0\t100\n", `line 2: seconds "0" is not a positive number`},
		{"NaN seconds", hdr + "deptool\t1\t1\tNaN\t100\n", `line 2: seconds "NaN"`},
		{"Inf seconds", hdr + "deptool\t1\t1\t+Inf\t100\n", `line 2: seconds "+Inf"`},
		{"negative rss", hdr + "deptool\t1\t1\t0.2\t-1\n", `line 2: max_rss_kb "-1"`},
		{"blank line counted", hdr + "deptool\t1\t1\t0.2\t100\n\nansible\t1\t1\tslow\t0\n", `line 4: seconds "slow"`},
		{"duplicate", hdr + "deptool\t1\t1\t0.2\t100\ndeptool\t1\t2\t0.2\t100\ndeptool\t1\t1\t0.3\t100\n", "line 4: deptool, 1 hosts, run 1 already on line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Read: %v, want an error starting %q", err, tc.want)
			}
		})
	}
}

func TestReadAcceptsCRLFAndZeroRSS(t *testing.T) {
	in := strings.ReplaceAll(hdr+"ssh-floor\t8\t1\t0.70\t0\n", "\n", "\r\n")
	runs, err := Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Run{{Series: Floor, Hosts: 8, Run: 1, Seconds: 0.70}}
	if diff := cmp.Diff(want, runs); diff != "" {
		t.Fatalf("runs (-want +got):\n%s", diff)
	}
}

func TestReadFileNamesFileAndLine(t *testing.T) {
	name := filepath.Join(t.TempDir(), "runs.tsv")
	if err := os.WriteFile(name, []byte(hdr+"deptool\t1\t1\t0.2\t100\ndeptool\t1\t2\tfast\t100\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(name)
	if want := name + `:3: seconds "fast"`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("ReadFile: %v, want an error starting %q", err, want)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{1, 2, 10}, 2},
		{[]float64{1, 2, 4, 10}, 3},
		{[]float64{1, 2}, 1.5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func runs(t *testing.T, rows ...string) []Run {
	t.Helper()
	r, err := Read(strings.NewReader(hdr + strings.Join(rows, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSummarize(t *testing.T) {
	s := Summarize(runs(t,
		"zz-custom\t8\t1\t1\t0",
		"ssh-floor\t8\t1\t0.9\t0",
		"deptool\t8\t2\t0.4\t300",
		"deptool\t8\t1\t0.6\t100",
		"deptool\t8\t3\t0.5\t200",
		"deptool\t8\t4\t0.3\t150",
		"deptool\t1\t1\t0.2\t90",
		"aa-custom\t1\t1\t1\t0",
	))
	if diff := cmp.Diff([]int{1, 8}, s.Hosts); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{Deptool, Floor, "aa-custom", "zz-custom"}, s.Series); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
	got, ok := s.Get(Deptool, 8)
	want := Stat{N: 4, Median: 0.45, Min: 0.3, Max: 0.6, PeakRSSKB: 300}
	if !ok || math.Abs(got.Median-want.Median) > 1e-12 {
		t.Fatalf("Get(deptool, 8) = %+v, %v, want %+v", got, ok, want)
	}
	got.Median = want.Median
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deptool at 8 hosts (-want +got):\n%s", diff)
	}
	if _, ok := s.Get(Floor, 1); ok {
		t.Error("Get(ssh-floor, 1) found runs that do not exist")
	}
}

func TestRatios(t *testing.T) {
	s := Summarize(runs(t,
		"deptool\t8\t1\t0.5\t0",
		"deptool\t8\t2\t0.4\t0",
		"deptool\t8\t3\t0.9\t0",
		"ssh-floor\t8\t1\t1.0\t0",
		"ssh-floor\t8\t2\t0.8\t0",
		"ansible\t8\t1\t10\t0",
		"deptool\t1\t1\t0.2\t0",
	))
	for _, tc := range []struct {
		name string
		f    func(num, den string, hosts int) (float64, bool)
		num  string
		den  string
		host int
		want float64
		ok   bool
	}{
		{"median", s.Ratio, Deptool, Floor, 8, 0.5 / 0.9, true},
		{"best", s.BestRatio, Deptool, Floor, 8, 0.4 / 0.8, true},
		{"ansible", s.Ratio, Ansible, Deptool, 8, 10 / 0.5, true},
		{"floor missing at 1", s.Ratio, Deptool, Floor, 1, 0, false},
		{"series missing", s.Ratio, FirstContact, Deptool, 8, 0, false},
	} {
		got, ok := tc.f(tc.num, tc.den, tc.host)
		if ok != tc.ok || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: %s/%s at %d = %v, %v, want %v, %v", tc.name, tc.num, tc.den, tc.host, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPeakRSSOnlyDeptool(t *testing.T) {
	s := Summarize(runs(t,
		"deptool\t8\t1\t0.5\t1000",
		"deptool-first-contact\t8\t1\t1.1\t3000",
		"ansible\t8\t1\t10\t90000",
		"deptoolish\t8\t1\t10\t80000",
		"ssh-floor\t1\t1\t0.2\t0",
	))
	if kb, ok := s.PeakRSSKB(8); !ok || kb != 3000 {
		t.Errorf("PeakRSSKB(8) = %d, %v, want 3000, true", kb, ok)
	}
	if kb, ok := s.PeakRSSKB(1); ok {
		t.Errorf("PeakRSSKB(1) = %d, true, want none", kb)
	}
}

func TestReadEnv(t *testing.T) {
	env, err := ReadEnv(strings.NewReader("# from bench-deploy.sh\nbinary_bytes=100\n\ncpu=\"Some CPU = fast\"\n kernel = 6.1 \n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Env{{"binary_bytes", "100"}, {"cpu", "Some CPU = fast"}, {"kernel", "6.1"}}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if _, err := ReadEnv(strings.NewReader("a=1\nnot a pair\n")); err == nil || !strings.HasPrefix(err.Error(), "line 2: ") {
		t.Errorf("ReadEnv: %v, want an error on line 2", err)
	}
	if env, err := ReadEnvFile(filepath.Join(t.TempDir(), "deploy.env")); env != nil || err != nil {
		t.Errorf("ReadEnvFile of a missing file = %v, %v, want nothing", env, err)
	}
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

func summary(t *testing.T, name string) *Summary {
	t.Helper()
	r, err := ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return Summarize(r)
}

func TestWriteTableGolden(t *testing.T) {
	// small.tsv lacks some series and has one this package does not know.
	env := Env{{"binary_bytes", "9437184"}, {"cores", "2"}, {"pipe", "a|b"}}
	var buf bytes.Buffer
	if err := WriteTable(&buf, summary(t, "small.tsv"), env); err != nil {
		t.Fatal(err)
	}
	golden(t, "small.md", buf.Bytes())

	buf.Reset()
	if err := WriteTable(&buf, summary(t, "runs.tsv"), nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "runs.md", buf.Bytes())
	if strings.Contains(buf.String(), "Machine") {
		t.Error("table without deploy.env lists a machine")
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		st   Stat
		want string
	}{
		{Stat{N: 5, Median: 0.45, Min: 0.41, Max: 0.52}, "0.45 s (0.41–0.52)"},
		{Stat{N: 5, Median: 27.31, Min: 25.84, Max: 29.06}, "27.3 s (25.8–29.1)"},
		{Stat{N: 1, Median: 123.4, Min: 123.4, Max: 123.4}, "123 s"},
	} {
		if got := formatStat(tc.st); got != tc.want {
			t.Errorf("formatStat(%+v) = %q, want %q", tc.st, got, tc.want)
		}
	}
}

func TestWriteSVG(t *testing.T) {
	for _, name := range []string{"runs.tsv", "small.tsv"} {
		t.Run(name, func(t *testing.T) {
			s := summary(t, name)
			var a, b bytes.Buffer
			if err := WriteSVG(&a, s); err != nil {
				t.Fatal(err)
			}
			if err := WriteSVG(&b, s); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(a.Bytes(), []byte("<?xml")) || !bytes.Contains(a.Bytes(), []byte("</svg>")) {
				t.Fatalf("not an SVG document: %.200q", a.String())
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatal("two renders of the same runs differ")
			}
			for _, want := range []string{Title, "deptool", "ssh floor", "Ansible", "sans-serif"} {
				if !strings.Contains(a.String(), want) {
					t.Errorf("SVG lacks %q", want)
				}
			}
		})
	}
}

func TestWriteSVGOneHostCountOneSeries(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSVG(&buf, Summarize(runs(t, "custom\t4\t1\t0.3\t0"))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), ">custom<") {
		t.Error("an unknown series is missing from the legend")
	}
	if err := WriteSVG(&buf, Summarize(nil)); err == nil {
		t.Error("WriteSVG with no runs succeeded")
	}
}

func TestLogTicks(t *testing.T) {
	var labels []string
	for _, tk := range (logTicks{}).Ticks(0.1, 50) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	want := []string{"0.1", "0.2", "0.5", "1", "2", "5", "10", "20", "50"}
	if diff := cmp.Diff(want, labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	var _ plot.Ticker = logTicks{}
}

func TestNiceBounds(t *testing.T) {
	for _, tc := range []struct{ v, below, above float64 }{
		{0.17, 0.1, 0.2},
		{0.2, 0.2, 0.2},
		{3.8, 2, 5},
		{27, 20, 50},
		{60, 50, 100},
	} {
		if b, a := niceBelow(tc.v), niceAbove(tc.v); math.Abs(b-tc.below) > 1e-9 || math.Abs(a-tc.above) > 1e-9 {
			t.Errorf("niceBelow, niceAbove(%v) = %v, %v, want %v, %v", tc.v, b, a, tc.below, tc.above)
		}
	}
}
