#!/usr/bin/env bash
# bench_redis.sh -- the shared scope's hit path on Redis, against the
# in-memory shared scope and against redis-benchmark.
#
#   bench/bench_redis.sh [path/to/memoscope]    (default: build/server/memoscope)
#
# Builds nothing. Starts a private redis-server on a free loopback port (no
# persistence). Each round runs, side by side on the same machine:
#
#   memory   memoscope --cache-scope shared (in-process cache)
#   redis    memoscope --cache-scope shared --cache-backend redis
#   get      redis-benchmark -t get -P 1 at the same concurrency
#
# memoscope runs with --delay-ms 0 and the 100 keys of calculate.lua's
# keys=10 warmed first, so every measured request is a hit; wrk -t1 drives
# CONNS keep-alive connections for DURATION s. Figures per run: req/s,
# server CPU per request (utime + stime from /proc/PID/stat over the run),
# Redis CPU per request, and for the redis run the commands and round trips
# (writes to Redis, each a pipeline) per request from /stats, and Redis's
# own reads per request (INFO stats total_reads_processed). RUNS rounds
# (default 3), interleaved; the medians and their ratios close the output.
# Everything runs under flock $BENCH_LOCK so that benchmarks on a shared
# machine take turns. On 2 cores wrk, memoscope and Redis share the CPUs.
# Settings (environment): RUNS=3 DURATION=8 CONNS=64 THREADS=2
# BENCH_LOCK=/tmp/memoscope-bench.lock
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
need_pkgs wrk redis-server redis-tools

bin=${1:-$root/build/server/memoscope}
RUNS=${RUNS:-3}
DURATION=${DURATION:-8}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
BENCH_LOCK=${BENCH_LOCK:-/tmp/memoscope-bench.lock}
script=$root/loadtest/calculate.lua
[ -x "$bin" ] || { echo "bench_redis.sh: no memoscope at $bin; build it first" >&2; exit 1; }

