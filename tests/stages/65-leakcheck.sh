#!/usr/bin/env bash
# Stage: the leak check (loadtest/leakcheck.sh) on services of several kinds,
# each under 5 s of wrk on 127.0.0.1, each verdict pinned: the article's
# Python program with lru_cache on the method (grows), its per-instance fix
# (flat, also with the cycle collector's sawtooth made visible), a
# staticmethod cache (flat), a Node service keeping a Buffer per request
# (grows) and keeping nothing (flat), memoscope in global/none (grows, as its
# /stats says) and local (flat). tests/loadtest/test_leakcheck_examples.py
# starts and stops each service; the fit itself is tested in CTest
# (loadtest_leakcheck).
set -euo pipefail
. scripts/lib.sh
t0=$(date +%s)

need_pkgs $BUILD_PKGS $LEAKCHECK_PKGS
command -v node >/dev/null || need_pkgs $NODE_PKGS
build build

say "leakcheck: the examples' verdicts under load"
MEMOSCOPE_BIN=build/server/memoscope python3 tests/loadtest/test_leakcheck_examples.py
say "leakcheck stage passed in $(($(date +%s) - t0)) s"
