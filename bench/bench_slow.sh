#!/usr/bin/env bash
# bench_slow.sh -- slow calls against the closed-loop limit.
#
#   bench/bench_slow.sh [path/to/memoscope]    (default: build/server/memoscope)
#
# Builds nothing: build first (./dev.sh test builds build/, or cmake). Starts
# memoscope on 127.0.0.1 with --delay-ms 50 --cache-scope off, so that every
# POST /calculate waits the whole delay, and drives it with wrk at 256 and
# 1024 keep-alive connections: a warm-up, then a measured run, each on a
# fresh server. wrk is closed loop, so the limit is connections / delay
# (5,120 and 20,480 req/s); the figure of merit is req/s / limit. Also:
#
#   cpu_us/req  server utime + stime (/proc/PID/stat) over the measured run
#               divided by its requests; busy% is the machine's (/proc/stat,
#               every core, everyone's load included)
#   rss         idle before any load, peak (VmHWM) and after the run, and the
#               peak growth per connection, to set against libmicrohttpd's
#               32 KiB memory pool per connection
#
# RUNS rounds (default 3), the connection counts interleaved in each round;
# the medians close the output. Each server's load runs under
# flock $BENCH_LOCK, so that benchmarks on a shared machine take turns.
# Settings (environment): RUNS=3 DURATION=10 WARMUP=2 CONNS="256 1024"
# DELAY_MS=50 WRK_THREADS=2 SERVER_ARGS="" BENCH_LOCK=/tmp/memoscope-bench.lock
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
need_pkgs wrk

bin=${1:-$root/build/server/memoscope}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-"256 1024"}
DELAY_MS=${DELAY_MS:-50}
WRK_THREADS=${WRK_THREADS:-2}
SERVER_ARGS=${SERVER_ARGS:-}
BENCH_LOCK=${BENCH_LOCK:-/tmp/memoscope-bench.lock}
MHD_POOL_KIB=8 # memoscope's default --connection-memory-bytes (MHD_OPTION_CONNECTION_MEMORY_LIMIT)
script=$root/bench/slow/post.lua

if [ ! -x "$bin" ]; then
    echo "bench_slow.sh: no memoscope at $bin; build it first" >&2
    exit 1
fi
# wrk holds one descriptor per connection.
ulimit -n "$(ulimit -Hn)"

