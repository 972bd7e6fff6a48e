#!/usr/bin/env bash
# bench_ceiling.sh -- memoscope next to the bare libmicrohttpd + cJSON server it
# stands on (bench/reference), next to nginx answering a fixed JSON, and next
# to the Python peer (bench/peer), under the same wrk load, in one run (about
# 5 minutes on 2 CPUs).
#
#   bench/bench_ceiling.sh            (as root on Debian 12: installs what is missing)
#
# Builds memoscope, the reference and the malloc counter in $BUILD_DIR
# (default build/), then, ROUNDS times, interleaved (the order rotates each
# round), for each connection count (keep-alive, 64 and 256): starts each
# server afresh, pinned to one CPU (wrk -t1 on the other, both at nice -20
# when root), warms it up for WARMUP seconds, measures DURATION seconds, and
# stops it with SIGTERM (it must exit 0). The servers:
#   reference   bench/reference: parse with cJSON, answer {"result": a+b}
#   nginx       nginx (Debian nginx-light), one worker: POST /calculate gets
#               `return 200` with a fixed JSON of memoscope's answer's size
#               (no parsing: the best a C server does with HTTP alone); its
#               CPU is its worker's, not its master's
#   shared      memoscope --cache-scope shared --delay-ms 0 (100 keys, maxsize
#               128: nearly every call hits)
#   local       memoscope --cache-scope local --delay-ms 0 (every call misses)
#   peer        Flask + functools.lru_cache (bench/peer/peer.py)
# Prints per server the medians of req/s, p50 and p99 latency and server CPU
# per request (utime + stime from /proc/PID/stat over the measured seconds,
# divided by the requests answered), and the ratios memoscope / reference and
# memoscope / nginx.
# Then three short passes, one run per server each:
#   ALLOCS     allocator calls per request in every scope and in the
#              reference (LD_PRELOAD bench/malloc_count.c, c=64, 2 s);
#   CALLGRIND  user-space instructions per request, counted by callgrind only
#              while a c=8 load runs: deterministic, where req/s is not.
#
# Figures, not a test: it fails only when something does not run. Loopback
# only. Every measurement holds /tmp/memoscope-bench.lock (flock), so that
# benchmarks of several people on one machine do not overlap.
#
# Settings (environment): ROUNDS=5 DURATION=3 WARMUP=1 CONNS="64 256" KEYS=10
# THREADS=<1 when pinned, else the CPU count> NICE=-20 NGINX=1 PEER=1 ALLOCS=1
# CALLGRIND=1 BUILD_DIR=build RESULTS=<file to keep the raw runs in, TSV>.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-64 256}
KEYS=${KEYS:-10}
PEER=${PEER:-1}
NGINX=${NGINX:-1}
ALLOCS=${ALLOCS:-1}
CALLGRIND=${CALLGRIND:-1}
NICE=${NICE--20}
CG_CONNS=8
CG_SECONDS=3
BUILD_DIR=${BUILD_DIR:-build}
LOCK=/tmp/memoscope-bench.lock
LOCK_WAIT_S=900 # another benchmark may hold it this long at most
PEER_PYTHON=/usr/bin/python3 # Debian's, where python3-flask is installed
START_TIMEOUT_S=20
STOP_TIMEOUT_S=20

need_pkgs $BUILD_PKGS $BENCH_PKGS
[ "$NGINX" = 1 ] && need_pkgs nginx-light
say "build $BUILD_DIR: memoscope, reference, malloc_count"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target memoscope reference malloc_count >/dev/null
memoscope=$BUILD_DIR/server/memoscope
reference=$BUILD_DIR/bench/reference/reference
shim=$(cd "$BUILD_DIR/bench" && pwd)/libmalloc_count.so

work=$(mktemp -d /tmp/memoscope-ceiling.XXXXXX)
server_pid=
wrap=()
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
RESULTS=${RESULTS:-$work/runs.tsv}

