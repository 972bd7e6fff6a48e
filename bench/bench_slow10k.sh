#!/usr/bin/env bash
# bench_slow10k.sh -- ten thousand waiting requests.
#
#   bench/bench_slow10k.sh [path/to/memoscope]   (default: build/server/memoscope)
#
# Builds nothing. Starts memoscope on 127.0.0.1 (--cache-scope off, so every
# call waits the whole --delay-ms 1000; --instance-bytes 0, so that no
# SlowAdder payload counts; --max-connections raised above CONNS, and no
# per-address limit: every connection comes from 127.0.0.1) and drives
# it with one long wrk run at CONNS keep-alive connections. The figures are
# taken in a steady-state window after the ramp (wrk opens its connections
# in a burst, and the first delay has to pass before the rate settles):
#
#   req/s       requests.total of /stats at the window's two ends, over its
#               length; ratio: against the closed-loop limit CONNS / delay
#   healthz     a fresh connection's GET /healthz (curl, time_total), PROBES
#               of them spread over the window: p50 and p99
#   cpu_us/req  server utime + stime over the window / its requests
#   KiB/conn    server VmRSS at the window's end less its idle RSS, / CONNS
#
# Raises the descriptor limit to what CONNS needs (wrk and the server each
# hold one per connection) where the hard limit allows, else stops. Holds
# flock $BENCH_LOCK while loading, as the other benchmarks do. One run: the
# machine is shared, say so when quoting it.
# Settings (environment): CONNS=10000 DELAY_MS=1000 RAMP_S=8 WINDOW_S=12
# PROBES=100 WRK_THREADS=2 SERVER_ARGS="--instance-bytes 0"
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
need_pkgs wrk curl

bin=${1:-$root/build/server/memoscope}
CONNS=${CONNS:-10000}
DELAY_MS=${DELAY_MS:-1000}
RAMP_S=${RAMP_S:-8}
WINDOW_S=${WINDOW_S:-12}
PROBES=${PROBES:-100}
WRK_THREADS=${WRK_THREADS:-2}
SERVER_ARGS=${SERVER_ARGS:---instance-bytes 0}
BENCH_LOCK=${BENCH_LOCK:-/tmp/memoscope-bench.lock}
script=$root/bench/slow/post.lua

need=$((CONNS + 512))
if ! ulimit -n "$need" 2>/dev/null; then
    echo "bench_slow10k.sh: $CONNS connections need $need descriptors; the hard limit is $(ulimit -Hn)" >&2
    exit 1
fi
[ -x "$bin" ] || { echo "bench_slow10k.sh: no memoscope at $bin; build it first" >&2; exit 1; }

tmp=$(mktemp -d /tmp/bench-slow10k.XXXXXX)
pid= wrkpid=
cleanup() {
    [ -n "$wrkpid" ] && kill "$wrkpid" 2>/dev/null || true
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck disable=SC2086 # SERVER_ARGS is a list of flags
"$bin" --bind 127.0.0.1 --port 0 --delay-ms "$DELAY_MS" --cache-scope off \
    --max-connections $((CONNS + 256)) --max-connections-per-ip 0 $SERVER_ARGS 2>"$tmp/server.log" &
pid=$!
port=
for ((i = 0; i < 100; i++)); do
    port=$(sed -n 's/.* port=\([0-9]*\).*/\1/p' "$tmp/server.log" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { echo "bench_slow10k.sh: the server did not start" >&2; cat "$tmp/server.log" >&2; exit 1; }

kib() { awk -v k="$1" '$1 == k ":" { print $2 }' "/proc/$pid/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
total() { curl -s "http://127.0.0.1:$port/stats" | sed -n 's/.*"requests":{[^}]*"total":\([0-9]*\).*/\1/p'; }
now() { date +%s.%N; }

echo "bench_slow10k: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "memoscope: $bin --delay-ms $DELAY_MS --cache-scope off --max-connections $((CONNS + 256)) --max-connections-per-ip 0 $SERVER_ARGS"
echo "wrk -t$WRK_THREADS -c$CONNS, window ${WINDOW_S}s after a ${RAMP_S}s ramp, $PROBES fresh /healthz probes in it"
rss_idle=$(kib VmRSS)
exec 9>"$BENCH_LOCK"
flock 9
wrk -t"$WRK_THREADS" -c"$CONNS" -d$((RAMP_S + WINDOW_S + 2))s --timeout 10s -s "$script" \
    "http://127.0.0.1:$port/calculate" >"$tmp/wrk.out" 2>&1 &
wrkpid=$!
sleep "$RAMP_S"
r0=$(total) t0=$(now) c0=$(cpu_ticks)
gap=$(awk -v w="$WINDOW_S" -v n="$PROBES" 'BEGIN { printf "%.3f", w / n }')
for ((i = 0; i < PROBES; i++)); do
    curl -s -o /dev/null -m 5 -w '%{http_code} %{time_total}\n' "http://127.0.0.1:$port/healthz" >>"$tmp/probes" || echo "000 5" >>"$tmp/probes"
    sleep "$gap"
done
r1=$(total) t1=$(now) c1=$(cpu_ticks)
rss=$(kib VmRSS)
wait "$wrkpid" || true
wrkpid=
flock -u 9
exec 9>&-

awk -v r0="$r0" -v r1="$r1" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" \
    -v hz="$(getconf CLK_TCK)" -v conns="$CONNS" -v delay="$DELAY_MS" \
    -v idle="$rss_idle" -v rss="$rss" 'BEGIN {
    rps = (r1 - r0) / (t1 - t0); limit = conns * 1000 / delay
    printf "steady state: %.0f req/s = %.1f%% of %d (connections / delay); server %.1f µs CPU/request; RSS %d KiB idle, %d KiB loaded: %.1f KiB/connection\n",
        rps, 100 * rps / limit, limit, 1e6 * (c1 - c0) / hz / (r1 - r0), idle, rss, (rss - idle) / conns
}'
sort -k2 -g "$tmp/probes" | awk '{ code[NR] = $1; t[NR] = $2; if ($1 != 200) bad++ }
    END { i50 = int(NR * 0.50 + 0.5); i99 = int(NR * 0.99 + 0.5); if (i99 < 1) i99 = 1
          printf "fresh /healthz during the load: %d probes, p50 %.1f ms, p99 %.1f ms, max %.1f ms, not 200: %d\n",
              NR, 1000 * t[i50], 1000 * t[i99], 1000 * t[NR], bad + 0 }'
grep SLOW_RESULT "$tmp/wrk.out" | sed 's/^/wrk (whole run, ramp included): /'
