#!/usr/bin/env bash
# container-smoke.sh -- build memoscope's image, run it hardened, and prove it
# behaves as a container should. Run as root (podman is used rootful; or docker).
#
#   scripts/container-smoke.sh
#
# 1. scripts/container.sh picks podman or docker (installs podman when there is
#    neither), makes sure the debian:bookworm-slim base image (the build stage)
#    exists (pulled where a registry answers, else made here with debootstrap
#    from the Debian mirror apt uses), and the Dockerfile is built.
# 2. The image: at most SIZE_LIMIT_B bytes; its version label is what the
#    binary's --version says (and CMakeLists.txt), its revision label the
#    commit; its files are the binary, the loader, libraries and /etc, with no
#    shell (an --entrypoint /bin/sh cannot start) and nothing setuid.
# 3. Then, run with --read-only --cap-drop ALL --security-opt no-new-privileges
#    (and, on podman, no tmpfs mounts either):
#    - its own probe (the HEALTHCHECK) says healthy, and the time to it is shown,
#    - seen from the host (/proc/PID/status and mountinfo): PID 1 is memoscope,
#      its user the image's numeric non-root one, no capability in any set,
#      no_new_privs set, and the root filesystem mounted read-only,
#    - settings reach the binary through -e (MEMOSCOPE_CACHE_SCOPE=global),
#    - POST /calculate answers, and GET /stats shows the global scope at work,
#    - SIGTERM (stop -t 10) lets a request in flight finish, and the
#      container exits with status 0 within STOP_LIMIT_S seconds,
#    - the HEALTHCHECK fails when nothing answers on MEMOSCOPE_PORT,
#    - a Redis host name (redis://localhost:PORT) resolves in the image: the
#      server stores its entries in a redis-server this script starts on
#      127.0.0.1 (the container on the host's network).
# Every container it starts is removed on every exit path, and the
# redis-server stopped by PID. It talks to 127.0.0.1 only, on free ports in
# 18080-18099.
#
# env: TAG              image tag (default localhost/memoscope:smoke)
#      STOP_LIMIT_S     how long a stop may take, in seconds (default 5)
#      SIZE_LIMIT_B     the image's size at most, in bytes (default 15000000)
#      CTR_ENGINE, CTR_SCRATCH, CTR_PULL_S: see scripts/container.sh
set -euo pipefail