tmp=$(mktemp -d /tmp/bench-redis.XXXXXX)
pid= rpid=
cleanup() {
    for p in $pid $rpid; do
        if kill -0 "$p" 2>/dev/null; then
            kill -TERM "$p"
            wait "$p" 2>/dev/null || true
        fi
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, clock ticks
hz=$(getconf CLK_TCK)
figure() { curl -s "http://127.0.0.1:$port/stats" | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# Redis's own count of the reads it made from its clients' sockets (INFO
# stats total_reads_processed): the round trips as Redis sees them, beside
# the writes memoscope counts (two of our writes read at once count once).
redis_reads() { redis-cli -p "$rport" info stats | awk -F: '/^total_reads_processed:/ {print $2 + 0}'; }

rport=$(free_port)
redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no --daemonize no \
    >"$tmp/redis.log" 2>&1 &
rpid=$!
for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done

# start_server ARGS...: memoscope on a free port; sets pid and port.
start_server() {
    port=$(free_port)
    "$bin" --bind 127.0.0.1 --port "$port" --cache-scope shared --delay-ms 0 --threads "$THREADS" \
        "$@" >"$tmp/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
    if [ "$*" != "" ]; then
        for _ in $(seq 200); do figure 'd["backend"]["connected"]' | grep -q True && break; sleep 0.05; done
    fi
    for a in $(seq 0 9); do for b in $(seq 0 9); do # warm every key: the run is all hits
        curl -s -d "{\"a\":$a,\"b\":$b}" "http://127.0.0.1:$port/calculate" >/dev/null
    done; done
}

stop_server() {
    kill -TERM "$pid"
    wait "$pid" || { echo "bench_redis.sh: memoscope did not exit 0" >&2; exit 1; }
    pid=
}

# run_wrk KIND: one measured wrk run against the server; prints a result line.
run_wrk() {
    local kind=$1 s0 r0 c0 t0 g0 s1 r1 c1 t1 g1 reqs
    s0=$(ticks "$pid") r0=$(ticks "$rpid")
    if [ "$kind" = redis ]; then
        c0=$(figure 'd["backend"]["commands"]') t0=$(figure 'd["backend"]["round_trips"]')
        g0=$(redis_reads)
    fi
    flock "$BENCH_LOCK" wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$script" "http://127.0.0.1:$port" \
        -- keys=10 >"$tmp/wrk.txt" 2>&1
    s1=$(ticks "$pid") r1=$(ticks "$rpid")
    reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
    local rps
    rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt")
    local extra=""
    if [ "$kind" = redis ]; then
        c1=$(figure 'd["backend"]["commands"]') t1=$(figure 'd["backend"]["round_trips"]')
        g1=$(redis_reads)
        extra=$(awk -v c=$((c1 - c0)) -v t=$((t1 - t0)) -v g=$((g1 - g0)) -v n="$reqs" \
            'BEGIN {printf "commands/req %.3f round_trips/req %.3f redis_reads/req %.3f", c / n, t / n, g / n}')
    fi
    awk -v k="$kind" -v rps="$rps" -v n="$reqs" -v s=$((s1 - s0)) -v r=$((r1 - r0)) -v hz="$hz" -v x="$extra" \
        'BEGIN {printf "%-7s req/s %9.0f  server_cpu_us/req %6.2f  redis_cpu_us/req %6.2f  %s\n", k, rps, s * 1e6 / hz / n, r * 1e6 / hz / n, x}'
}

run_get() {
    local r0 r1 n=$((CONNS * 5000)) out rps
    r0=$(ticks "$rpid")
    out=$(flock "$BENCH_LOCK" redis-benchmark -p "$rport" -t get -c "$CONNS" -n "$n" -P 1 -d 8 --csv)
    r1=$(ticks "$rpid")
    rps=$(echo "$out" | awk -F'"' '$2 == "GET" {print $4}') # "GET","rps",...
    awk -v rps="$rps" -v r=$((r1 - r0)) -v hz="$hz" -v n="$n" \
        'BEGIN {printf "get     req/s %9.0f  server_cpu_us/req %6s  redis_cpu_us/req %6.2f  (redis-benchmark -t get -P 1)\n", rps, "-", r * 1e6 / hz / n}'
}

echo "bench_redis.sh: $(nproc) CPUs (shared with whatever else runs), wrk -t1 -c$CONNS -d${DURATION}s, memoscope --threads $THREADS, $RUNS rounds"
for round in $(seq "$RUNS"); do
    start_server
    run_wrk memory | tee -a "$tmp/results"
    stop_server
    start_server --cache-backend redis --redis-url "redis://127.0.0.1:$rport/0" --redis-prefix bench:
    run_wrk redis | tee -a "$tmp/results"
    stop_server
    run_get | tee -a "$tmp/results"
done

python3 - "$tmp/results" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    d = {f[i]: f[i + 1] for i in range(1, len(f) - 1, 2)}
    rows.setdefault(f[0], []).append(d)
def med(kind, key):
    v = [float(d[key]) for d in rows.get(kind, []) if key in d and d[key] != "-"]
    return statistics.median(v) if v else float("nan")
m, r, g = med("memory", "req/s"), med("redis", "req/s"), med("get", "req/s")
print(f"medians: memory {m:.0f} req/s, redis {r:.0f} req/s, redis-benchmark get {g:.0f} req/s")
print(f"ratios: redis/memory {r / m:.2f} (target >= 0.5), redis/get {r / g:.2f}")
print(f"server cpu us/req: memory {med('memory', 'server_cpu_us/req'):.2f}, redis {med('redis', 'server_cpu_us/req'):.2f}")
print(f"redis cpu us/req: memoscope's hits {med('redis', 'redis_cpu_us/req'):.2f}, redis-benchmark get {med('get', 'redis_cpu_us/req'):.2f}")
print(f"per hit request: {med('redis', 'commands/req'):.3f} commands, {med('redis', 'round_trips/req'):.3f} round trips (our writes; target: 1 round trip), {med('redis', 'redis_reads/req'):.3f} reads by Redis")
EOF
