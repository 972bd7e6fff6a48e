#!/usr/bin/env bash
# bench_ab.sh -- two (or more) memoscope binaries side by side: server CPU per
# request under the same wrk load, interleaved rounds, medians and ratios to
# the first binary. For "this change costs under N % on the hot path".
#
#   bench/bench_ab.sh BEFORE_BIN AFTER_BIN [MORE_BIN...]
#
# Each round starts every binary afresh (order rotating) pinned to the first
# CPU (wrk -t1 on the second, as bench_ceiling.sh does), with
# --cache-scope ${SCOPE:-shared} --delay-ms 0 --threads 1, warms it up for
# WARMUP s, measures DURATION s with bench/ceiling.lua at CONNS connections,
# and reads the server's utime + stime from /proc over the measured seconds.
# Settings: ROUNDS=7 DURATION=3 WARMUP=1 CONNS=64 SCOPE=shared KEYS=10.
# MODE=instructions counts instead, once per binary, the user-space
# instructions per request under callgrind (only while a c=8 load of
# DURATION s runs; memset apart, as bench_ceiling.sh does): deterministic
# where CPU time on a shared machine is not.
# Holds /tmp/memoscope-bench.lock per measurement, like the other benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-7} DURATION=${DURATION:-3} WARMUP=${WARMUP:-1} CONNS=${CONNS:-64}
SCOPE=${SCOPE:-shared} KEYS=${KEYS:-10} LOCK=/tmp/memoscope-bench.lock
[ $# -ge 2 ] || { echo "usage: $0 BEFORE_BIN AFTER_BIN [MORE_BIN...]" >&2; exit 2; }
bins=("$@")
cpus=($(taskset -pc $$ | sed 's/.*: //' | tr ',' '\n' | head -2))
server_cpu=${cpus[0]:-0} wrk_cpu=${cpus[1]:-${cpus[0]:-0}}
tick=$(getconf CLK_TCK)
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

measure() { # BIN -> prints "cpu_us_per_request req_per_s"
    exec 9>>"$LOCK"; flock -w 600 9
    taskset -c "$server_cpu" "$1" --bind 127.0.0.1 --port 0 --cache-scope "$SCOPE" \
        --delay-ms 0 --threads 1 2>"$work/log" &
    pid=$!
    local port=
    for _ in $(seq 100); do
        port=$(grep -o 'port=[0-9]*' "$work/log" | head -1 | cut -d= -f2 || true)
        [ -n "$port" ] && break; sleep 0.05
    done
    local url=http://127.0.0.1:$port
    taskset -c "$wrk_cpu" wrk -t1 -c"$CONNS" -d"$WARMUP"s -s bench/ceiling.lua "$url" -- "$KEYS" >/dev/null
    local t0 t1 json
    t0=$(awk '{print $14 + $15}' /proc/$pid/stat)
    json=$(taskset -c "$wrk_cpu" wrk -t1 -c"$CONNS" -d"$DURATION"s -s bench/ceiling.lua "$url" -- "$KEYS" |
        sed -n 's/^CEILING_JSON //p')
    t1=$(awk '{print $14 + $15}' /proc/$pid/stat)
    kill "$pid"; wait "$pid" || { echo "server exited non-zero" >&2; exit 1; }
    pid=
    flock -u 9
    python3 -c 'import json,sys; j=json.loads(sys.argv[1]); t=(int(sys.argv[2]))/int(sys.argv[3]);
print("%.3f %.0f" % (t*1e6/j["requests"], j["requests"]/(j["duration_us"]/1e6)))' "$json" "$((t1 - t0))" "$tick"
}

instructions() { # BIN -> prints "instructions_per_request_without_memset requests"
    exec 9>>"$LOCK"; flock -w 900 9
    rm -f "$work"/cg.*
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg.%p" \
        "$1" --bind 127.0.0.1 --port 0 --cache-scope "$SCOPE" --delay-ms 0 --threads 1 2>"$work/log" &
    pid=$!
    local port=
    for _ in $(seq 200); do
        port=$(grep -o 'port=[0-9]*' "$work/log" | head -1 | cut -d= -f2 || true)
        [ -n "$port" ] && break; sleep 0.1
    done
    local url=http://127.0.0.1:$port json
    callgrind_control -i on "$pid" >/dev/null 2>&1
    json=$(wrk -t1 -c8 -d"$DURATION"s -s bench/ceiling.lua "$url" -- "$KEYS" | sed -n 's/^CEILING_JSON //p')
    callgrind_control -d "$pid" >/dev/null 2>&1
    kill "$pid"; wait "$pid" || true
    pid=
    flock -u 9
    local dump total memset
    dump=$(ls "$work"/cg.*.1)
    total=$(sed -n 's/^totals: //p' "$dump")
    memset=$(callgrind_annotate --threshold=100 "$dump" | awk '/memset/ { gsub(",", "", $1); s += $1 } END { print s + 0 }')
    python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print("%.0f %d" % ((int(sys.argv[2]) - int(sys.argv[3])) / j["requests"], j["requests"]))' "$json" "$total" "$memset"
}

if [ "${MODE:-cpu}" = instructions ]; then
    for b in "${bins[@]}"; do
        printf '%-50s instructions/request (memset apart) %s\n' "$b" "$(instructions "$b")"
    done
    exit 0
fi

for r in $(seq "$ROUNDS"); do
    for i in "${!bins[@]}"; do
        j=$(( (i + r) % ${#bins[@]} ))
        printf '%s %s\n' "$j" "$(measure "${bins[$j]}")" >>"$work/runs"
        printf '  round %s  %s: %s\n' "$r" "${bins[$j]}" "$(tail -1 "$work/runs" | cut -d' ' -f2-)" >&2
    done
done
python3 - "$work/runs" "${bins[@]}" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
bins = sys.argv[2:]
med = {}
for i, b in enumerate(bins):
    cpu = [float(r[1]) for r in rows if int(r[0]) == i]
    rps = [float(r[2]) for r in rows if int(r[0]) == i]
    med[i] = statistics.median(cpu)
    print("%-50s cpu/request median %.3f us (min %.3f max %.3f)  req/s median %.0f  ratio %.3f"
          % (b, med[i], min(cpu), max(cpu), statistics.median(rps), med[i] / med.get(0, med[i])))
PY
