#!/usr/bin/env bash
# Stage: every benchmark command of docs/benchmarks.md still runs, each cut to one
# short round. The figures are printed, not judged (benchmarks are not
# pass/fail tests; docs/benchmarks.md has real runs): this stage
# fails only when a command breaks. Loopback only.
set -euo pipefail
. scripts/lib.sh
t0=$(date +%s)

need_pkgs $BUILD_PKGS $BENCH_PKGS
build build

say "bench smoke: bench_memo.sh"
bench/bench_memo.sh build/bench/bench_memo
say "bench smoke: bench_memo_ab.sh (v1 and v2 interleaved)"
bench/bench_memo_ab.sh build
say "bench smoke: bench_grow.sh (10^3 and 10^4 entries, v1, v2 and CPython)"
MAX=10000 OUT=build/bench-results bench/bench_grow.sh build/bench/bench_grow
say "bench smoke: bench_slow.sh (one 1 s round at 64 connections)"
RUNS=1 WARMUP=1 DURATION=1 CONNS=64 bench/bench_slow.sh build/server/memoscope
say "bench smoke: bench_slow10k.sh (200 connections, a 2 s window after a 1 s ramp)"
CONNS=200 DELAY_MS=200 RAMP_S=1 WINDOW_S=2 PROBES=10 bench/bench_slow10k.sh build/server/memoscope
say "bench smoke: bench_connmem.py (200 connections, the default pool, idle and waiting)"
POOLS=8192 CONNS=200 SETTLE_S=0.5 python3 bench/bench_connmem.py build/server/memoscope
say "bench smoke: bench_ceiling.sh (one 1 s round at 64 connections, no callgrind)"
ROUNDS=1 WARMUP=1 DURATION=1 CONNS=64 CALLGRIND=0 BUILD_DIR=build bench/bench_ceiling.sh
say "bench smoke: bench_scrape.sh (to 20,000 instances, one 1 s round)"
bench/bench_scrape.sh --sizes 0,20000 --grow-s 20 --scrapes 20 --rounds 1 --load-s 1
say "bench smoke: bench_heap.sh (one 1 s round, 20,000 instances cleared)"
bench/bench_heap.sh --rounds 1 --seconds 1 --clear-instances 20000 --decay-s 1

say "bench smoke: bench_redis.sh (one 1 s round at 16 connections)"
RUNS=1 DURATION=1 CONNS=16 bench/bench_redis.sh build/server/memoscope

say "bench smoke stage passed in $(($(date +%s) - t0)) s"
