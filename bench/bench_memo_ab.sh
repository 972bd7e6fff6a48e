#!/bin/sh
# bench_memo_ab.sh -- the memo cache's hit and miss, before (v1 cache/ of
# $BEFORE) and after (this tree), interleaved in one process (see
# bench/bench_memo_ab.c): the ratio to quote on a shared machine.
#
#   bench/bench_memo_ab.sh [build dir]     (default: build; build it first)
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
prio=
[ "$(id -u)" = 0 ] && prio="nice -n -20"
flock /tmp/memoscope-bench.lock $prio "$tmp/bench_memo_ab"
