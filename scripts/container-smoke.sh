#!/usr/bin/env bash
# container-smoke.sh -- build memoscope's image, run it, and prove it behaves as a
# container should. Run as root on Debian 12 (podman is rootful here).
#
#   scripts/container-smoke.sh
#
# 1. ../shared/tools/container-check (beside the repository, as in CI) installs
#    podman, makes the debian:bookworm-slim base image if it is missing, builds
#    the Dockerfile, runs the image and asks GET /healthz.
# 2. Then, with the image it built, our own run:
#    - settings reach the binary through -e (MEMOSCOPE_CACHE_SCOPE=global),
#    - the binary is PID 1 and runs as a non-root user,
#    - POST /calculate answers, and GET /stats shows the global scope at work,
#    - the image's HEALTHCHECK passes,
#    - SIGTERM (podman stop -t 10) lets a request in flight finish, and the
#      container exits with status 0 within STOP_LIMIT_S seconds,
#    - the runtime image holds no compiler.
# Every container it starts is removed on every exit path. It talks to
# 127.0.0.1 only, on free ports in 18080-18099.
#
# env: CONTAINER_CHECK  path of container-check (default ../shared/tools/container-check)
#      TAG              image tag (default localhost/memoscope:smoke)
#      SCRATCH          scratch folder for container-check (default /tmp/memoscope-container)
#      STOP_LIMIT_S     how long a stop may take, in seconds (default 5)
set -euo pipefail

