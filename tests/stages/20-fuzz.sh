#!/usr/bin/env bash
# Stage 20: fuzzing. Builds the libFuzzer targets of fuzz/ with
# clang (ASan + UBSan, coverage on the code under test) in build-fuzz/ and
# runs each one for a bounded time, starting from its committed seed corpus:
# 30 s per target by default, 10 min with MEMOSCOPE_LONG=1, or
# MEMOSCOPE_FUZZ_SECONDS=N. The seeds are only read; new inputs go to
# build-fuzz/corpus/. A crash (or a broken rule: the targets abort on one)
# fails the stage and leaves the input in build-fuzz/artifacts/: make it a
# regression by copying it to fuzz/corpus/<target>/regress-<what>, which CTest
# then replays in every build. Run from the repository root.
set -euo pipefail
. scripts/lib.sh

if [ "${MEMOSCOPE_LONG:-}" = 1 ]; then
    secs=${MEMOSCOPE_FUZZ_SECONDS:-600}
else
    secs=${MEMOSCOPE_FUZZ_SECONDS:-30}
fi
dir=build-fuzz
RSS_LIMIT_MB=2048 # per target; the memo target stays near 500 MB
INPUT_TIMEOUT_S=10 # one input running longer than this is a hang: a failure

need_pkgs $BUILD_PKGS $FUZZ_PKGS
need_pkgs "$(clang_rt_pkg)" # libFuzzer's runtime
clang_major=$(clang -dumpversion | cut -d. -f1)

say "build $dir (clang $clang_major, libFuzzer)"
cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DMEMOSCOPE_FUZZ=ON -DMEMOSCOPE_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -j "$(nproc)" --target fuzz_request fuzz_memo fuzz_framing

mkdir -p "$dir/artifacts"
passed=0
failed=0
for target in request memo framing; do
    corpus=$dir/corpus/$target
    mkdir -p "$corpus"
    extra=()
    [ -f "fuzz/$target.dict" ] && extra+=("-dict=fuzz/$target.dict")
    say "fuzz_$target for $secs s"
    rc=0
    "$dir/fuzz/fuzz_$target" -max_total_time="$secs" -timeout="$INPUT_TIMEOUT_S" \
        -rss_limit_mb="$RSS_LIMIT_MB" -artifact_prefix="$dir/artifacts/$target-" \
        -print_final_stats=1 "${extra[@]}" "$corpus" "fuzz/corpus/$target" \
        >"$dir/fuzz_$target.log" 2>&1 || rc=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/fuzz_$target.log" | grep -o '[0-9]*$' || true)
    if [ "$rc" = 0 ]; then
        passed=$((passed + 1))
        echo "fuzz_$target: ${runs:-?} inputs in $secs s, no crash (corpus in $corpus: $(ls "$corpus" | wc -l) inputs)"
    else
        failed=$((failed + 1))
        tail -60 "$dir/fuzz_$target.log" >&2
        echo "fuzz_$target FAILED (exit $rc): input saved as $(ls "$dir"/artifacts/"$target"-* 2>/dev/null | tr '\n' ' ')" >&2
        echo "  replay: $dir/fuzz/fuzz_$target <that file>; keep it as fuzz/corpus/$target/regress-<what>" >&2
    fi
done

echo "fuzz: $passed passed, $failed failed"
((failed == 0))
