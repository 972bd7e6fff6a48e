#!/usr/bin/env bash
# Stage 55: the first command on a truly fresh machine. A clean
# copy of the checkout (what `git ls-files` lists), in a new Debian 12
# container with nothing added (debian:bookworm-slim, see scripts/container.sh),
# runs `./dev.sh run` on a free loopback port: it must install what it needs,
# build, and serve, within FRESH_TIMEOUT_S. Passes when GET /healthz answers
# 200 and POST /calculate {"a": 1, "b": 2} answers {"result": 3, ...}, then
# stops the container (SIGTERM: exit 0). Fails with the log's tail otherwise.
#
# The container shares the host's network (its apt must reach the Debian
# mirror); the server listens on 127.0.0.1 only. Run from the repository root.
#
# env: MEMOSCOPE_FRESH_TIMEOUT_S  bound for install + build + start (default 900)
set -euo pipefail
. scripts/lib.sh
. scripts/container.sh

TIMEOUT_S=${MEMOSCOPE_FRESH_TIMEOUT_S:-900} # measured: ~2 min here; the mirror may be slow
STOP_LIMIT_S=15
t0=$SECONDS
need_pkgs git curl python3
ctr_setup
ctr_base_image

# A port nobody listens on (the container shares the host's network).
port=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
name=memoscope-fresh-$$
tmp=$(mktemp -d /tmp/memoscope-fresh.XXXXXX)
cleanup() {
    ctr_rm "$name"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "fresh-container: FAIL: $*" >&2
    echo "--- the container's log (last 40 lines):" >&2
    "$CTR" logs "$name" 2>&1 | tail -40 >&2 || true
    exit 1
}

# The checkout as a clone would have it: tracked files only (no build trees,
# no node_modules), with their modes.
mkdir "$tmp/src"
git ls-files -z | tar --null -T - --ignore-failed-read -cf - | tar -C "$tmp/src" -xf -
say "fresh container: ./dev.sh run in a new $CTR_BASE ($(git ls-files | wc -l) files, port $port)"
"$CTR" create --name "$name" --network host -w /memoscope "$CTR_BASE" \
    ./dev.sh run --bind 127.0.0.1 --port "$port" >/dev/null
"$CTR" cp "$tmp/src/." "$name:/memoscope"
"$CTR" start "$name" >/dev/null
t_start=$SECONDS

url=http://127.0.0.1:$port
until curl -fsS -m 2 -o /dev/null "$url/healthz" 2>/dev/null; do
    [ "$("$CTR" inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ] ||
        fail "./dev.sh run exited (status $("$CTR" inspect -f '{{.State.ExitCode}}' "$name")) before serving"
    ((SECONDS - t_start < TIMEOUT_S)) || fail "no answer on $url/healthz within $TIMEOUT_S s"
    sleep 2
done
serving_s=$((SECONDS - t_start))
echo "fresh-container: GET /healthz 200 after $serving_s s (install, build, start)"

answer=$(curl -fsS -m 10 -d '{"a": 1, "b": 2}' "$url/calculate") || fail "POST /calculate failed"
python3 -c 'import json, sys
d = json.loads(sys.argv[1])
sys.exit(0 if d.get("result") == 3 and d.get("cached") is False else 1)' "$answer" ||
    fail "POST /calculate answered: $answer"
echo "fresh-container: POST /calculate: $answer"

"$CTR" stop -t "$STOP_LIMIT_S" "$name" >/dev/null
status=$("$CTR" inspect -f '{{.State.ExitCode}}' "$name")
[ "$status" = 0 ] || fail "the server exited with status $status on SIGTERM"
say "fresh-container stage passed in $((SECONDS - t0)) s (serving after $serving_s s)"
