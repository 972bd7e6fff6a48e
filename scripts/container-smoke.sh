#!/usr/bin/env bash
# container-smoke.sh -- build memoscope's image, run it, and prove it behaves as a
# container should. Run as root (podman is used rootful; or docker).
#
#   scripts/container-smoke.sh
#
# 1. scripts/container.sh picks podman or docker (installs podman when there is
#    neither), makes sure the debian:bookworm-slim base image exists (pulled
#    where a registry answers, else made here with debootstrap from the Debian
#    mirror apt uses), and the Dockerfile is built.
# 2. Then, with the image it built:
#    - settings reach the binary through -e (MEMOSCOPE_CACHE_SCOPE=global),
#    - the binary is PID 1 and runs as a non-root user,
#    - POST /calculate answers, and GET /stats shows the global scope at work,
#    - the image's HEALTHCHECK passes,
#    - SIGTERM (stop -t 10) lets a request in flight finish, and the
#      container exits with status 0 within STOP_LIMIT_S seconds,
#    - the runtime image holds no compiler.
# Every container it starts is removed on every exit path. It talks to
# 127.0.0.1 only, on free ports in 18080-18099.
#
# env: TAG              image tag (default localhost/memoscope:smoke)
#      STOP_LIMIT_S     how long a stop may take, in seconds (default 5)
#      CTR_ENGINE, CTR_SCRATCH, CTR_PULL_S: see scripts/container.sh
set -euo pipefail

t_start=$(date +%s.%N)
here=$(cd "$(dirname "$0")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null) || root=$(cd "$here/.." && pwd)
TAG=${TAG:-localhost/memoscope:smoke}
STOP_LIMIT_S=${STOP_LIMIT_S:-5}
# shellcheck source=lib.sh
. "$root/scripts/lib.sh"
# shellcheck source=container.sh
. "$root/scripts/container.sh"

# since T0: seconds elapsed since the date +%s.%N T0, to 0.01 s.
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
log() { printf '[container-smoke %6ss] %s\n' "$(since "$t_start")" "$*" >&2; }
fail() {
    echo "container-smoke: FAIL: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || fail "run as root (podman is used rootful here)"
ctr_setup
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

# ------------------------------------------------------------------ the image
log "base image ($CTR)"
ctr_base_image || fail "no debian:bookworm-slim base image"
log "$CTR build -t $TAG $root"
ctr_build "$TAG" "$root" || fail "the image does not build"

# ------------------------------------------------------------------- our run
name="memoscope-smoke-$$"
port=$(free_port)
tmp=$(mktemp -d /tmp/memoscope-smoke.XXXXXX)
slow_pid=
cleanup() {
    # (Not `[ -n ] && kill`: under set -e a kill of a curl that has already
    # ended would leave the function here, and the containers behind.)
    if [ -n "$slow_pid" ]; then kill "$slow_pid" 2>/dev/null || true; fi
    # One name per call: podman 4.3 `rm -f A B` removes nothing when B is missing.
    ctr_rm "$name"
    ctr_rm "$name-idle"
    rm -rf "$tmp"
}
trap cleanup EXIT

# quiet CMD...: runs a container command, showing its stderr only if it fails.
# Without systemd, podman logs an error about the periodic
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
quiet "$CTR" run -d --name "$name" -p "127.0.0.1:$port:8080" \
    -e MEMOSCOPE_CACHE_SCOPE=global -e MEMOSCOPE_DELAY_MS=20 "$TAG" >/dev/null

running() { [ "$("$CTR" inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ]; }
deadline=$((SECONDS + 30))
until curl -fsS -m 2 "$url/healthz" >/dev/null 2>&1; do
    running || {
        "$CTR" logs "$name" >&2 || true
        fail "the container exited before answering"
    }
    ((SECONDS < deadline)) || fail "no answer on $url/healthz within 30 s"
    sleep 0.2
done

startup=$("$CTR" logs "$name" 2>&1 | grep -m1 'listening' || true)
log "startup line: $startup"
[[ "$startup" == *"cache_scope=global"* ]] || fail "-e MEMOSCOPE_CACHE_SCOPE=global did not reach the startup line"
[[ "$startup" == *"port=8080"* ]] || fail "the server does not listen on 8080 in the container"

comm=$("$CTR" exec "$name" cat /proc/1/comm)
[ "$comm" = memoscope ] || fail "PID 1 is '$comm', not memoscope"
uid=$("$CTR" exec "$name" awk '/^Uid:/ { print $2 }' /proc/1/status)
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

health=$(ctr_healthcheck "$name" 2>&1) || fail "the image's HEALTHCHECK fails: $health"
log "HEALTHCHECK: ${health:-healthy}"

# A request in flight when SIGTERM arrives must still get its answer. It
# lasts 3 s, so that the poll below (a python3 start) sees it even when the
# machine is busy (at 1.5 s it was over before the poll began, load 12).
curl -sS -m 20 -o "$tmp/slow.json" -w '%{http_code}' \
    -d '{"a":1,"b":2,"delay_ms":3000}' "$url/calculate" >"$tmp/slow.code" 2>"$tmp/slow.err" &
slow_pid=$!
json_poll "$url/stats" 'd["requests"]["in_flight"] >= 1' 10 ||
    fail "the slow request never showed as in flight"
t0=$(date +%s.%N)
quiet "$CTR" stop -t 10 "$name" >/dev/null
stop_s=$(since "$t0")
wait "$slow_pid" || true
slow_pid=
status=$("$CTR" inspect -f '{{.State.ExitCode}}' "$name")
log "$CTR stop -t 10 took ${stop_s} s, exit status $status"
[ "$status" = 0 ] || {
    "$CTR" logs "$name" 2>&1 | tail -5 >&2
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
quiet "$CTR" run -d --name "$name-idle" --entrypoint sleep "$TAG" 60 >/dev/null
if health=$(ctr_healthcheck "$name-idle" 2>&1); then
    fail "the HEALTHCHECK passes with no server running: $health"
fi
log "HEALTHCHECK with no server: ${health:-unhealthy}"
found=$("$CTR" exec "$name-idle" sh -c '
    for c in cc gcc c99 clang tcc cpp as ld make cmake; do command -v "$c"; done
    for p in gcc cpp binutils libc6-dev build-essential cmake; do
        dpkg -s "$p" >/dev/null 2>&1 && echo "package $p"
    done
    true') || fail "could not look inside the image"
[ -z "$found" ] || fail "the runtime image holds build tools: $found"
ctr_rm "$name-idle"
size=$("$CTR" image inspect -f '{{.Size}}' "$TAG")
base=$("$CTR" image inspect -f '{{.Size}}' "$CTR_BASE" 2>/dev/null || echo 0)
log "no compiler in the runtime image; image $((size / 1000000)) MB, $(((size - base) / 1000)) kB over the base image"

log "PASS"
