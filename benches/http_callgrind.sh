#!/usr/bin/env bash
# User-space instructions per HTTP request, which a busy machine does not
# move: hyper on gort (examples/hyper_server.rs, GORT_MAXPROCS=1) against
# hyper on tokio (benches/peers hyper_tokio, 1 worker), each under
# callgrind, over HTTP/1.1 (h2load --h1, 10 connections) and h2c (h2load,
# 10 connections x 10 streams). Companion of benches/http_bench.sh, whose
# wall-time figures need a quiet machine. Kernel time (syscalls, context
# switches) is not counted: see http_bench.sh's cpu/req column for it.
#
#   bash benches/http_callgrind.sh [REQUESTS] [ROUNDS]   # defaults 20000, 2
#
# Each run: start the server under valgrind, 1,000 warm-up requests, zero
# the counters (callgrind_control -z), REQUESTS requests, dump (-d); the
# figure is the dump's instruction total over REQUESTS. Needs valgrind
# (apt-get install -y valgrind) and h2load (apt-get install -y
# nghttp2-client).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-20000}
ROUNDS=${2:-2}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
for t in valgrind:valgrind callgrind_control:valgrind h2load:nghttp2-client curl:curl; do
    command -v "${t%%:*}" >/dev/null 2>&1 || { echo "http_callgrind: ${t%%:*} not found: apt-get install -y ${t#*:}" >&2; exit 1; }
done

cargo build --release --features hyper --example hyper_server >&2
cargo build --release --manifest-path benches/peers/Cargo.toml --target-dir "$CARGO_TARGET_DIR/peers" --bin hyper_tokio >&2
OUT=$(mktemp -d)
VP=""
trap '[ -n "$VP" ] && kill "$VP" 2>/dev/null; rm -rf "$OUT"' EXIT

# run NAME PROTO PORT CMD...: prints instructions per request.
run() {
    local name=$1 proto=$2 port=$3 h
    shift 3
    GORT_MAXPROCS=1 valgrind --tool=callgrind --callgrind-out-file="$OUT/$name" "$@" >/dev/null 2>&1 &
    VP=$!
    for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.3; done
    if [ "$proto" = h1 ]; then h=(--h1 -c10 -m1); else h=(-c10 -m10); fi
    h2load "${h[@]}" -n 1000 "http://127.0.0.1:$port/" >/dev/null
    callgrind_control -z "$VP" >/dev/null
    h2load "${h[@]}" -n "$N" "http://127.0.0.1:$port/" | grep -q "$N succeeded" ||
        { echo "http_callgrind: $name: not all $N requests succeeded" >&2; exit 1; }
    callgrind_control -d "$VP" >/dev/null
    kill "$VP"
    wait "$VP" 2>/dev/null || true
    VP=""
    awk -v n="$N" '/^summary:/ {s += $2} END {printf "%.0f", s / n}' "$OUT/$name.1"
    rm -f "$OUT/$name"*
}

echo "http_callgrind: $N requests per run, $ROUNDS rounds; $(uptime)"
printf '%-12s %-6s %-5s %12s\n' server proto round instr/req
port=18300
for r in $(seq "$ROUNDS"); do
    for proto in h1 h2; do
        port=$((port + 1))
        printf '%-12s %-6s %-5s %12s\n' hyper-gort "$proto" "$r" \
            "$(run gort "$proto" "$port" "$CARGO_TARGET_DIR/release/examples/hyper_server" "127.0.0.1:$port")"
        port=$((port + 1))
        printf '%-12s %-6s %-5s %12s\n' hyper-tokio "$proto" "$r" \
            "$(run tokio "$proto" "$port" "$CARGO_TARGET_DIR/peers/release/hyper_tokio" "127.0.0.1:$port" 1)"
    done
done