tmp=$(mktemp -d /tmp/bench-slow.XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# ---------------------------------------------------------------- functions

# start_server: starts memoscope, sets pid and port.
start_server() {
    # shellcheck disable=SC2086 # SERVER_ARGS is a list of flags
    "$bin" --bind 127.0.0.1 --port 0 --delay-ms "$DELAY_MS" --cache-scope off \
        $SERVER_ARGS 2>"$tmp/server.log" &
    pid=$!
    port=
    local i
    for ((i = 0; i < 100; i++)); do
        port=$(sed -n 's/.* port=\([0-9]*\).*/\1/p' "$tmp/server.log" | head -1)
        [ -n "$port" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench_slow.sh: the server did not start:" >&2
    cat "$tmp/server.log" >&2
    exit 1
}

stop_server() {
    kill -TERM "$pid"
    local status=0
    wait "$pid" || status=$?
    pid=
    if [ "$status" != 0 ]; then
        echo "bench_slow.sh: the server exited $status" >&2
        cat "$tmp/server.log" >&2
        exit 1
    fi
}

kib() { awk -v k="$1" '$1 == k ":" { print $2 }' "/proc/$pid/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; } # utime + stime
busy_idle() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat; }

# field NAME LINE: the value of NAME=value in LINE.
field() { sed -n "s/.*[[:space:]]$1=\([0-9]*\).*/\1/p" <<<"$2"; }

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# one_run CONNS ROUND: a fresh server, a warm-up, a measured run; appends a
# row to $tmp/rows.
one_run() {
    local c=$1 round=$2
    start_server
    local threads
    threads=$(sed -n 's/.* threads=\([0-9]*\).*/\1/p' "$tmp/server.log" | head -1)
    local rss_idle
    rss_idle=$(kib VmRSS)
    exec 9>"$BENCH_LOCK"
    flock 9
    wrk -t"$WRK_THREADS" -c"$c" -d"${WARMUP}s" -s "$script" \
        "http://127.0.0.1:$port/calculate" >/dev/null
    local t0 b0 i0 t1 b1 i1
    t0=$(cpu_ticks)
    read -r b0 i0 < <(busy_idle)
    wrk -t"$WRK_THREADS" -c"$c" -d"${DURATION}s" -s "$script" \
        "http://127.0.0.1:$port/calculate" >"$tmp/wrk.out"
    t1=$(cpu_ticks)
    read -r b1 i1 < <(busy_idle)
    flock -u 9
    exec 9>&-
    local rss_peak rss_after
    rss_peak=$(kib VmHWM)
    rss_after=$(kib VmRSS)
    stop_server

    local r req dur errs non2xx p50 p99
    r=$(grep '^SLOW_RESULT' "$tmp/wrk.out")
    req=$(field requests "$r")
    dur=$(field duration_us "$r")
    errs=$(($(field connect "$r") + $(field read "$r") + $(field write "$r") + $(field timeout "$r")))
    non2xx=$(field non2xx "$r")
    p50=$(field p50_us "$r")
    p99=$(field p99_us "$r")
    awk -v c="$c" -v round="$round" -v req="$req" -v dur="$dur" -v errs="$errs" \
        -v non2xx="$non2xx" -v p50="$p50" -v p99="$p99" -v delay="$DELAY_MS" \
        -v ticks=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v busy=$((b1 - b0)) \
        -v idle=$((i1 - i0)) -v idle_kib="$rss_idle" -v peak_kib="$rss_peak" \
        -v after_kib="$rss_after" -v threads="$threads" 'BEGIN {
        rps = req / (dur / 1e6); limit = c * 1000 / delay
        printf "%6d %5d %7d %9.0f %7.0f %5.1f%% %7.1f %6.1f %10.1f %5.0f %7d %13d %6d %6d %9.1f\n",
            round, c, threads, rps, limit, 100 * rps / limit, p50 / 1000, p99 / 1000,
            1e6 * ticks / hz / req, 100 * busy / (busy + idle), errs + non2xx,
            idle_kib, peak_kib, after_kib, (peak_kib - idle_kib) / c
    }' >>"$tmp/rows"
}

# ------------------------------------------------------------------ runs

echo "bench_slow: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(uname -m)), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "memoscope: $bin --delay-ms $DELAY_MS --cache-scope off $SERVER_ARGS"
echo "wrk -t$WRK_THREADS -c{$CONNS} -d${DURATION}s after a ${WARMUP}s warm-up, $RUNS rounds interleaved"
echo
header=" round conns threads     req/s   limit  ratio  p50 ms p99 ms cpu_us/req busy%  errors rss KiB: idle   peak  after  KiB/conn"
echo "$header"
: >"$tmp/rows"
for ((round = 1; round <= RUNS; round++)); do
    for c in $CONNS; do
        one_run "$c" "$round"
        tail -1 "$tmp/rows"
    done
done

echo
echo "medians of $RUNS rounds (limit = connections / delay; libmicrohttpd pool = ${MHD_POOL_KIB} KiB/connection)"
for c in $CONNS; do
    rows=$(awk -v c="$c" '$2 == c' "$tmp/rows")
    med() { awk -v k="$1" '{ v = $k; sub("%", "", v); print v }' <<<"$rows" | median; }
    printf "  %5d connections: %8.0f req/s = %5.1f%% of %d; p99 %.1f ms; server %.1f µs CPU/request; machine busy %.0f%%; RSS +%.1f KiB/connection at peak (%.0f%% of the pool); errors %d\n" \
        "$c" "$(med 4)" "$(med 6)" $((c * 1000 / DELAY_MS)) "$(med 8)" "$(med 9)" "$(med 10)" \
        "$(med 15)" "$(awk -v g="$(med 15)" -v p="$MHD_POOL_KIB" 'BEGIN { print 100 * g / p }')" \
        "$(awk -v c="$c" '$2 == c { s += $11 } END { print s + 0 }' "$tmp/rows")"
done
