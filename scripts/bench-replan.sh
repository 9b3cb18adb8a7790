#!/usr/bin/env bash
# Re-plan of the 1,000-host tree (200,000 files) as a whole process, side
# by side with `git status --porcelain` on the same files in a Git work
# tree: the floor for "find out what changed" that every operator knows.
# Both run interleaved, RUNS times each, after one untimed run of each to
# warm the page cache; each line is wall, user and system time and peak
# RSS from /usr/bin/time.
#
# The tree and the deptool store are the ones the planner benchmark builds
# (2-3 minutes, once) in DIR; the Git index is built beside them (about a
# minute, once) with its git dir outside the work tree, so deptool's walk
# sees the same directory as git's.
#
# Usage: scripts/bench-replan.sh DIR [RUNS]   (default 5 runs)
set -euo pipefail
export LC_ALL=C
dir=${1:?usage: scripts/bench-replan.sh DIR [RUNS]}
runs=${2:-5}
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$(realpath "$dir")

if [[ ! -e $dir/ready ]]; then
    echo "building the 1,000-host tree in $dir (once)..."
    (cd "$top" && DEPTOOL_BENCH_REPLAN_DIR=$dir go test -run '^$' -bench Replan1000 -benchtime 1x ./diff >/dev/null)
fi
export GIT_DIR=$dir/git GIT_WORK_TREE=$dir/prod DEPTOOL_STORE=$dir/.deptool
if [[ ! -e $GIT_DIR/index ]]; then
    echo "building the Git index of the same files (once)..."
    git init -q
    git add -A
    git -c user.name=bench -c user.email=bench@localhost commit -qm tree
fi
bin=$(mktemp -d)/deptool
trap 'rm -rf "$(dirname "$bin")"' EXIT
(cd "$top" && go build -trimpath -ldflags='-s -w' -o "$bin" ./cmd/deptool)

"$bin" deploy --plan-only "$dir/prod" | grep -q 'Nothing to deploy' || { echo "the tree has changes: not a re-plan" >&2; exit 1; }
git status --porcelain >/dev/null
for r in $(seq 1 "$runs"); do
    /usr/bin/time -f "deptool deploy --plan-only  run $r  %e s wall  %U s user  %S s sys  %M KiB" "$bin" deploy --plan-only "$dir/prod" >/dev/null
    /usr/bin/time -f "git status --porcelain      run $r  %e s wall  %U s user  %S s sys  %M KiB" git status --porcelain >/dev/null
done