# Server on the first CPU we may use, wrk on the second (when there is one).
read -r server_cpu wrk_cpu < <(python3 -c '
import os
cpus = sorted(os.sched_getaffinity(0))
print(cpus[0], cpus[1] if len(cpus) > 1 else "")')
# At nice -20 (root only), the rest of a shared machine's work disturbs the
# measurement less: it still runs, with a far smaller share while we do.
prio=()
[ "$(id -u)" = 0 ] && [ -n "$NICE" ] && prio=(nice -n "$NICE")
if [ -n "$wrk_cpu" ]; then
    pin_server=("${prio[@]}" taskset -c "$server_cpu")
    pin_wrk=("${prio[@]}" taskset -c "$wrk_cpu")
    THREADS=${THREADS:-1}
else
    pin_server=("${prio[@]}")
    pin_wrk=("${prio[@]}")
    THREADS=${THREADS:-$(nproc)}
fi
clk_tck=$(getconf CLK_TCK)

# The command line of each server, without --port.
server_cmd() {
    case $1 in
    reference) echo "$reference --bind 127.0.0.1 --threads $THREADS" ;;
    shared | local | global | off)
        echo "$memoscope --bind 127.0.0.1 --threads $THREADS --cache-scope $1 --delay-ms 0" ;;
    peer) echo "$PEER_PYTHON bench/peer/peer.py --bind 127.0.0.1" ;;
    nginx) echo "nginx -e $work/nginx/error.log -p $work/nginx -c $work/nginx/nginx.conf" ;;
    esac
}

# nginx_conf PORT: one worker (it inherits the pin), keep-alive without a
# limit of requests, memoscope's answer to a hit as a fixed body.
nginx_conf() {
    mkdir -p "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server {
        listen 127.0.0.1:$1;
        location = /calculate {
            default_type application/json;
            return 200 '{"result":9,"cached":true,"instance":42,"elapsed_ms":0.0}\n';
        }
    }
}
EOF
}

# A port free now, for a server that cannot take port 0 (nginx).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME [ENV...]: starts it on a free port, sets server_pid and port.
start_server() {
    local name=$1 log=$work/$1.log
    shift
    : >"$log" # not a port from the last run
    local fixed=
    if [ "$name" = nginx ]; then
        fixed=$(free_port)
        nginx_conf "$fixed"
        # shellcheck disable=SC2046
        env "$@" "${pin_server[@]}" "${wrap[@]}" $(server_cmd "$name") 2>"$log" &
    else
        # shellcheck disable=SC2046
        env "$@" "${pin_server[@]}" "${wrap[@]}" $(server_cmd "$name") --port 0 2>"$log" &
    fi
    server_pid=$!
    local deadline=$((SECONDS + START_TIMEOUT_S))
    port=
    while [ -z "$port" ]; do
        if [ -n "$fixed" ]; then
            curl -s -o /dev/null -X POST -d '{}' "http://127.0.0.1:$fixed/calculate" && port=$fixed
        else
            port=$(grep -o -m1 'port=[0-9]*' "$log" 2>/dev/null | cut -d= -f2 || true)
        fi
        if [ -z "$port" ] && { ! kill -0 "$server_pid" 2>/dev/null || ((SECONDS > deadline)); }; then
            echo "bench_ceiling: $name did not start:" >&2
            cat "$log" >&2
            exit 1
        fi
        [ -n "$port" ] || sleep 0.05
    done
}

stop_server() {
    local name=$1 deadline=$((SECONDS + STOP_TIMEOUT_S)) rc=0
    kill -TERM "$server_pid"
    while kill -0 "$server_pid" 2>/dev/null && ((SECONDS <= deadline)); do sleep 0.05; done
    if kill -0 "$server_pid" 2>/dev/null; then
        echo "bench_ceiling: $name did not stop on SIGTERM in ${STOP_TIMEOUT_S}s" >&2
        kill -KILL "$server_pid"
    fi
    wait "$server_pid" || rc=$?
    server_pid=
    if [ "$rc" != 0 ]; then
        echo "bench_ceiling: $name exited $rc after SIGTERM:" >&2
        tail -5 "$work/$name.log" >&2
        exit 1
    fi
}

