package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fixture(t *testing.T, env bool) string {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile("../../internal/benchchart/testdata/small.tsv")
	if err != nil {
		t.Fatal(err)
	}
	tsv := filepath.Join(dir, "deploy.tsv")
	if err := os.WriteFile(tsv, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if env {
		if err := os.WriteFile(filepath.Join(dir, "deploy.env"), []byte("cores=2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tsv
}

func TestRunStdout(t *testing.T) {
	tsv := fixture(t, true)
	svg := filepath.Join(filepath.Dir(tsv), "deploy.svg")
	var stdout, stderr bytes.Buffer
	if err := run([]string{tsv, svg}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "| hosts |") || !strings.Contains(stdout.String(), "- cores: 2\n") {
		t.Errorf("stdout is not the table with the machine:\n%s", stdout.String())
	}
	if b, err := os.ReadFile(svg); err != nil || !bytes.HasPrefix(b, []byte("<?xml")) {
		t.Errorf("SVG not written: %v", err)
	}
}

func TestRunMarkdownFile(t *testing.T) {
	tsv := fixture(t, false)
	dir := filepath.Dir(tsv)
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-md", filepath.Join(dir, "deploy.md"), tsv, filepath.Join(dir, "deploy.svg")}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout with -md: %q", stdout.String())
	}
	if b, err := os.ReadFile(filepath.Join(dir, "deploy.md")); err != nil || !bytes.HasPrefix(b, []byte("| hosts |")) || bytes.Contains(b, []byte("Machine")) {
		t.Errorf("markdown file: %v\n%s", err, b)
	}
}

func TestRunErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-h"}, &stdout, &stderr); err != flag.ErrHelp || !strings.Contains(stderr.String(), "Usage: deptool-benchchart [-md FILE] TSV SVG") {
		t.Errorf("-h: %v\n%s", err, stderr.String())
	}
	stderr.Reset()
	if err := run([]string{"only.tsv"}, &stdout, &stderr); err == nil || !strings.Contains(stderr.String(), "Usage:") {
		t.Errorf("one argument: %v\n%s", err, stderr.String())
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.tsv")
	if err := os.WriteFile(bad, []byte("series\thosts\trun\tseconds\tmax_rss_kb\ndeptool\t1\t1\t0.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	svg := filepath.Join(dir, "out.svg")
	err := run([]string{bad, svg}, &stdout, &stderr)
	if want := bad + ":2: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("bad row: %v, want an error starting %q", err, want)
	}
	if _, err := os.Stat(svg); err == nil {
		t.Error("an SVG was written for a bad runs file")
	}
}
