# lib.sh -- functions shared by dev.sh and the test stages. Source it.

# The packages, in one place (Debian 12 names). A new stage or script adds its
# own list here, calls need_pkgs with it (so that it runs alone too), and
# appends the list to STAGE_PKGS (so that `./dev.sh test` installs it up front).
#
# ./dev.sh run: what the server alone needs to build (the Dockerfile's list).
BUILD_PKGS="build-essential cmake pkg-config libmicrohttpd-dev libcjson-dev libhiredis-dev"
# ./dev.sh test, the CTest trees: the tests and benchmarks (MEMOSCOPE_TESTS=ON),
# the valgrind test, the load-test kit's unit test, promtool (prometheus: the
# alert rules' tests), and git (the fresh-container stage copies what
# `git ls-files` lists), redis-server and redis-tools (test_redis starts its own),
# jq (the docs test runs the README's examples, which trim answers with it).
TEST_PKGS="libcurl4-openssl-dev valgrind python3 curl prometheus git redis-server redis-tools jq"
# The stages of tests/stages/ and the scripts they run.
FUZZ_PKGS="clang"                             # 20-fuzz (+ libclang-rt-N-dev, N = clang's major)
BROWSER_PKGS="chromium redis-server"          # 40-browser
NODE_PKGS="nodejs npm" # 40-browser, 65-leakcheck, only where no node and npm are found (nodesource's nodejs has npm)
# 50-container, 55-fresh-container (scripts/container.sh): podman with runc and
# its network plugins (-p), debootstrap for a base image made here, and
# redis-server (the image's Redis host-name check).
CONTAINER_PKGS="podman runc containernetworking-plugins iptables debootstrap curl python3 redis-server"
LOADTEST_PKGS="wrk gnuplot-nox python3 redis-server nginx-light" # 60-loadtest, loadtest/run.sh
BENCH_PKGS="wrk python3 python3-flask valgrind redis-server redis-tools" # 70-bench-smoke, bench/*.sh
LEAKCHECK_PKGS="wrk gnuplot-nox python3" # 65-leakcheck, loadtest/leakcheck.sh (+ node: NODE_PKGS)
STAGE_PKGS="$FUZZ_PKGS $BROWSER_PKGS $CONTAINER_PKGS $LOADTEST_PKGS $LEAKCHECK_PKGS $BENCH_PKGS"

# need_stage_pkgs: everything the stages use, up front (each stage still
# asks for its own, to run alone).
need_stage_pkgs() {
    need_pkgs $STAGE_PKGS
    { command -v node >/dev/null && command -v npm >/dev/null; } || need_pkgs $NODE_PKGS
    need_pkgs "$(clang_rt_pkg)"
}

# clang_rt_pkg: the compiler-rt package of the clang installed (libFuzzer's
# runtime, which clang only recommends).
clang_rt_pkg() { echo "libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev"; }

say() { printf '\n=== %s\n' "$*" >&2; }

# need_pkgs PKG...: apt-get install the packages that are not installed yet.
need_pkgs() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    say "installing ${missing[*]}"
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=600 "${missing[@]}"
}

# build DIR [CMAKE_ARGS...]: configure (once) and build a tree.
build() {
    local dir=$1
    shift
    say "build $dir $*"
    cmake -S . -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j "$(nproc)"
}

# build_server DIR: configure and build the server alone in DIR (no tests or
# benchmarks: they need libcurl and more), as the Dockerfile does.
build_server() {
    local dir=$1
    say "build $dir (the server alone)"
    cmake -S . -B "$dir" -DMEMOSCOPE_TESTS=OFF >/dev/null
    cmake --build "$dir" -j "$(nproc)" --target memoscope
}

# run_ctest DIR: run every test of a tree, failing on the first failed tree.
run_ctest() {
    say "ctest $1"
    ctest --test-dir "$1" --output-on-failure -j 2 --timeout 600
}