# One measurement at a time on this machine, whoever runs it.
lock() {
    exec 9>>"$LOCK"
    flock -w "$LOCK_WAIT_S" 9 || {
        echo "bench_ceiling: $LOCK still held after ${LOCK_WAIT_S}s" >&2
        exit 1
    }
}
unlock() { flock -u 9; }

# cpu_ticks NAME: utime + stime of the server so far, in clock ticks; for
# nginx, of its master's children (the worker, which does the work).
cpu_ticks() {
    local pids=$server_pid p
    [ "$1" = nginx ] && pids=$(cat /proc/"$server_pid"/task/*/children)
    # shellcheck disable=SC2086 # a list of pids
    for p in $pids; do cat "/proc/$p/stat"; done | awk '{ t += $14 + $15 } END { print t }'
}

# wrk_run CONNS SECONDS: the CEILING_JSON line of one wrk run.
wrk_run() {
    "${pin_wrk[@]}" wrk -t1 -c"$1" -d"$2"s --timeout 10s --latency -s bench/ceiling.lua \
        "http://127.0.0.1:$port" -- "$KEYS" | sed -n 's/^CEILING_JSON //p'
}

# measure NAME CONNS ROUND: one measurement, appended to RESULTS.
measure() {
    local name=$1 conns=$2 round=$3 t0 t1 json
    lock
    start_server "$name"
    wrk_run "$conns" "$WARMUP" >/dev/null
    t0=$(cpu_ticks "$name")
    json=$(wrk_run "$conns" "$DURATION")
    t1=$(cpu_ticks "$name")
    stop_server "$name"
    unlock
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$conns" "$round" "$((t1 - t0))" "$json" >>"$RESULTS"
    printf '  round %s  c=%-4s %-10s %s\n' "$round" "$conns" "$name" "$json" >&2
}

# allocs NAME: allocator calls per request over one short run under the shim.
allocs() {
    local name=$1 counts=$work/counts.$1 before after json
    lock
    start_server "$name" MALLOC_COUNT_FILE="$counts" LD_PRELOAD="$shim"
    wrk_run 64 "$WARMUP" >/dev/null
    before=$(od -A n -t u8 -v "$counts" | tr -s ' \n' ' ')
    json=$(wrk_run 64 2)
    after=$(od -A n -t u8 -v "$counts" | tr -s ' \n' ' ')
    stop_server "$name"
    unlock
    printf '%s\t%s\t%s\t%s\n' "$name" "$before" "$after" "$json" >>"$work/allocs.tsv"
}

# instructions NAME: user-space instructions per request under callgrind,
# counted only while the load runs (--instr-atstart=no, then on, then dump).
instructions() {
    local name=$1 out=$work/cg.$1 json dump
    lock
    wrap=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out.%p")
    start_server "$name"
    wrap=()
    callgrind_control -i on "$server_pid" >/dev/null 2>&1
    json=$(wrk_run "$CG_CONNS" "$CG_SECONDS")
    callgrind_control -d "$server_pid" >/dev/null 2>&1
    stop_server "$name"
    unlock
    dump=$(ls "$out".*.1)
    # memset apart: valgrind counts each step of a `rep stos` as an
    # instruction, which makes libmicrohttpd's zeroing of its per-connection
    # pool look like most of the work.
    printf '%s\t%s\t%s\t%s\n' "$name" "$(sed -n 's/^totals: //p' "$dump")" \
        "$(callgrind_annotate --threshold=100 "$dump" | awk '/memset/ { gsub(",", "", $1); s += $1 } END { print s + 0 }')" \
        "$json" >>"$work/instructions.tsv"
}

servers=(reference)
[ "$NGINX" = 1 ] && servers+=(nginx)
servers+=(shared local)
[ "$PEER" = 1 ] && servers+=(peer)
say "ceiling: ${servers[*]}; c=$CONNS; $ROUNDS rounds of ${DURATION}s (+${WARMUP}s warm-up);" \
    "server on CPU $server_cpu${wrk_cpu:+, wrk on CPU $wrk_cpu}; threads=$THREADS; keys=$KEYS"
: >"$RESULTS"
for ((round = 1; round <= ROUNDS; round++)); do
    for conns in $CONNS; do
        # Rotate the order each round, so no server always goes first.
        n=${#servers[@]}
        for ((i = 0; i < n; i++)); do
            measure "${servers[$(((i + round - 1) % n))]}" "$conns" "$round"
        done
    done
done

if [ "$ALLOCS" = 1 ]; then
    say "allocations per request (LD_PRELOAD malloc counter, c=64, 2 s each)"
    : >"$work/allocs.tsv"
    for name in reference off local shared global; do
        allocs "$name"
    done
fi

if [ "$CALLGRIND" = 1 ]; then
    say "instructions per request (callgrind, c=$CG_CONNS, ${CG_SECONDS}s each)"
    : >"$work/instructions.tsv"
    for name in reference shared local; do
        instructions "$name"
    done
fi

python3 - "$RESULTS" "$clk_tck" "$work/allocs.tsv" "$(nproc)" "$THREADS" "$work/instructions.tsv" <<'PY'
import json
import statistics
import sys

results, clk_tck, allocs_file, ncpu, threads, instr_file = sys.argv[1:7]
clk_tck = float(clk_tck)
runs = {}
for line in open(results):
    name, conns, _round, ticks, js = line.rstrip("\n").split("\t", 4)
    w = json.loads(js)
    secs = w["duration_us"] / 1e6
    runs.setdefault((name, int(conns)), []).append({
        "rps": w["requests"] / secs,
        "p50": w["p50_us"] / 1000,
        "p99": w["p99_us"] / 1000,
        "cpu": int(ticks) / clk_tck / max(w["requests"], 1) * 1e6,
        "bad": w["errors"] + w["non2xx"],
    })

def med(name, conns, key):
    xs = [r[key] for r in runs.get((name, conns), [])]
    return statistics.median(xs) if xs else None

if runs:
    names = [n for n in ("reference", "nginx", "shared", "local", "peer")
             if any(k[0] == n for k in runs)]
    label = {"reference": "reference (MHD+cJSON)", "nginx": "nginx (fixed answer)",
             "shared": "memoscope shared", "local": "memoscope local",
             "peer": "peer (Flask+lru_cache)"}
    print()
    print("Medians of %d interleaved runs; %s CPUs; server threads=%s (nginx: one worker);"
          % (max(len(v) for v in runs.values()), ncpu, threads))
    print("ratios are memoscope / reference (x) and memoscope / nginx (n)")
    print()
    print("%-5s %-23s %9s %8s %8s %9s %8s %8s %8s %8s %8s %7s"
          % ("conns", "server", "req/s", "p50 ms", "p99 ms", "CPU us/r",
             "x req/s", "x p99", "x CPU", "n p99", "n CPU", "errors"))
    for conns in sorted({k[1] for k in runs}):
        ref = {k: med("reference", conns, k) for k in ("rps", "p99", "cpu")}
        ngx = {k: med("nginx", conns, k) for k in ("p99", "cpu")}
        for n in names:
            if (n, conns) not in runs:
                continue
            m = {k: med(n, conns, k) for k in ("rps", "p50", "p99", "cpu")}
            bad = sum(r["bad"] for r in runs[(n, conns)])
            ratios = ["", "", "", "", ""]
            if n in ("shared", "local") and ref["rps"]:
                ratios[:3] = ["%.2f" % (m["rps"] / ref["rps"]), "%.2f" % (m["p99"] / ref["p99"]),
                              "%.2f" % (m["cpu"] / ref["cpu"])]
            if n in ("shared", "local") and ngx["cpu"]:
                ratios[3:] = ["%.2f" % (m["p99"] / ngx["p99"]), "%.2f" % (m["cpu"] / ngx["cpu"])]
            print("%-5d %-23s %9.0f %8.2f %8.2f %9.1f %8s %8s %8s %8s %8s %7d"
                  % (conns, label[n], m["rps"], m["p50"], m["p99"], m["cpu"], *ratios, bad))
        print()

    print("Targets: memoscope req/s >= 0.90 x reference, p99 <= 1.20 x reference.")
    for conns in sorted({k[1] for k in runs}):
        for n in ("shared", "local"):
            r, ref = med(n, conns, "rps"), med("reference", conns, "rps")
            p, refp = med(n, conns, "p99"), med("reference", conns, "p99")
            if r is None or ref is None:
                continue
            ok = r >= 0.9 * ref and p <= 1.2 * refp
            print("  c=%-4d %-6s req/s %.2fx  p99 %.2fx  %s"
                  % (conns, n, r / ref, p / refp, "met" if ok else "MISSED"))
    if "peer" in names:
        print()
        for conns in sorted({k[1] for k in runs}):
            peer = med("peer", conns, "rps")
            if peer:
                print("  c=%-4d memoscope shared / peer req/s = %.1fx, local / peer = %.1fx"
                      % (conns, med("shared", conns, "rps") / peer, med("local", conns, "rps") / peer))

try:
    lines = open(allocs_file).read().splitlines()
except FileNotFoundError:
    lines = []
if lines:
    print()
    print("Allocator calls per request (malloc+calloc+realloc+memalign; frees), c=64, one run each")
    print("%-22s %8s %8s %9s %8s" % ("server", "allocs", "frees", "- ref", "target"))
    # What each scope may add to the reference: the SlowAdder (one
    # allocation), and in local scope its own cache (the memo, its buckets,
    # its one entry).
    allowed = {"off": 1, "shared": 1, "global": 1, "local": 4}
    ref_allocs = None
    for line in lines:
        name, before, after, js = line.split("\t", 3)
        b = [int(x) for x in before.split()]
        a = [int(x) for x in after.split()]
        d = [y - x for x, y in zip(b, a)]
        reqs = max(json.loads(js)["requests"], 1)
        per = (d[0] + d[1] + d[2] + d[4]) / reqs
        frees = d[3] / reqs
        if name == "reference":
            ref_allocs = per
            print("%-22s %8.2f %8.2f" % ("reference", per, frees))
            continue
        extra = target = ""
        if ref_allocs is not None:
            extra = "%+.2f" % (per - ref_allocs)
            # Connection setup and the odd shared-scope flight add a little;
            # a whole allocation more per request is a miss.
            target = "+%d %s" % (allowed[name],
                                 "met" if per - ref_allocs < allowed[name] + 0.5 else "MISSED")
        print("%-22s %8.2f %8.2f %9s %8s" % ("memoscope " + name, per, frees, extra, target))

try:
    lines = open(instr_file).read().splitlines()
except FileNotFoundError:
    lines = []
if lines:
    print()
    print("User-space instructions per request (callgrind; memset apart, see the script)")
    print("%-22s %10s %10s %8s %10s" % ("server", "instr", "ratio", "memset", "ratio all"))
    ref = None
    for line in lines:
        name, total, memset, js = line.split("\t", 3)
        reqs = max(json.loads(js)["requests"], 1)
        other, ms = (int(total) - int(memset)) / reqs, int(memset) / reqs
        if name == "reference":
            ref = (other, other + ms)
        ratio = "%.2f" % (other / ref[0]) if ref and name != "reference" else ""
        ratio_all = "%.2f" % ((other + ms) / ref[1]) if ref and name != "reference" else ""
        who = "reference" if name == "reference" else "memoscope " + name
        print("%-22s %10.0f %10s %8.0f %10s" % (who, other, ratio, ms, ratio_all))
PY
