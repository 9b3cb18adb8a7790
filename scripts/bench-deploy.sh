#!/usr/bin/env bash
# Whole-deploy benchmark on lab hosts (issue 8). For each host count N it
# boots N fresh lab hosts (bench1..benchN) and times, RUNS times each:
#
#   deptool                 steady-state `deptool deploy --yes --settle 0s`:
#                           one changed file per host in an app whose unit is
#                           enabled, so every host restarts it
#   deptool-noconfirm       the same with --confirm-timeout 0s (no second
#                           SSH connection per host)
#   deptool-settle          the same with the default settle window
#   ansible                 scripts/bench/playbook.yml doing the same: copy
#                           the file (and unit), a handler restarts the unit
#   ssh-floor               `ssh -F cfg HOST true` to all N hosts in parallel
#   deptool-first-contact   a deploy to hosts that have never seen deptool
#                           (agent upload included), --settle 0s
#
# Raw rows go to a TSV file (series, hosts, run, seconds, max_rss_kb); the
# machine, versions and binary size to deploy.env next to it. Root only;
# `just bench` installs what it needs first.
#
# Each boot's wall time and the memory the N hosts took (MemAvailable
# before and after) are written to deploy.env as lab_boot_N.
#
# Every timed run starts BENCH_PAUSE seconds (default 11) after the hosts'
# last login: logind stops a user's systemd manager 10 s after their last
# session ends (UserStopDelaySec), and the next login starts it again, which
# costs a host about 100 ms of CPU, more than the login itself. Without the
# pause a run pays that start or not depending on how long the run before
# it took; with it every run pays it, as a deploy minutes after the last
# one does. BENCH_PAUSE=0 measures with the managers still running.
#
# Where the CPU went is written next to the TSV, as deploy-cpu.tsv: per
# run, the CPU time the lab's hosts used (their cgroups) and the rest of
# the machine (the operator's side: deptool, ssh, Ansible).
#
# BENCH_SERIES="deptool ssh-floor" measures only those series (default:
# all of the above), for a quick point at a large N; it may also name
# deptool-all-at-once, the deptool series with --parallel N (every host at
# once instead of the default 32).
#
# Usage: scripts/bench-deploy.sh [-o FILE] [RUNS] [N...]
#        (default: $BENCH_OUT or docs/performance/deploy.tsv, 5 runs, N = 1 8 32 100)
set -euo pipefail
export LC_ALL=C.UTF-8 # '.' as the decimal point in EPOCHREALTIME and awk; UTF-8 for Ansible

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
out=${BENCH_OUT:-docs/performance/deploy.tsv}
while getopts o:h opt; do
    case $opt in
    o) out=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
runs=${1:-5}
shift || true
counts=${*:-1 8 32 100}
pause=${BENCH_PAUSE:-11}
series=${BENCH_SERIES:-deptool deptool-noconfirm deptool-settle deptool-first-contact ansible ssh-floor}
[[ $runs =~ ^[1-9][0-9]*$ && $pause =~ ^[0-9]+$ ]] || usage
for n in $counts; do [[ $n =~ ^[1-9][0-9]*$ ]] || usage; done

out=$(realpath -m "$out") # before the cd below
cpu_out=$(dirname "$out")/deploy-cpu.tsv
top=$(cd "$(dirname "$0")/.." && pwd)
bench=$top/scripts/bench
work=$(mktemp -d /tmp/deptool-bench.XXXXXX)
lab=$work/lab     # the lab's state; hosts are rebooted fresh for each N
cfg=$lab/ssh_config
op=$work/op       # the operator's directory: store and config tree
log=$work/out     # output of the last measured command
export DEPTOOL_SSH_CONFIG=$cfg DEPTOOL_STORE=$op/.deptool PATH=$top/bin:$PATH
export ANSIBLE_CONFIG=$bench/ansible.cfg ANSIBLE_LOCAL_TEMP=$work/ansible-tmp

# The lab goes down on any exit, failures included: its hosts hold mounts,
# network namespaces and cgroups until then.
cleanup() {
    "$top/bin/deptool-lab" down --state "$lab" >/dev/null 2>&1 || true
    close_ansible_masters
    rm -rf "$work"
}
trap cleanup EXIT

die() { echo "bench: $*" >&2; exit 1; }

# build uses the justfile's build recipe when just is there, so the binary
# measured (and its size) is the one the project builds; the fallback is
# that recipe's plain command.
build() {
    cd "$top"
    if command -v just >/dev/null; then
        just build
    else
        go build -trimpath -ldflags='-s -w' -o bin/deptool ./cmd/deptool
        go build -o bin/deptool-lab ./cmd/deptool-lab
    fi
}

