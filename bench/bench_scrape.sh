#!/usr/bin/env bash
# bench_scrape.sh -- /stats and /metrics at 0, 10^5, 10^6 and 10^7 live
# instances (global scope, maxsize none, --instance-bytes 0, --delay-ms 0),
# and POST /calculate's p99 and slowest answer with and without a 10 Hz
# /stats scrape at the largest size reached, same server, same run.
#
#   bench/bench_scrape.sh [bench_scrape.py options]     (as root on Debian 12: installs what is missing)
#
# Builds memoscope in $BUILD_DIR (default build/), then runs
# bench/bench_scrape.py (see its header; --help lists the options: --sizes,
# --grow-s, the time allowed to grow, 600 s by default, --rounds, --load-s).
# BIN=path/to/memoscope measures another binary (an older commit, say)
# without building. Holds /tmp/memoscope-bench.lock (flock) while it
# measures. Loopback only; figures, not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

BUILD_DIR=${BUILD_DIR:-build}
LOCK=/tmp/memoscope-bench.lock
LOCK_WAIT_S=900

need_pkgs $BUILD_PKGS wrk python3
if [ -z "${BIN:-}" ]; then
    say "build $BUILD_DIR: memoscope"
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD_DIR" -j "$(nproc)" --target memoscope >/dev/null
    BIN=$BUILD_DIR/server/memoscope
fi
exec 9>>"$LOCK"
flock -w "$LOCK_WAIT_S" 9 || {
    echo "bench_scrape: $LOCK still held after ${LOCK_WAIT_S}s" >&2
    exit 1
}
python3 bench/bench_scrape.py --bin "$BIN" "$@"
