#!/usr/bin/env bash
# Whole-deploy benchmark on lab hosts: first contact (agent upload), steady
# state (one changed file per host), and the OpenSSH floor (`ssh host true`
# to the same hosts in parallel), for each host count given. Root only.
# Usage: scripts/bench-deploy.sh [RUNS] [N...]   (default: 5 runs, N = 1 8)
set -euo pipefail
runs=${1:-5}; shift || true
counts=${*:-1 8}
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/deptool-bench.XXXXXX)
trap '"$top/bin/deptool-lab" down --state "$work/lab" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
cd "$top" && go build -o bin/deptool ./cmd/deptool && go build -o bin/deptool-lab ./cmd/deptool-lab

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
minmax() { sort -n | awk 'NR==1{min=$1} {max=$1} END {printf "%.3f-%.3f", min, max}'; }

echo "binary size: $(stat -c %s bin/deptool) bytes"
printf '%-6s %-12s %-10s %-14s %-10s %-14s %-6s %s\n' hosts first-contact deploy-p50 deploy-min-max floor-p50 floor-min-max ratio peak-rss-MB
for n in $counts; do
    hosts=$(seq -f 'bench%g' 1 "$n")
    "$top/bin/deptool-lab" up --state "$work/lab" $hosts >/dev/null 2>&1
    cfg=$work/lab/ssh_config
    rm -rf "$work/op" && mkdir -p "$work/op" && cd "$work/op"
    export DEPTOOL_SSH_CONFIG=$cfg DEPTOOL_STORE=$work/op/.deptool
    "$top/bin/deptool" init prod >/dev/null
    for h in $hosts; do mkdir -p prod/$h/app && echo "v0" > prod/$h/app/app.conf; done
    t=$(now); "$top/bin/deptool" deploy --yes >/dev/null 2>&1; first=$(echo "$(now) - $t" | bc)
    : > deploys; : > floors; : > rss
    for r in $(seq 1 "$runs"); do
        for h in $hosts; do echo "v$r" > prod/$h/app/app.conf; done
        t=$(now); /usr/bin/time -f %M -a -o rss "$top/bin/deptool" deploy --yes >/dev/null 2>&1; echo "$(now) - $t" | bc >> deploys
        t=$(now)
        for h in $hosts; do ssh -F "$cfg" "$h" true & done; wait
        echo "$(now) - $t" | bc >> floors
    done
    d=$(median < deploys); f=$(median < floors)
    printf '%-6s %-12.3f %-10.3f %-14s %-10.3f %-14s %-6.2f %d\n' "$n" "$first" "$d" "$(minmax < deploys)" "$f" "$(minmax < floors)" "$(echo "$d / $f" | bc -l)" "$(( $(sort -n rss | tail -1) / 1024 ))"
    cd "$top"
    "$top/bin/deptool-lab" down --state "$work/lab" >/dev/null
done
