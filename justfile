# deptool's recipes. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

staticcheck := "honnef.co/go/tools/cmd/staticcheck@v0.8.2"
deadcode := "golang.org/x/tools/cmd/deadcode@v0.52.0"

# The lab tests `test-releases` runs once per Debian release: what a
# release can change under deptool. systemd over D-Bus (deploy/systemd:
# jobs, links, daemon-reload, NeedDaemonReload, transient units for
# validation), unit lifecycles and rollbacks, sshd reloading a lockout
# away, the login session of a killed operator, the agent's upload into a
# full disk (cmd/deptool), and the lab's own hosts and faults
# (internal/lab). The rest (rollouts, busy and stale hosts, host store
# repair, the journal) is deptool's own code on any release: the suite
# runs it once, on this machine's release, and on simulated hosts. Add a
# test here to run it on every release.
release_tests := "^(TestLab|TestDeployToThreeHosts|TestBrokenConfigRollsBackOnlyThatHost|TestLateCrashIsCaughtAndRolledBack|TestUnitLifecycleAndExactRollback|TestOperatorKilledMidApplyHostFinishes|TestDaemonReloadOnlyForUnitsSystemdHasRead|TestNoUnitChangedOnDiskAfterDeploys|TestOutsideUnitFollowsEveryRollback|TestReloadKeepsMainPIDAndSeesNewConfig|TestSSHLockoutUndoneWithSSHReloaded|TestFailingValidationChangesNothing|TestAFullDiskAtFirstContactIsNotUnreachable|TestCutIsUnreachableNotRoutedOut|TestFreezeHangsThawResumes|TestStopStartKeepsTheHost|TestLimitDisk)$"
release_pkgs := "./deploy/systemd ./cmd/deptool ./internal/lab"

default:
    @just --list

# Boot three lab hosts, deploy the demo, break one host, watch it roll back.
demo: lab-deps
    scripts/demo.sh

# Build deptool and deptool-lab into bin/. deptool is stripped: it is also
# the agent uploaded to every host on first contact, 30 % smaller so; and
# static (no cgo), so it runs on hosts whose glibc is older than this
# machine's (a cgo build needs GLIBC_2.34, which Debian 11 lacks).
build:
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.commit=$(git rev-parse --short=12 HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo +changes)" -o bin/deptool ./cmd/deptool
    go build -o bin/deptool-lab ./cmd/deptool-lab

# Every test, lab included: a lab that cannot start fails the run.
test: lab-deps lab-roots lint
    DEPTOOL_REQUIRE_LAB=1 go test -count=1 -timeout 30m ./...
    # -short: the race build skips the tests that only write hundreds of
    # MiB (minutes under -race, and no concurrency of their own); the
    # suite above ran them, and fsck'd every store they made.
    go test -count=1 -race -short ./store ./diff
    just fuzz 5s
    # The whole suite above ran on Debian 12 (this machine's own root);
    # the release list adds 11 and 13, and the mixed fleet has all three.
    {{just_executable()}} test-releases bullseye trixie

# The systemd, rollback and fault lab tests on hosts of each Debian release
# (11, 12, 13; or the ones given), then one deploy to a fleet that mixes
# them. Roots are built first (about 100 s each on a fresh machine, then
# cached in /var/cache/deptool-lab/roots). CGO_ENABLED=0: the deptool (and
# test binary) the hosts run must not need a newer glibc than bullseye's.
test-releases *releases="bullseye bookworm trixie": lab-deps
    #!/usr/bin/env bash
    set -euo pipefail
    export DEPTOOL_REQUIRE_LAB=1 CGO_ENABLED=0
    {{just_executable()}} lab-roots {{releases}}
    for r in {{releases}}; do
        echo "== lab tests on $r hosts"
        DEPTOOL_LAB_RELEASE=$r go test -count=1 -timeout 15m -run '{{release_tests}}' {{release_pkgs}}
    done
    go test -count=1 -timeout 10m -run '^TestMixedReleases' ./cmd/deptool

# Run each fuzz target briefly.
fuzz time="5s":
    #!/usr/bin/env bash
    set -euo pipefail
    for pkg in ./diff ./store ./internal/ui; do
        for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
            go test -run '^$' -fuzz "^${target}\$" -fuzztime {{time}} "$pkg"
        done
    done

# gofmt, go vet and staticcheck.
lint:
    @test -z "$(gofmt -l $(git ls-files '*.go'))" || { gofmt -l $(git ls-files '*.go'); echo "run gofmt -w on these files"; exit 1; }
    go vet ./...
    go run {{staticcheck}} ./...
    @out="$(go run {{deadcode}} -test ./...)"; test -z "$out" || { echo "$out"; echo "unreachable functions: use them or delete them"; exit 1; }

# Regenerate the command reference in docs/cmd.
docs:
    rm -rf docs/cmd
    go run ./cmd/deptool gen-docs docs/cmd

# Install what the lab needs (root): the packages the hosts boot from (they
# run this machine's own root; mmdebstrap builds other releases' roots) and
# the inotify limits all hosts share.
# apt runs only when a package is missing.
lab-deps:
    #!/usr/bin/env bash
    set -euo pipefail
    pkgs="systemd-container openssh-server iproute2 nginx curl sudo opendoas git bc time mmdebstrap age netcat-openbsd"
    if ! dpkg-query -W -f='${Status}\n' $pkgs 2>/dev/null | grep -c "install ok installed" | grep -qx "$(echo $pkgs | wc -w)"; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y $pkgs
    fi
    sysctl -q -w fs.inotify.max_user_instances=8192 fs.inotify.max_user_watches=1048576

# Build the roots lab hosts of other Debian releases boot (root; in
# parallel, about 4 minutes on a fresh machine, then cached in
# /var/cache/deptool-lab/roots). Tests would build them on first use; doing
# it first keeps that out of their time limits.
lab-roots *releases="bullseye bookworm trixie":
    go run ./cmd/deptool-lab build-root {{releases}} >/dev/null

# Boot lab hosts into .lab/ (root); then: ssh -F .lab/ssh_config web1
lab-up *names="web1 web2 db1":
    go run ./cmd/deptool-lab up --state .lab {{names}}

# Stop the hosts in .lab/ and remove everything they used.
lab-down:
    go run ./cmd/deptool-lab down --state .lab

# Whole deploys on lab hosts: deptool, Ansible and the OpenSSH floor, raw
# rows in docs/performance/deploy.tsv (root; not in CI; ~20 min at defaults).
bench runs="5" *counts="1 8 32 100": lab-deps
    #!/usr/bin/env bash
    set -euo pipefail
    if ! command -v ansible-playbook >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ansible-core
    fi
    scripts/bench-deploy.sh -o docs/performance/deploy.tsv {{runs}} {{counts}}
    go run ./cmd/deptool-benchchart -md docs/performance/deploy.md docs/performance/deploy.tsv docs/performance/deploy.svg
    just bench-go

# The operator at 100, 1,000 and 10,000 simulated hosts over real SSH
# (deptool-lab sim): deploy, status, log, check and diff; wall time, CPU
# per host, peak RSS, lines. Writes docs/performance/sim.{tsv,svg,md}.
bench-sim *counts="100 1000 10000": build
    scripts/bench-sim.sh -o docs/performance/sim.tsv {{counts}}

# Planner and store benchmarks.
bench-go:
    go test -run '^$' -bench . -benchmem ./store ./diff
