#!/usr/bin/env bash
# dev.sh -- the two commands of memoscope (run as root on Debian 12).
#
#   ./dev.sh run [memoscope flags...]   install what is missing, build, start the service
#   ./dev.sh test                       install what is missing, build, pass every test
#
# `run` installs only what the server's build needs ($BUILD_PKGS) and builds
# the server alone (no tests: they need libcurl and more) in build-run/, as
# the Dockerfile does; the binary is build-run/server/memoscope.
# `test` installs everything the tests and stages use (scripts/lib.sh lists
# them), builds three trees (plain build/, ASan+UBSan, TSan), runs CTest in
# each, then runs each stage script in tests/stages/ (fuzz, browser,
# container image, fresh container, ...) in name order. MEMOSCOPE_LONG=1
# turns on the long soaks and fuzz runs.
set -euo pipefail
cd "$(dirname "$0")"
. scripts/lib.sh

cmd=${1:-}
[ $# -gt 0 ] && shift

case "$cmd" in
run)
    need_pkgs $BUILD_PKGS
    build_server build-run
    exec build-run/server/memoscope "$@"
    ;;
test)
    need_pkgs $BUILD_PKGS $TEST_PKGS
    need_stage_pkgs
    t0=$(date +%s)
    build build -DMEMOSCOPE_TESTS=ON
    run_ctest build
    build build-asan -DSANITIZE=address,undefined -DCMAKE_BUILD_TYPE=RelWithDebInfo
    run_ctest build-asan
    build build-tsan -DSANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo
    TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1" \
        run_ctest build-tsan
    for stage in tests/stages/*.sh; do
        [ -e "$stage" ] || continue
        say "stage $stage"
        bash "$stage"
    done
    say "all tests passed in $(( $(date +%s) - t0 )) s"
    ;;
*)
    echo "usage: ./dev.sh run [flags] | ./dev.sh test" >&2
    exit 2
    ;;
esac
