#!/usr/bin/env bash
# bench_heap.sh -- the allocator, chosen by figures: glibc with memoscope's
# counting layer (the default build) against jemalloc
# (-DMEMOSCOPE_ALLOCATOR=jemalloc), side by side in one run: hit-path CPU
# per request, RSS and heap per global-scope request with 4 KiB and 64 KiB
# instances, RSS after DELETE /cache of a million instances, and the cost of
# one statistics read and of a malloc/free pair.
#
#   bench/bench_heap.sh [bench_heap.py options]     (as root on Debian 12: installs what is missing)
#
# Builds $BUILD_DIR (default build/), $JEMALLOC_DIR (default
# build-jemalloc/) and, for the hit path only, $UNCOUNTED_DIR (default
# build-uncounted/: glibc without the counting layer, heap_bytes 0, to show
# what the layer costs), then runs bench/bench_heap.py (see its header;
# --rounds, --seconds, --clear-instances, --clear-bytes, --decay-s, --parts).
# About 4 minutes.
# Holds /tmp/memoscope-bench.lock (flock) while it measures. Loopback only;
# figures, not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

BUILD_DIR=${BUILD_DIR:-build}
JEMALLOC_DIR=${JEMALLOC_DIR:-build-jemalloc}
UNCOUNTED_DIR=${UNCOUNTED_DIR:-build-uncounted} # the layer left out: its cost
LOCK=/tmp/memoscope-bench.lock
LOCK_WAIT_S=900

need_pkgs $BUILD_PKGS libjemalloc-dev wrk python3
for dir in "$BUILD_DIR" "$JEMALLOC_DIR" "$UNCOUNTED_DIR"; do
    alloc=counted flags=
    [ "$dir" = "$JEMALLOC_DIR" ] && alloc=jemalloc
    [ "$dir" = "$UNCOUNTED_DIR" ] && flags=-DMEMOSCOPE_HEAP_UNCOUNTED=1
    say "build $dir: memoscope, bench_heap ($alloc $flags)"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DMEMOSCOPE_ALLOCATOR=$alloc \
        -DCMAKE_C_FLAGS="$flags" >/dev/null
    cmake --build "$dir" -j "$(nproc)" --target memoscope bench_heap >/dev/null
done
exec 9>>"$LOCK"
flock -w "$LOCK_WAIT_S" 9 || {
    echo "bench_heap: $LOCK still held after ${LOCK_WAIT_S}s" >&2
    exit 1
}
python3 bench/bench_heap.py --counted "$BUILD_DIR/server/memoscope" \
    --jemalloc "$JEMALLOC_DIR/server/memoscope" \
    --bench-counted "$BUILD_DIR/bench/bench_heap" --bench-jemalloc "$JEMALLOC_DIR/bench/bench_heap" \
    --also "glibc, no counting layer=$UNCOUNTED_DIR/server/memoscope" "$@"
