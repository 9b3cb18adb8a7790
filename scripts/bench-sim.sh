#!/usr/bin/env bash
# The operator at scale, on a simulated fleet (issue 25): for each host count
# N, `deptool-lab sim` serves N hosts over real SSH on loopback, each running
# the real agent with a simulated systemd, and this script times, once each:
#
#   deploy   the first deploy of one app with an enabled unit to every host
#            (--settle 0s; the agent is installed first, as after the
#            first contact: 10,000 uploads of 10 MB would measure the disk)
#   status   offline, after a change to every host's config
#   log      the deploy just made
#   check    every host contacted: drift and health
#   diff     --stat of the pending change
#
# and, per run: wall time, user and system CPU of the operator, CPU per
# host, peak RSS, lines printed, and the load average (the machine is
# shared: say so with every figure). The record of the deploy (the store's
# refs and notes, after the last host finished) is deploy's wall time less
# the hosts' time it prints, with the plan: "plan+record".
#
# Writes OUT (default docs/performance/sim.tsv) in deptool-benchchart's
# format (series = command) and OUT's -detail.tsv with every column.
#
#   scripts/bench-sim.sh [-o OUT] [N...]        (default: 100 1000 10000)
set -euo pipefail

out=docs/performance/sim.tsv
if [ "${1:-}" = "-o" ]; then out=$2; shift 2; fi
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(100 1000 10000)
detail=${out%.tsv}-detail.tsv
root=$(pwd)
bin=$root/bin
[ -x "$bin/deptool" ] && [ -x "$bin/deptool-lab" ] || { echo "run 'just build' first" >&2; exit 1; }

# BENCH_SIM_APPEND=1 adds to the files of an earlier run (a 10,000-host
# point taken on its own).
if [ -z "${BENCH_SIM_APPEND:-}" ]; then
    printf 'series\thosts\trun\tseconds\tmax_rss_kb\n' > "$out"
    printf 'command\thosts\twall_s\tuser_s\tsys_s\tcpu_ms_per_host\tmax_rss_kb\trss_kb_per_host\tlines\tload1\tnote\n' > "$detail"
fi

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

for n in "${counts[@]}"; do
    work=$(mktemp -d /tmp/deptool-bench-sim.XXXXXX)
    "$bin/deptool-lab" sim --state "$work/sim" --hosts "$n" --agent "$bin/deptool" > "$work/sim.out" 2> "$work/sim.err" &
    sim=$!
    for _ in $(seq 600); do grep -q ready "$work/sim.out" 2>/dev/null && break; kill -0 $sim || { cat "$work/sim.err" >&2; exit 1; }; sleep 0.5; done
    export DEPTOOL_STORE=$work/.deptool DEPTOOL_SSH_CONFIG=$work/sim/ssh_config NO_COLOR=1
    cd "$work"
    "$bin/deptool" init prod > /dev/null
    for ((i = 0; i < n; i++)); do
        h=$(printf 'h%05d' "$i")
        mkdir -p "prod/$h/app/systemd"
        printf 'x=%d\n' "$i" > "prod/$h/app/conf"
        printf '[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n' > "prod/$h/app/systemd/app.service"
        printf '{"systemd": {"units_enabled": ["app.service"]}}\n' > "prod/$h/app/manifest.json"
    done
    measure() { # name note args...
        local name=$1 note=$2; shift 2
        local load; load=$(cut -d' ' -f1 /proc/loadavg)
        /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$bin/deptool" "$@" > "$work/out.$name" 2>&1 || true
        read -r wall user sys rss < <(tail -1 "$work/time")
        local lines; lines=$(wc -l < "$work/out.$name")
        local cpu; cpu=$(echo "($user + $sys) * 1000 / $n" | bc -l)
        local per; per=$(echo "$rss / $n" | bc -l)
        printf '%s\t%d\t1\t%s\t%s\n' "$name" "$n" "$wall" "$rss" >> "$out"
        printf '%s\t%d\t%s\t%s\t%s\t%.2f\t%s\t%.1f\t%s\t%s\t%s\n' "$name" "$n" "$wall" "$user" "$sys" "$cpu" "$rss" "$per" "$lines" "$load" "$note" >> "$detail"
        echo "$name $n: ${wall}s wall, ${user}s user, ${sys}s sys, $(printf %.2f "$cpu") ms CPU/host, ${rss} KB, $lines lines, load $load" >&2
    }
    measure deploy "" deploy --yes --settle 0s --confirm-timeout 120s prod
    hosts_s=$(grep -o 'hosts in [0-9.ms]*' "$work/out.deploy" | tail -1 | sed 's/hosts in //')
    summary=$(grep -m1 '^Deployed' "$work/out.deploy" || echo "no summary")
    sed -i "\$s/\$/${summary//\//\\/} (hosts' time $hosts_s)/" "$detail"
    for ((i = 0; i < n; i++)); do printf 'x=%d changed\n' "$i" > "prod/$(printf 'h%05d' "$i")/app/conf"; done
    measure status "" status prod
    measure log "" log -n 1
    measure check "" check prod
    measure diff "" diff --stat prod
    kill $sim; wait $sim 2>/dev/null || true
    cd "$root"
    rm -rf "$work"
done
go run ./cmd/deptool-benchchart -md "${out%.tsv}.md" "$out" "${out%.tsv}.svg"
