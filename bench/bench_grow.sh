#!/bin/sh
# bench_grow.sh -- the memo cache as it grows from 10^3 to 1.6*10^7 entries (10^8
# with MEMOSCOPE_LONG=1): before (cache/ v1, the table doubled at once and a
# clear under the lock) and after (v2, incremental growth and a lazy clear),
# beside CPython's functools.lru_cache up to 10^7; a table and a gnuplot plot.
#
#   bench/bench_grow.sh [path/to/bench_grow]     (default: build/bench/bench_grow)
#
# Builds the v2 benchmark nowhere (build first: cmake -S . -B build &&
# cmake --build build); compiles the v1 one from git (cache/ of $BEFORE, with
# cc -O2 -DBENCH_GROW_V1 bench/bench_grow.c). Writes $OUT/growth.txt (the
# table) and $OUT/growth.svg (worst and 99.9th percentile single miss+put
# against entries, and the machine's floor: the slowest hit on a one-entry
# cache timed beside each of them, bench_grow.c says why). Runs under flock /tmp/memoscope-bench.lock, at nice -20
# when root. Environment: BEFORE (default 7a76c73, the last v1 cache/), MAX
# (largest size, default 1.6*10^7, 10^8 with MEMOSCOPE_LONG=1; CPython stops at
# 10^7), OUT (default bench/results), PYTHON (default python3), NO_PY=1 and
# NO_V1=1 to leave those out.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
bench=${1:-$root/build/bench/bench_grow}
before=${BEFORE:-7a76c73}
out=${OUT:-$root/bench/results}
python=${PYTHON:-python3}
if [ "${MEMOSCOPE_LONG:-0}" = 1 ]; then max=${MAX:-100000000}; else max=${MAX:-16000000}; fi
pymax=$max
[ "$pymax" -gt 10000000 ] && pymax=10000000

if [ ! -x "$bench" ]; then
    echo "bench_grow.sh: no bench_grow at $bench; build it first" >&2
    exit 1
fi
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

v1=
if [ "${NO_V1:-0}" != 1 ]; then
    mkdir -p "$tmp/v1"
    git -C "$root" show "$before:cache/memo.c" >"$tmp/v1/memo.c"
    git -C "$root" show "$before:cache/memo.h" >"$tmp/v1/memo.h"
    ${CC:-cc} -O2 -DNDEBUG -D_GNU_SOURCE -DBENCH_GROW_V1 -I"$tmp/v1" \
        "$root/bench/bench_grow.c" "$tmp/v1/memo.c" -lpthread -o "$tmp/bench_grow_v1"
    v1=$tmp/bench_grow_v1
fi

prio=
[ "$(id -u)" = 0 ] && prio="nice -n -20"

run() { flock /tmp/memoscope-bench.lock $prio "$@"; }

{
    echo "# bench/bench_grow.sh, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# commit $(git -C "$root" describe --always --dirty), v1 = cache/ of $before"
    run "$bench" "$max"
    [ -n "$v1" ] && run "$v1" "$max"
    [ "${NO_PY:-0}" != 1 ] && run "$python" "$root/bench/bench_grow.py" "$pymax"
    true
} | tee "$out/growth.txt"

# One data block per library for gnuplot (index 0, 1, 2).
for lib in v2 v1 py; do
    awk -v lib=$lib 'function ms(x) { return x == "-" || x == "" ? "NaN" : x * 1e-3 }
        $1 == lib { print $2, $5 * 1e-3, $6 * 1e-3, ms($10), ms($11), ms($12), ms($13) }' "$out/growth.txt"
    printf '\n\n'
done >"$tmp/growth.dat"

if command -v gnuplot >/dev/null 2>&1; then
    gnuplot <<GP
set terminal svg size 1000,600 dynamic font "sans,12"
set output "$out/growth.svg"
set title "One memoised miss (get + put) as the cache grows: slowest (least of 3 runs for memo) and p99.9"
set logscale xy
set format x "10^{%L}"
set xrange [500:$((max * 2))]
set format y "%g"
set xlabel "entries"
set ylabel "ms"
set key outside below maxcols 2
set grid
plot "$tmp/growth.dat" index 0 using 1:4 with linespoints lw 2 title "memo v2: slowest, on CPU", \
     "" index 0 using 1:7 with linespoints lw 1 dt 3 title "memo v2: slowest hit on the full cache, on CPU (same run)", \
     "" index 0 using 1:2 with linespoints lw 1 title "memo v2: slowest, wall", \
     "" index 0 using 1:3 with linespoints dt 2 title "memo v2: p99.9", \
     "" index 1 using 1:4 with linespoints lw 2 title "memo v1: slowest, on CPU", \
     "" index 1 using 1:3 with linespoints dt 2 title "memo v1: p99.9", \
     "" index 2 using 1:2 with linespoints lw 2 title "CPython lru\\\\_cache: slowest", \
     "" index 2 using 1:3 with linespoints dt 2 title "CPython lru\\\\_cache: p99.9"
GP
    echo "bench_grow.sh: wrote $out/growth.txt and $out/growth.svg"
else
    echo "bench_grow.sh: gnuplot not found: wrote $out/growth.txt only" >&2
fi
