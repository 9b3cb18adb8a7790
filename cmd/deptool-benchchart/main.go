// Command deptool-benchchart turns the runs recorded by
// scripts/bench-deploy.sh into a chart and a markdown table.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/deptool/deptool/internal/benchchart"
)

const usage = `Usage: deptool-benchchart [-md FILE] TSV SVG

Reads the benchmark runs in TSV, as written by scripts/bench-deploy.sh
(header: series, hosts, run, seconds, max_rss_kb), and writes:

  SVG   a chart of median wall time per host count for each series,
        fastest and slowest runs as error bars, both axes logarithmic;
  -md   a markdown table of medians, ranges, ratios and peak RSS
        (default: standard output).

A deploy.env beside TSV (key=value lines) is listed under the table
as the machine the runs were taken on.

The output depends only on the input, so both files can be committed
and regenerated.

Flags:
`

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == flag.ErrHelp:
		// Asked for: not a failure, as with the flag package's own exit.
	case err != nil:
		fmt.Fprintln(os.Stderr, "deptool-benchchart:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("deptool-benchchart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	md := fs.String("md", "", "write the markdown table to `FILE` instead of standard output")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return fmt.Errorf("want 2 arguments, TSV and SVG, got %d", fs.NArg())
	}
	tsv, svg := fs.Arg(0), fs.Arg(1)

	runs, err := benchchart.ReadFile(tsv)
	if err != nil {
		return err
	}
	env, err := benchchart.ReadEnvFile(filepath.Join(filepath.Dir(tsv), "deploy.env"))
	if err != nil {
		return err
	}
	s := benchchart.Summarize(runs)

	// Render both before writing either, so a failure leaves no half output.
	var chart, table bytes.Buffer
	if err := benchchart.WriteSVG(&chart, s); err != nil {
		return fmt.Errorf("%s: %w", svg, err)
	}
	if err := benchchart.WriteTable(&table, s, env); err != nil {
		return err
	}
	if err := os.WriteFile(svg, chart.Bytes(), 0o644); err != nil {
		return err
	}
	if *md != "" {
		return os.WriteFile(*md, table.Bytes(), 0o644)
	}
	_, err = stdout.Write(table.Bytes())
	return err
}