t_start=$(date +%s.%N)
here=$(cd "$(dirname "$0")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null) || root=$(cd "$here/.." && pwd)
check=${CONTAINER_CHECK:-$root/../shared/tools/container-check}
export TAG=${TAG:-localhost/memoscope:smoke}
export SCRATCH=${SCRATCH:-/tmp/memoscope-container}
STOP_LIMIT_S=${STOP_LIMIT_S:-5}
# Keep the image in Docker's format: the OCI format has no HEALTHCHECK, and
# podman would drop ours (with a warning) instead of testing it.
export BUILDAH_FORMAT=docker

# since T0: seconds elapsed since the date +%s.%N T0, to 0.01 s.
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
log() { printf '[container-smoke %6ss] %s\n' "$(since "$t_start")" "$*" >&2; }
fail() {
    echo "container-smoke: FAIL: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || fail "run as root (podman is used rootful here)"
[ -x "$check" ] || fail "container-check not found at $check: the shared/ folder must sit beside the repository (or set CONTAINER_CHECK)"
for tool in curl python3; do
    command -v "$tool" >/dev/null || fail "$tool is missing (tests/stages/50-container.sh installs it)"
done

# A port nobody answers on, in 18080-18099, other than the ones given.
free_port() {
    local p
    for p in $(seq 18080 18099); do
        [[ " $* " == *" $p "* ]] && continue
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || {
            echo "$p"
            return 0
        }
    done
    fail "no free port in 18080-18099"
}

# json_true JSON PY_EXPR: whether PY_EXPR, over the parsed JSON as d, is true.
json_true() {
    python3 -c 'import json, sys
d = json.loads(sys.argv[1])
sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null
}
# json_check WHAT JSON PY_EXPR: fails the smoke test unless PY_EXPR is true.
json_check() { json_true "$2" "$3" || fail "$1: expected $3, got: $2"; }
# json_poll URL PY_EXPR SECONDS: polls GET URL (every 20 ms, in one process)
# until PY_EXPR is true of its JSON answer; false at the deadline.
json_poll() {
    python3 -c 'import json, sys, time, urllib.request
url, expr, deadline = sys.argv[1], sys.argv[2], time.monotonic() + float(sys.argv[3])
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            d = json.load(r)
        if eval(expr):
            sys.exit(0)
    except (OSError, ValueError, KeyError):
        pass
    time.sleep(0.02)
sys.exit(1)' "$@"
}

# ------------------------------------------------------------ container-check
check_port=$(free_port)
log "container-check (tag $TAG, port $check_port)"
# This run does not need the HEALTHCHECK (ours tests it): without it, podman
# does not log errors about the systemd timer it cannot set up here.
EXPECT='"ok"' RUN_ARGS="--no-healthcheck -e MEMOSCOPE_CACHE_SCOPE=global" \
    "$check" "$root" 8080 "$check_port" /healthz
# Our own podman calls need the settings container-check wrote for this sandbox
# (runc, cgroupfs, rlimits).
export CONTAINERS_CONF="$SCRATCH/containers.conf"
[ -f "$CONTAINERS_CONF" ] || fail "container-check left no $CONTAINERS_CONF"

# ------------------------------------------------------------------- our run
name="memoscope-smoke-$$"
port=$(free_port "$check_port")
tmp=$(mktemp -d /tmp/memoscope-smoke.XXXXXX)
slow_pid=
cleanup() {
    [ -n "$slow_pid" ] && kill "$slow_pid" 2>/dev/null
    # One name per call: podman 4.3 `rm -f A B` removes nothing when B is missing.
    local c
    for c in "$name" "$name-idle"; do
        podman rm -f -t 0 "$c" >/dev/null 2>&1 || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

# quiet CMD...: runs a podman command, showing its stderr only if it fails.
# This machine has no systemd, so podman logs an error about the periodic
# timer of the HEALTHCHECK on every start and stop of a container that has one
# (and 4.3 ignores --health-interval=disable); we run the check ourselves.
quiet() {
    "$@" 2>"$tmp/podman.err" || {
        local rc=$?
        cat "$tmp/podman.err" >&2
        return "$rc"
    }
}
trap 'exit 130' INT
trap 'exit 143' TERM

url="http://127.0.0.1:$port"
log "run $name on 127.0.0.1:$port with -e MEMOSCOPE_CACHE_SCOPE=global"
quiet podman run -d --name "$name" -p "127.0.0.1:$port:8080" \
    -e MEMOSCOPE_CACHE_SCOPE=global -e MEMOSCOPE_DELAY_MS=20 "$TAG" >/dev/null

running() { [ "$(podman inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ]; }
deadline=$((SECONDS + 30))
until curl -fsS -m 2 "$url/healthz" >/dev/null 2>&1; do
    running || {
        podman logs "$name" >&2 || true
        fail "the container exited before answering"
    }
    ((SECONDS < deadline)) || fail "no answer on $url/healthz within 30 s"
    sleep 0.2
done

startup=$(podman logs "$name" 2>&1 | grep -m1 'listening' || true)
log "startup line: $startup"
[[ "$startup" == *"cache_scope=global"* ]] || fail "-e MEMOSCOPE_CACHE_SCOPE=global did not reach the startup line"
[[ "$startup" == *"port=8080"* ]] || fail "the server does not listen on 8080 in the container"

comm=$(podman exec "$name" cat /proc/1/comm)
[ "$comm" = memoscope ] || fail "PID 1 is '$comm', not memoscope"
uid=$(podman exec "$name" awk '/^Uid:/ { print $2 }' /proc/1/status)
[[ -n "$uid" && "$uid" != 0 ]] || fail "PID 1 runs as uid '$uid'"
log "PID 1 is memoscope, uid $uid"

post() { curl -sS -m 10 -w '\n%{http_code}' -d "$1" "$url/calculate"; }
out=$(post '{"a":40,"b":2}')
[ "${out##*$'\n'}" = 200 ] || fail "POST /calculate: status ${out##*$'\n'}: ${out%$'\n'*}"
first=${out%$'\n'*}
json_check "POST /calculate" "$first" 'd["result"] == 42 and d["cached"] is False and isinstance(d["instance"], int)'
# In the global scope the key holds the instance: the same call from a new
# request (a new SlowAdder) misses again, and both instances stay alive.
out=$(post '{"a":40,"b":2}')
second=${out%$'\n'*}
json_check "second POST /calculate" "$second" 'd["result"] == 42 and d["cached"] is False'
log "POST /calculate: $first"

stats=$(curl -fsS -m 5 "$url/stats")
json_check "GET /stats" "$stats" 'd["cache_scope"] == "global" and d["requests"]["total"] == 2'
json_check "GET /stats (global keeps instances)" "$stats" \
    'd["instances"]["created"] == 2 and d["instances"]["live"] == 2 and d["cache"]["misses"] == 2 and d["cache"]["hits"] == 0'
log "GET /stats: scope global, 2 instances created and kept alive by the cache"

health=$(podman healthcheck run "$name" 2>&1) || fail "the image's HEALTHCHECK fails: $health"
log "HEALTHCHECK: ${health:-healthy}"

# A request in flight when SIGTERM arrives must still get its answer.
curl -sS -m 20 -o "$tmp/slow.json" -w '%{http_code}' \
    -d '{"a":1,"b":2,"delay_ms":1500}' "$url/calculate" >"$tmp/slow.code" 2>"$tmp/slow.err" &
slow_pid=$!
json_poll "$url/stats" 'd["requests"]["in_flight"] >= 1' 10 ||
    fail "the slow request never showed as in flight"
t0=$(date +%s.%N)
quiet podman stop -t 10 "$name" >/dev/null
stop_s=$(since "$t0")
wait "$slow_pid" || true
slow_pid=
status=$(podman inspect -f '{{.State.ExitCode}}' "$name")
log "podman stop -t 10 took ${stop_s} s, exit status $status"
[ "$status" = 0 ] || {
    podman logs "$name" 2>&1 | tail -5 >&2
    fail "the container exited with status $status after SIGTERM (137 = killed after the 10 s grace)"
}
awk -v s="$stop_s" -v l="$STOP_LIMIT_S" 'BEGIN { exit !(s < l) }' || fail "stopping took ${stop_s} s (limit ${STOP_LIMIT_S} s)"
[ "$(cat "$tmp/slow.code")" = 200 ] ||
    fail "the request in flight at SIGTERM got '$(cat "$tmp/slow.code")': $(cat "$tmp/slow.json" "$tmp/slow.err" 2>/dev/null)"
json_check "request in flight at SIGTERM" "$(cat "$tmp/slow.json")" 'd["result"] == 3'
log "the request in flight at SIGTERM was answered"

# ------------------------------------------- the image without its server
# A container of the image whose server does not run: it holds no compiler,
# and the HEALTHCHECK must fail in it (a check that cannot fail proves nothing).
quiet podman run -d --name "$name-idle" --entrypoint sleep "$TAG" 60 >/dev/null
if health=$(podman healthcheck run "$name-idle" 2>&1); then
    fail "the HEALTHCHECK passes with no server running: $health"
fi
log "HEALTHCHECK with no server: ${health:-unhealthy}"
found=$(podman exec "$name-idle" sh -c '
    for c in cc gcc c99 clang tcc cpp as ld make cmake; do command -v "$c"; done
    for p in gcc cpp binutils libc6-dev build-essential cmake; do
        dpkg -s "$p" >/dev/null 2>&1 && echo "package $p"
    done
    true') || fail "could not look inside the image"
[ -z "$found" ] || fail "the runtime image holds build tools: $found"
quiet podman rm -f -t 0 "$name-idle" >/dev/null
size=$(podman image inspect -f '{{.Size}}' "$TAG")
base=$(podman image inspect -f '{{.Size}}' docker.io/library/debian:bookworm-slim 2>/dev/null || echo 0)
log "no compiler in the runtime image; image $((size / 1000000)) MB, $(((size - base) / 1000)) kB over the base image"

log "PASS"
