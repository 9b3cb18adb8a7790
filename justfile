# deptool's recipes. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

staticcheck := "honnef.co/go/tools/cmd/staticcheck@v0.8.2"

default:
    @just --list

# Build deptool and deptool-lab into bin/.
build:
    go build -o bin/deptool ./cmd/deptool
    go build -o bin/deptool-lab ./cmd/deptool-lab

# Every test, lab included: a lab that cannot start fails the run.
test: lab-deps lint
    DEPTOOL_REQUIRE_LAB=1 go test -count=1 -timeout 20m ./...
    go test -count=1 -race ./store ./diff
    just fuzz 5s

# Run each fuzz target briefly.
fuzz time="5s":
    #!/usr/bin/env bash
    set -euo pipefail
    for pkg in ./diff ./store; do
        for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
            go test -run '^$' -fuzz "^${target}\$" -fuzztime {{time}} "$pkg"
        done
    done

# gofmt, go vet and staticcheck.
lint:
    @test -z "$(gofmt -l $(git ls-files '*.go'))" || { gofmt -l $(git ls-files '*.go'); echo "run gofmt -w on these files"; exit 1; }
    go vet ./...
    go run {{staticcheck}} ./...

# Regenerate the command reference in docs/cmd.
docs:
    rm -rf docs/cmd
    go run ./cmd/deptool gen-docs docs/cmd

# Planner and store benchmarks.
bench-go:
    go test -run '^$' -bench . -benchmem ./store ./diff
