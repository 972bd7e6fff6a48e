#!/usr/bin/env bash
# Stage: the load-test kit end to end, briefly. Runs loadtest/run.py on the
# server in build/ with every scope for 2 s (127.0.0.1 only), then checks
# that it wrote the report: report.md with its claims table, the PNG plots
# and one CSV of /stats samples per scope. The runner itself fails when a
# server does not exit 0 on SIGTERM. The claims need the full default run
# (./loadtest/run.sh, ~2 min); here only the kit's working is checked. With
# MEMOSCOPE_LONG=1 the full default run is made and its claims must pass.
set -euo pipefail
. scripts/lib.sh
t0=$(date +%s)

need_pkgs $BUILD_PKGS $LOADTEST_PKGS
build build

out=$(mktemp -d /tmp/memoscope-loadtest.XXXXXX)
trap 'rm -rf "$out"' EXIT

if [ "${MEMOSCOPE_LONG:-}" = 1 ]; then
    say "loadtest: the full default run, claims checked"
    python3 loadtest/run.py --server build/server/memoscope --out "$out" --check
else
    say "loadtest: 2 s per scope, to check the kit; the claims need the full run (not checked here)"
    # The claims need the full run: here their lines are labelled as what
    # they are, so that a CI log shows no FAIL that is not a failure.
    python3 loadtest/run.py --server build/server/memoscope --out "$out" \
        --scopes global:128@2,global:none@2,local@2,shared@2,off@2 \
        --connections 32 --delay-ms 5 --warmup 0.5 |
        sed -E 's/^(PASS|FAIL)  /claim not checked in a 2 s run (\1): /'
fi

fail=0
for f in report.md run.json rss.png heap.png live.png hits.png rate.png \
    stats-global-128.csv stats-global-none.csv stats-local.csv stats-shared.csv stats-off.csv; do
    if [ ! -s "$out/$f" ]; then
        echo "loadtest stage: $f missing or empty" >&2
        fail=1
    fi
done
for csv in "$out"/stats-*.csv; do
    rows=$(($(wc -l <"$csv") - 1))
    if [ "$rows" -lt 8 ]; then # 2 s at 5 samples a second, plus idle and drain
        echo "loadtest stage: $csv has only $rows samples" >&2
        fail=1
    fi
done
grep -q '^| PASS |\|^| \*\*FAIL\*\* |' "$out/report.md" || {
    echo "loadtest stage: report.md has no claims table" >&2
    fail=1
}
# Two replicas behind nginx sharing a private Redis, 3 s per
# scope: the kit runs end to end; its claims need the full run (exit status
# 1 is a claim that failed, anything else a kit that broke).
say "loadtest: --replicas 2 --backend redis, 3 s per scope (claims not checked here)"
set +e
python3 loadtest/replicas.py --server build/server/memoscope --out "$out/replicas" --duration 3 |
    sed -E 's/^- \*\*(PASS|FAIL)\*\*/- claim not checked in a 3 s run (\1):/'
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -gt 1 ]; then
    echo "loadtest stage: replicas.py failed ($rc)" >&2
    fail=1
fi
for f in report.md run.json samples-global.csv samples-shared.csv; do
    [ -s "$out/replicas/$f" ] || { echo "loadtest stage: replicas/$f missing or empty" >&2; fail=1; }
done
[ "$fail" = 0 ] || exit 1
say "loadtest stage passed in $(($(date +%s) - t0)) s"
