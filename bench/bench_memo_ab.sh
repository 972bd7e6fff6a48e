#!/bin/sh
# bench_memo_ab.sh -- the memo cache's hit and miss, before (v1 cache/ of
# $BEFORE) and after (this tree), interleaved in one process (see
# bench/bench_memo_ab.c): the ratio to quote on a shared machine.
#
#   bench/bench_memo_ab.sh [build dir]     (default: build; build it first)
#   MODE=instructions bench/bench_memo_ab.sh [build dir]
#
# MODE=instructions times nothing: it counts, under callgrind, the
# instructions per operation inside each library's memoGet and memoPut
# (their callees included: lock, hash, compare), for each row, as the
# difference between runs of 2N and N operations (so the fill and the
# setup cancel out). Noise-free, where the timing is not.
#
# Compiles v1's cache/memo.c from git, renames its public symbols v1_* with
# objcopy, links it with bench_memo_ab.c and the tree's libmemo.a, and runs
# it under flock /tmp/memoscope-bench.lock (at nice -20 when root).
# BEFORE defaults to 7a76c73, the last v1 cache/.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
before=${BEFORE:-7a76c73}
lib=$build/cache/libmemo.a
if [ ! -f "$lib" ]; then
    echo "bench_memo_ab.sh: no $lib; build first (cmake -S . -B build && cmake --build build)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$root" show "$before:cache/memo.c" >"$tmp/memo.c"
git -C "$root" show "$before:cache/memo.h" >"$tmp/memo.h"
cc=${CC:-cc}
$cc -O2 -DNDEBUG -I"$tmp" -c "$tmp/memo.c" -o "$tmp/v1.o"
nm "$tmp/v1.o" | awk '$2 == "T" { print $3, "v1_" $3 }' >"$tmp/syms"
objcopy --redefine-syms="$tmp/syms" "$tmp/v1.o" "$tmp/v1r.o"
$cc -O2 -DNDEBUG -I"$root/cache" "$root/bench/bench_memo_ab.c" "$tmp/v1r.o" "$lib" -lpthread \
    -o "$tmp/bench_memo_ab"
if [ "${MODE:-time}" = instructions ]; then
    n=${COUNT:-100000}
    # instructions LIB OP MAXSIZE: per operation, inside memoGet + memoPut.
    instructions() {
        prefix=
        [ "$1" = v1 ] && prefix=v1_
        for count in "$n" $((2 * n)); do
            valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$count" \
                --toggle-collect="${prefix}memoGet" --toggle-collect="${prefix}memoPut" \
                "$tmp/bench_memo_ab" count "$@" "$count" 2>/dev/null
        done
        a=$(awk '/^summary:/ { print $2 }' "$tmp/cg.$n")
        b=$(awk '/^summary:/ { print $2 }' "$tmp/cg.$((2 * n))")
        awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n }'
    }
    echo "# instructions per operation in memoGet + memoPut (callgrind, $n more operations)"
    printf '%-16s %7s %8s %8s %8s\n' operation maxsize v1 v2 v2/v1
    for row in "hit 128 hit" "hit 4096 hit" "hit-ttl/hit 128 hit-ttl" "miss+put+evict 128 miss" \
        "miss+put+evict 4096 miss"; do
        set -- $row
        v1op=$3
        [ "$v1op" = hit-ttl ] && v1op=hit # v1 has no TTL: its plain hit
        i1=$(instructions v1 "$v1op" "$2")
        i2=$(instructions v2 "$3" "$2")
        awk -v name="$1" -v n="$2" -v a="$i1" -v b="$i2" \
            'BEGIN { printf "%-16s %7d %8.1f %8.1f %8.2f\n", name, n, a, b, b / a }'
    done
    exit 0
fi
prio=
[ "$(id -u)" = 0 ] && prio="nice -n -20"
flock /tmp/memoscope-bench.lock $prio "$tmp/bench_memo_ab"