# describe_machine writes deploy.env: what the figures were measured with.
describe_machine() {
    {
        echo "binary_bytes=$(stat -c %s "$top/bin/deptool")"
        echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
        echo "cores=$(nproc)"
        echo "kernel=$(uname -r)"
        echo "ansible=$(ansible --version 2>/dev/null | sed -n 1p)"
        echo "openssh=$(ssh -V 2>&1)"
        echo "go=$(go version)"
    } >"$(dirname "$out")/deploy.env"
}

# ---- measuring ----------------------------------------------------------

# measure SERIES RUN CMD...: time one run of CMD and append its row. A
# program runs under /usr/bin/time for its peak RSS; a shell function (the
# ssh floor) has no single operator process, so its RSS is recorded as 0.
# %M is the largest single process of the command and its children, so for
# ansible-playbook it is its biggest process, not the sum of its forks.
# A run that fails stops the benchmark: it is never recorded as a time.
measure() {
    local series=$1 run=$2 t0 t1 rss=0 hosts0 all0
    shift 2
    sleep "$pause"
    hosts0=$(hosts_cpu_us) all0=$(machine_cpu_us)
    t0=$EPOCHREALTIME
    if [[ $(type -t "$1") == function ]]; then
        "$@" >"$log" 2>&1 || fail "$series" "$@"
    else
        /usr/bin/time -f %M -o "$work/rss" "$@" >"$log" 2>&1 || fail "$series" "$@"
        rss=$(tail -1 "$work/rss")
    fi
    t1=$EPOCHREALTIME
    local hosts_us=$(($(hosts_cpu_us) - hosts0)) all_us=$(($(machine_cpu_us) - all0))
    printf '%s\t%s\t%s\t%.3f\t%.3f\n' "$series" "$n" "$run" \
        "$(awk -v u=$hosts_us 'BEGIN { print u / 1e6 }')" "$(awk -v u=$((all_us - hosts_us)) 'BEGIN { print u / 1e6 }')" >>"$cpu_out"
    local secs
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    printf '%s\t%s\t%s\t%s\t%s\n' "$series" "$n" "$run" "$secs" "$rss" >>"$out"
    printf '%-22s %2d hosts  run %d  %7.3f s  %6d KiB\n' "$series" "$n" "$run" "$secs" "$rss"
}

# hosts_cpu_us is the CPU time, in microseconds, every process of the
# lab's hosts has used: the sum over their cgroup v2 groups (from the lab's
# state), which keep counting for processes that have ended.
hosts_cpu_us() {
    grep -o '"/sys/fs/cgroup/[^"]*"' "$lab/state.json" | tr -d '"' | sort -u |
        while read -r g; do [[ -f $g/cpu.stat ]] && cat "$g/cpu.stat"; done |
        awk '$1 == "usage_usec" { s += $2 } END { printf "%.0f\n", s }'
}

# machine_cpu_us is the CPU time the whole machine has been busy, in
# microseconds (user, nice, system, irq and softirq from /proc/stat).
machine_cpu_us() {
    awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.0f\n", ($2 + $3 + $4 + $7 + $8) * 1e6 / hz }' /proc/stat
}

fail() {
    local series=$1
    shift
    echo "bench: $series with $n hosts failed: $*" >&2
    cat "$log" >&2
    exit 1
}

# ---- lab hosts ----------------------------------------------------------

hosts=()

# boot starts N fresh hosts and records what that cost: wall time, and the
# memory they hold once running (MemAvailable before and after).
boot() {
    mapfile -t hosts < <(seq -f 'bench%g' 1 "$n")
    "$top/bin/deptool-lab" down --state "$lab" >/dev/null 2>&1 || true
    local t0 m0 m1
    t0=$EPOCHREALTIME
    m0=$(awk '/^MemAvailable/ { print $2 }' /proc/meminfo)
    "$top/bin/deptool-lab" up --timeout 5m --state "$lab" "${hosts[@]}" >"$work/lab.log" 2>&1 ||
        { cat "$work/lab.log" >&2; die "lab up failed"; }
    m1=$(awk '/^MemAvailable/ { print $2 }' /proc/meminfo)
    local secs mib own
    secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    mib=$(((m0 - m1) / 1024))
    own=$(lab_memory)
    echo "lab_boot_$n=${secs}s,${own}MiB,available_dropped_${mib}MiB" >>"$(dirname "$out")/deploy.env"
    echo "lab: $n hosts booted in $secs s; their processes and overlays hold $own MiB (MemAvailable fell by $mib MiB, other users of the machine included)"
    tail -1 "$work/lab.log"
}

