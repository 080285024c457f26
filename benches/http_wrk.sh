#!/usr/bin/env bash
# HTTP hello under wrk: gort's examples/http_hello.rs against Go net/http's
# benches/go/httphello, both with 2 Ps (GOMAXPROCS / GORT_MAXPROCS), over
# loopback, in one run. Prints requests/s and latency percentiles of each.
#
#   bash benches/http_wrk.sh [DURATION] [CONNECTIONS] [ROUNDS]
#   (defaults: 10s, 100 connections, 3 rounds; needs `wrk`:
#    apt-get install -y wrk, and Go 1.27 as $GO or `go` on PATH)
#
# The servers take turns (gort, Go, gort, Go, ...) so that both see the
# same machine; wrk runs with 2 threads on the same 2 cores, as the
# servers' load generator.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-10s}
CONNS=${2:-100}
ROUNDS=${3:-3}
PROCS=${PROCS:-2}
GO=${GO:-go}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }

cargo build --release --example http_hello >&2
GORT_BIN="$CARGO_TARGET_DIR/release/examples/http_hello"
GO_BIN="$(mktemp -d)/httphello"
(cd benches/go && GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local "$GO" build -o "$GO_BIN" ./httphello) >&2

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

GORT_MAXPROCS=$PROCS "$GORT_BIN" 127.0.0.1:18080 >/dev/null & PIDS+=($!)
GOMAXPROCS=$PROCS "$GO_BIN" -addr 127.0.0.1:18081 2>/dev/null & PIDS+=($!)
for port in 18080 18081; do
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
done

# One wrk run: prints "req/s p50 p99".
run() {
    local out
    out=$(wrk -t2 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$1/")
    local rps p50 p99
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    echo "$rps $p50 $p99"
}

printf '%-6s %-5s %12s %10s %10s\n' server round req/s p50 p99
for r in $(seq "$ROUNDS"); do
    read -r rps p50 p99 < <(run 18080)
    printf '%-6s %-5s %12s %10s %10s\n' gort "$r" "$rps" "$p50" "$p99"
    read -r rps p50 p99 < <(run 18081)
    printf '%-6s %-5s %12s %10s %10s\n' go "$r" "$rps" "$p50" "$p99"
done
