# lib.sh -- helpers shared by dev.sh and the test stages. Source it.

BUILD_PKGS="build-essential cmake pkg-config libmicrohttpd-dev libcjson-dev"
TEST_PKGS="libcurl4-openssl-dev clang valgrind python3 curl prometheus"

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

# run_ctest DIR: run every test of a tree, failing on the first failed tree.
run_ctest() {
    say "ctest $1"
    ctest --test-dir "$1" --output-on-failure -j 2 --timeout 600
}