# lab_memory is what the lab's hosts hold, in MiB: the proportional set
# size of every process in their cgroups (from the lab's state) plus their
# overlays' upper directories on tmpfs. MemAvailable alone would count
# whatever else the machine did meanwhile.
lab_memory() {
    local kb=0 p
    for p in $(grep -o '"/sys/fs/cgroup/unified/[^"]*"' "$lab/state.json" | tr -d '"' | sort -u |
        xargs -I{} find {} -name cgroup.procs -exec cat {} + 2>/dev/null); do
        kb=$((kb + $(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)))
    done
    local shm
    shm=$(grep -o '"work": *"[^"]*"' "$lab/state.json" | sed 's/.*"\([^"]*\)"$/\1/')
    # Only the upper directories: each host's root under it is the overlay
    # mount itself, the whole machine's file system.
    [[ -n $shm && -d $shm ]] && kb=$((kb + $(du -skc "$shm"/*/upper 2>/dev/null | tail -1 | cut -f1)))
    echo $((kb / 1024))
}

# want SERIES: whether BENCH_SERIES asks for it.
want() { [[ " $series " == *" $1 "* ]]; }

# on_all CMD: run a shell command on every host in parallel; all must succeed.
on_all() {
    local h pids=() bad=0
    for h in "${hosts[@]}"; do
        ssh -F "$cfg" "$h" "$1" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || bad=1; done
    return $bad
}

# ssh_floor is what OpenSSH alone costs: one `true` per host, all at once.
ssh_floor() { on_all true; }

# forget_deptool puts every host back to never having seen deptool: no
# agent, no host store, no bench unit (stopped, unlinked, reloaded).
forget_deptool() {
    on_all 'systemctl disable --now bench-app.service >/dev/null 2>&1 || true
        rm -f /etc/systemd/system/bench-app.service /etc/systemd/system/*.wants/bench-app.service
        rm -rf /var/lib/deptool
        systemctl daemon-reload && systemctl reset-failed'
}

# ---- deptool ------------------------------------------------------------

# new_store starts the operator afresh: a new store (deptool init) and a
# tree with the bench app on every host.
new_store() {
    rm -rf "$op" && mkdir -p "$op" && cd "$op"
    deptool init prod >/dev/null
    local h
    for h in "${hosts[@]}"; do
        mkdir -p "prod/$h"
        cp -r "$bench/app" "prod/$h/bench"
    done
    change_conf initial
}

# change_conf VALUE: the one file that changes on every host.
change_conf() {
    local h
    for h in "${hosts[@]}"; do echo "$1 $h" >"$op/prod/$h/bench/app.conf"; done
}

# deployed checks the last deploy really deployed every host: exit status
# 0 also covers "Nothing to deploy", which would time nothing.
deployed() {
    grep -q "^Deployed $n of $n hosts" "$log" ||
        { cat "$log" >&2; die "deptool did not deploy all $n hosts"; }
}

# ---- Ansible ------------------------------------------------------------

# write_inventory makes the inventory from the lab's hosts, reached through
# the lab's ssh_config like deptool, and the playbook command line.
play=()
write_inventory() {
    {
        echo "[bench]"
        printf '%s\n' "${hosts[@]}"
        echo
        echo "[bench:vars]"
        echo "ansible_user=root"
        echo "ansible_ssh_common_args='-F $cfg'"
    } >"$work/inventory"
    play=(ansible-playbook -i "$work/inventory" --forks "$n" "$bench/playbook.yml")
}

# new_control_dir RUN gives each playbook run a ControlPath directory of its
# own, and close_ansible_masters ends its multiplexing masters after it:
# with Ansible's ControlPersist=60s a run would otherwise reuse the previous
# run's connections, which no real deploy minutes apart gets.
ansible_dir=
new_control_dir() {
    ansible_dir=$work/cp-$1
    mkdir -p "$ansible_dir"
    export ANSIBLE_SSH_CONTROL_PATH_DIR=$ansible_dir
}

# handler_ran checks the last playbook restarted the unit on every host.
handler_ran() {
    local restarted
    restarted=$(sed -n '/RUNNING HANDLER/,/PLAY RECAP/p' "$log" | grep -c '^changed:' || true)
    ((restarted == n)) || { cat "$log" >&2; die "Ansible's handler ran on $restarted of $n hosts"; }
}

close_ansible_masters() {
    local s
    [[ -n $ansible_dir && -d $ansible_dir ]] || return 0
    for s in "$ansible_dir"/*; do
        if [[ -S $s ]]; then ssh -o ControlPath="$s" -O exit dummy >/dev/null 2>&1 || true; fi
    done
    ansible_dir=
}

# ---- the benchmark ------------------------------------------------------

# first_contact: each run on hosts that have never seen deptool, from a
# fresh store. The hosts stay booted (booting N hosts per run would take
# longer than the runs); forget_deptool wipes what deptool left instead.
first_contact() {
    local r
    for r in $(seq 1 "$runs"); do
        ((r == 1)) || forget_deptool || die "could not wipe deptool from the hosts"
        new_store
        if want deptool-first-contact; then
            measure deptool-first-contact "$r" deptool deploy --yes --settle 0s
        else
            deptool deploy --yes --settle 0s >"$log" 2>&1 || fail first-contact deptool deploy
            deployed
            return
        fi
        deployed
    done
}

# steady: the interleaved series, each run of each on a new config value.
# The operator store is the one the last first contact left.
steady() {
    local r
    write_inventory
    # Warm-up, untimed: caches on both sides, Ansible's first copy of the unit.
    change_conf warmup
    deptool deploy --yes --settle 0s >"$log" 2>&1 || fail warm-up deptool deploy
    if want ansible; then
        new_control_dir 0
        "${play[@]}" -e bench_value=warmup >"$log" 2>&1 || fail warm-up "${play[@]}"
        close_ansible_masters
    fi
    for r in $(seq 1 "$runs"); do
        if want deptool; then
            change_conf "deptool $r"
            measure deptool "$r" deptool deploy --yes --settle 0s
            deployed
        fi
        if want deptool-noconfirm; then
            change_conf "deptool-noconfirm $r"
            measure deptool-noconfirm "$r" deptool deploy --yes --settle 0s --confirm-timeout 0s
            deployed
        fi
        if want deptool-all-at-once; then
            change_conf "deptool-all-at-once $r"
            measure deptool-all-at-once "$r" deptool deploy --yes --settle 0s --parallel "$n"
            deployed
        fi
        if want deptool-settle; then
            change_conf "deptool-settle $r"
            measure deptool-settle "$r" deptool deploy --yes
            deployed
        fi
        if want ansible; then
            new_control_dir "$r"
            measure ansible "$r" "${play[@]}" -e "bench_value=ansible-$r"
            handler_ran
            close_ansible_masters
        fi
        if want ssh-floor; then
            measure ssh-floor "$r" ssh_floor
        fi
    done
}

# summary prints each series' median, range and peak RSS from the TSV.
summary() {
    echo
    printf '%-22s %5s  %8s  %-15s  %s\n' series hosts median min-max peak-RSS
    tail -n +2 "$out" | sort -t$'\t' -k1,1 -k2,2n -k4,4n | awk -F'\t' '
        function flush() {
            if (k) printf "%-22s %5d  %7.3fs  %6.3f-%-7.3f  %4.0f MB\n", s, h,
                (k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2), v[1], v[k], rss / 1024
        }
        $1 != s || $2 != h { flush(); s = $1; h = $2; k = 0; rss = 0 }
        { v[++k] = $4; if ($5 > rss) rss = $5 }
        END { flush() }'
    echo
    printf '%-22s %5s  %s\n' series hosts 'CPU per host (medians): on the hosts, elsewhere'
    local key
    for key in $(tail -n +2 "$cpu_out" | cut -f1,2 | tr '\t' : | sort -t: -k1,1 -k2,2n -u); do
        printf '%-22s %5d  %4.0f ms, %4.0f ms\n' "${key%:*}" "${key#*:}" \
            "$(cpu_median "$key" 4)" "$(cpu_median "$key" 5)"
    done
}

# cpu_median SERIES:HOSTS COLUMN: the median of that column of deploy-cpu.tsv
# over the runs of that series, in milliseconds per host.
cpu_median() {
    local series=${1%:*} hosts=${1#*:}
    awk -F'\t' -v s="$series" -v h="$hosts" '$1 == s && $2 == h { print 1000 * $'"$2"' / h }' "$cpu_out" | sort -n |
        awk '{ v[++k] = $1 } END { print k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2 }'
}

main() {
    if want ansible; then
        command -v ansible-playbook >/dev/null || die "ansible-playbook not found: apt-get install ansible-core"
    fi
    build
    mkdir -p "$(dirname "$out")"
    describe_machine
    echo "deptool binary: $(stat -c %s "$top/bin/deptool") bytes; $runs runs; hosts: $counts; rows to $out"
    # The file is rewritten; rows are added as they are measured, so a run
    # cut short keeps what it got.
    printf 'series\thosts\trun\tseconds\tmax_rss_kb\n' >"$out"
    printf 'series\thosts\trun\thosts_cpu_s\toperator_cpu_s\n' >"$cpu_out"
    for n in $counts; do
        boot
        first_contact
        steady
        "$top/bin/deptool-lab" down --state "$lab" >/dev/null
    done
    summary
}

main
