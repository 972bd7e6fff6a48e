#!/usr/bin/env bash
# Stage 40: the live page in a real browser. Debian's Chromium,
# driven headless by playwright-core, loads GET / from the server built in
# build/, under a short load from the test itself (loopback only), and checks
# that the charts get points, that the clear button frees the instances, that
# the page rides out a restart and fits a phone, and that the memory chart
# draws the memory limit and the page shows Redis's figures (memory.test.mjs,
# with a private redis-server on a Unix socket). Saves screenshots
# (MEMOSCOPE_SCREENSHOT, default /tmp/memoscope-live-page.png). With
# MEMOSCOPE_LONG=1 it also soaks the page for a simulated hour.
# Run from the repository root; exits non-zero on any failure.
set -euo pipefail
. scripts/lib.sh

TEST_TIMEOUT_S=240 # the tests take ~35 s; these bound a hung browser
SOAK_TIMEOUT_S=900 # the soak takes ~2 min

need_pkgs $BROWSER_PKGS
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    need_pkgs $NODE_PKGS
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 18)); then
    echo "node $(node --version) is too old: the browser test needs node 18 or later" >&2
    exit 1
fi

# The server dev.sh built; build it here only when the stage runs alone.
if [ ! -x build/server/memoscope ]; then
    need_pkgs $BUILD_PKGS
    build build
fi

t0=$(date +%s)
say "npm ci in tests/browser (playwright-core only; it never downloads a browser)"
(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)

say "browser test"
(cd tests/browser && MEMOSCOPE_BIN="$PWD/../../build/server/memoscope" \
    timeout --kill-after=10 "$TEST_TIMEOUT_S" node --test live-page.test.mjs history.test.mjs memory.test.mjs)
if [ "${MEMOSCOPE_LONG:-0}" = 1 ]; then
    say "browser soak: an hour of polling on a fake clock (~2 min)"
    (cd tests/browser && MEMOSCOPE_BIN="$PWD/../../build/server/memoscope" \
        timeout --kill-after=10 "$SOAK_TIMEOUT_S" node --test soak.test.mjs)
fi
say "browser stage passed in $(($(date +%s) - t0)) s"