t_start=$(date +%s.%N)
here=$(cd "$(dirname "$0")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null) || root=$(cd "$here/.." && pwd)
TAG=${TAG:-localhost/memoscope:smoke}
STOP_LIMIT_S=${STOP_LIMIT_S:-5}
SIZE_LIMIT_B=${SIZE_LIMIT_B:-15000000}
HEALTHY_LIMIT_S=30
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
for tool in curl python3 redis-server redis-cli; do
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
# json_poll URL PY_EXPR SECONDS [READY_FILE]: polls GET URL (every 20 ms, in
# one process) until PY_EXPR is true of its JSON answer; false at the
# deadline. READY_FILE is created after the first answer (the poll runs).
json_poll() {
    python3 -c 'import json, sys, time, urllib.request
url, expr, deadline = sys.argv[1], sys.argv[2], time.monotonic() + float(sys.argv[3])
ready = sys.argv[4] if len(sys.argv) > 4 else None
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            d = json.load(r)
        if ready:
            open(ready, "w").close()
            ready = None
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
t0=$(date +%s.%N)
ctr_build "$TAG" "$root" || fail "the image does not build"
build_s=$(since "$t0")

size=$("$CTR" image inspect -f '{{.Size}}' "$TAG")
((size <= SIZE_LIMIT_B)) || fail "the image is $size bytes, over $SIZE_LIMIT_B"
log "image $TAG: $size bytes ($(((size + 500000) / 1000000)) MB; at most $SIZE_LIMIT_B), built in ${build_s} s"

label() { "$CTR" image inspect -f "{{index .Config.Labels \"org.opencontainers.image.$1\"}}" "$TAG"; }
version=$("$CTR" run --rm "$TAG" --version 2>/dev/null) || fail "$TAG --version fails"
[ "$version" = "memoscope $(label version)" ] ||
    fail "the version label '$(label version)' is not the binary's ('$version')"
[ "$(label version)" = "$(ctr_version "$root")" ] ||
    fail "the version label '$(label version)' is not CMakeLists.txt's '$(ctr_version "$root")'"
[ "$(label revision)" = "$(ctr_revision "$root")" ] ||
    fail "the revision label '$(label revision)' is not the checkout's '$(ctr_revision "$root")'"
[ -n "$(label source)" ] && [ -n "$(label licenses)" ] || fail "the source or licenses label is missing"
log "labels: version $(label version) (= $version), revision $(label revision)"

# ------------------------------------------------------------------- our run
name="memoscope-smoke-$$"
tmp=$(mktemp -d /tmp/memoscope-smoke.XXXXXX)
slow_pid=
redis_pid=
cleanup() {
    # (Not `[ -n ] && kill`: under set -e a kill of a curl that has already
    # ended would leave the function here, and the containers behind.)
    if [ -n "$slow_pid" ]; then kill "$slow_pid" 2>/dev/null || true; fi
    if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; fi
    # One name per call: podman 4.3 `rm -f A B` removes nothing when B is missing.
    ctr_rm "$name"
    ctr_rm "$name-files"
    ctr_rm "$name-noport"
    ctr_rm "$name-redis"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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

# What is in the image: the files of a container made from it (never started).
quiet "$CTR" create --name "$name-files" "$TAG" >/dev/null
"$CTR" export "$name-files" | tar -tvf - >"$tmp/files" || fail "could not list the image's files"
ctr_rm "$name-files"
nfiles=$(grep -c '^-' "$tmp/files" || true)
shells=$(awk '{ print $NF }' "$tmp/files" | grep -E '(^|/)(sh|bash|dash|ash|busybox|su|sudo)$' || true)
[ -z "$shells" ] || fail "the image holds a shell or su: $shells"
setid=$(awk '$1 ~ /^-.*[sS]/ { print $NF }' "$tmp/files")
[ -z "$setid" ] || fail "the image holds setuid or setgid files: $setid"
unexpected=$(awk '$1 ~ /^-/ { print $NF }' "$tmp/files" |
    grep -vE '^(usr/local/bin/memoscope|lib64/ld-linux[^/]*\.so\.[0-9]+|lib/[^/]+/lib[^/]+\.so[.0-9]*|etc/(passwd|group|nsswitch\.conf))$' || true)
[ -z "$unexpected" ] || fail "the image holds more than the binary, its libraries and /etc: $unexpected"
if quiet "$CTR" run --rm --entrypoint /bin/sh "$TAG" -c true >/dev/null 2>&1; then
    fail "a shell starts in the image"
fi
log "files: $nfiles (the binary, the loader, $((nfiles - 5)) libraries, passwd, group, nsswitch.conf); no shell, nothing setuid"

# The hardened run: what docs/container.md tells people to use. Podman also
# mounts tmpfs on /tmp, /run and /var/tmp with --read-only; not here, so that
# the server is seen to need no writable directory at all (as with docker).
harden=(--read-only --cap-drop ALL --security-opt no-new-privileges)
[ "$CTR" = podman ] && harden+=(--read-only-tmpfs=false)
port=$(free_port)
url="http://127.0.0.1:$port"
log "run $name hardened (${harden[*]}) on 127.0.0.1:$port with -e MEMOSCOPE_CACHE_SCOPE=global"
t0=$(date +%s.%N)
quiet "$CTR" run -d --name "$name" "${harden[@]}" -p "127.0.0.1:$port:8080" \
    -e MEMOSCOPE_CACHE_SCOPE=global -e MEMOSCOPE_DELAY_MS=20 "$TAG" >/dev/null

running() { [ "$("$CTR" inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }
# The image's own HEALTHCHECK, run until it passes: the probe inside, no curl.
until health=$(ctr_healthcheck "$name" 2>&1); do
    running "$name" || {
        "$CTR" logs "$name" >&2 || true
        fail "the container exited before it was healthy"
    }
    awk -v s="$(since "$t0")" -v l="$HEALTHY_LIMIT_S" 'BEGIN { exit !(s < l) }' ||
        fail "not healthy within $HEALTHY_LIMIT_S s: $health"
    sleep 0.1
done
healthy_s=$(since "$t0")
log "HEALTHCHECK (memoscope --probe in the image): ${health:-healthy}, ${healthy_s} s after run"
curl -fsS -m 5 -o /dev/null "$url/healthz" || fail "GET /healthz on $url fails"

startup=$("$CTR" logs "$name" 2>&1 | grep -m1 'listening' || true)
log "startup line: $startup"
[[ "$startup" == *"cache_scope=global"* ]] || fail "-e MEMOSCOPE_CACHE_SCOPE=global did not reach the startup line"
[[ "$startup" == *"port=8080"* ]] || fail "the server does not listen on 8080 in the container"

# Seen from the host: the process the engine started, its credentials and
# its root mount (the image has no shell to ask from inside).
pid=$("$CTR" inspect -f '{{.State.Pid}}' "$name")
[ -r "/proc/$pid/status" ] || fail "no /proc/$pid for the container's PID 1"
status_of() { awk -v k="$1:" '$1 == k { $1 = ""; print substr($0, 2) }' "/proc/$pid/status"; }
[ "$(cat "/proc/$pid/comm")" = memoscope ] || fail "the container's process is '$(cat "/proc/$pid/comm")', not memoscope"
[ "$(status_of NSpid | awk '{ print $NF }')" = 1 ] || fail "memoscope is not PID 1 in its namespace: NSpid $(status_of NSpid)"
image_user=$("$CTR" image inspect -f '{{.Config.User}}' "$TAG")
[[ "$image_user" =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]] || fail "the image's USER '$image_user' is not a numeric non-root uid:gid"
read -r -a uids <<<"$(status_of Uid)"
read -r -a gids <<<"$(status_of Gid)"
for id in "${uids[@]}"; do [ "$id" = "${image_user%:*}" ] || fail "PID 1's uids are ${uids[*]}, not ${image_user%:*}"; done
for id in "${gids[@]}"; do [ "$id" = "${image_user#*:}" ] || fail "PID 1's gids are ${gids[*]}, not ${image_user#*:}"; done
for set in CapInh CapPrm CapEff CapBnd CapAmb; do
    [ "$(status_of "$set")" = 0000000000000000 ] || fail "PID 1 holds capabilities: $set $(status_of "$set")"
done
[ "$(status_of NoNewPrivs)" = 1 ] || fail "PID 1 may gain privileges: NoNewPrivs $(status_of NoNewPrivs)"
[ "$("$CTR" inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$name")" = true ] || fail "the container's root is not read-only"
rootopts=$(awk '$5 == "/" { print $6 }' "/proc/$pid/mountinfo" | head -1)
[[ "$rootopts" == ro,* || "$rootopts" == ro ]] || fail "the root filesystem is mounted '$rootopts', not ro"
log "PID 1: memoscope, uid:gid $image_user (real, effective, saved, fs), no capabilities in any set, NoNewPrivs 1, / mounted $rootopts"

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

# A request in flight when SIGTERM arrives must still get its answer. It
# lasts 2 s; the poll that sees it in flight is running before it is sent
# (a python3 start took longer than 3 s at load 16), and the stop waits for
# what is left of it (STOP_LIMIT_S bounds the wait and the engine's own time).
json_poll "$url/stats" 'd["requests"]["in_flight"] >= 1' 30 "$tmp/polling" &
poll_pid=$!
until [ -e "$tmp/polling" ]; do
    kill -0 "$poll_pid" 2>/dev/null || fail "GET /stats does not answer"
    sleep 0.05
done
curl -sS -m 20 -o "$tmp/slow.json" -w '%{http_code}' \
    -d '{"a":1,"b":2,"delay_ms":2000}' "$url/calculate" >"$tmp/slow.code" 2>"$tmp/slow.err" &
slow_pid=$!
wait "$poll_pid" || fail "the slow request never showed as in flight"
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

# ------------------------------------- the HEALTHCHECK can fail (nothing there)
# The server listens on 8081, the probe asks MEMOSCOPE_PORT (8080): a check
# that cannot fail proves nothing.
quiet "$CTR" run -d --name "$name-noport" "${harden[@]}" "$TAG" --port 8081 >/dev/null
until "$CTR" logs "$name-noport" 2>&1 | grep -q 'listening'; do
    running "$name-noport" || fail "the server on 8081 exited: $("$CTR" logs "$name-noport" 2>&1 | tail -3)"
    sleep 0.1
done
if health=$(ctr_healthcheck "$name-noport" 2>&1); then
    fail "the HEALTHCHECK passes with nothing on MEMOSCOPE_PORT: $health"
fi
log "HEALTHCHECK with nothing on MEMOSCOPE_PORT: ${health:-unhealthy}"
ctr_rm "$name-noport"

# ----------------------------------------- a Redis host name, in the image
# hiredis resolves the host with getaddrinfo: "localhost" comes from the
# /etc/hosts the engine provides, through nsswitch.conf, with no NSS module
# on disk.
rport=$(free_port "$port")
redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no --daemonize no \
    >"$tmp/redis.log" 2>&1 &
redis_pid=$!
until redis-cli -p "$rport" ping >/dev/null 2>&1; do
    kill -0 "$redis_pid" 2>/dev/null || fail "redis-server did not start: $(tail -3 "$tmp/redis.log")"
    sleep 0.1
done
hport=$(free_port "$port" "$rport")
quiet "$CTR" run -d --name "$name-redis" "${harden[@]}" --network host \
    -e MEMOSCOPE_BIND=127.0.0.1 -e MEMOSCOPE_PORT="$hport" "$TAG" --delay-ms 0 \
    --cache-backend redis --cache-scope shared --redis-url "redis://localhost:$rport/0" >/dev/null
until health=$(ctr_healthcheck "$name-redis" 2>&1); do
    running "$name-redis" || fail "the Redis-backed server exited: $("$CTR" logs "$name-redis" 2>&1 | tail -3)"
    sleep 0.1
done
curl -fsS -m 10 -o /dev/null -d '{"a":5,"b":6}' "http://127.0.0.1:$hport/calculate" ||
    fail "POST /calculate with the Redis backend failed"
keys=$(redis-cli -p "$rport" --scan --pattern 'memoscope:*' | wc -l)
((keys >= 1)) || fail "no memoscope key in Redis: 'localhost' did not resolve in the image? $("$CTR" logs "$name-redis" 2>&1 | grep -i redis | tail -3)"
log "redis://localhost:$rport resolved in the image: $keys key(s) stored"
ctr_rm "$name-redis"

log "PASS: image $size bytes, healthy ${healthy_s} s after run, stopped in ${stop_s} s with status 0"
