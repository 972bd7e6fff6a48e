#!/usr/bin/env bash
# valgrind_server.sh MEMOSCOPE_BIN -- the server under valgrind's memcheck.
#
# For each scope (global bounded and unbounded, local, shared, off, weak, and
# global with a TTL and a byte bound) it starts
# the server under valgrind --leak-check=full, sends a few dozen requests of
# every kind (hits and misses, a batch, bad bodies, a chunked body over the
# limit, a client that leaves mid-delay, a couple of delayed calls that go
# through suspend/resume, every GET route, DELETE /cache), then SIGTERM with
# a delayed request still in flight. It requires exit status 0, no byte
# definitely or indirectly lost, and no error in valgrind's log. What
# libmicrohttpd and glibc keep "still reachable" at exit is fine.
set -euo pipefail
bin=${1:?usage: valgrind_server.sh MEMOSCOPE_BIN}
work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

START_S=60       # valgrind starts slowly
CURL=(curl -s -o /dev/null -w '%{http_code}' --max-time 30)
failures=0
fail() {
    echo "  FAIL: $*" >&2
    failures=$((failures + 1))
}

# expect STATUS CURL_ARGS...: one request, its status checked.
expect() {
    local want=$1 got
    shift
    got=$("${CURL[@]}" "$@" || true)
    [ "$got" = "$want" ] || fail "$* -> $got, want $want"
}

run() {
    local name=$1
    shift
    local log=$work/$name.valgrind err=$work/$name.stderr
    valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
        --log-file="$log" "$bin" --bind 127.0.0.1 --port 0 --delay-ms 0 --instance-bytes 1024 \
        "$@" 2>"$err" &
    pid=$!
    local port= t
    for ((t = 0; t < START_S * 10; t++)); do
        port=$(grep -o ' port=[0-9]*' "$err" | head -1 | cut -d= -f2 || true)
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        fail "$name: the server did not start"
        cat "$err" "$log" >&2
        return
    fi
    local url=http://127.0.0.1:$port
    echo "$name: $*, port $port" >&2

    # Misses and hits, keys repeated across requests.
    for i in $(seq 1 24); do
        expect 200 -d "{\"a\": $((i % 8)), \"b\": 1}" "$url/calculate"
    done
    expect 200 -d '{"calls": [{"a": 1, "b": 2}, {"a": 1, "b": 2}, {"a": 3, "b": 4}]}' "$url/calculate"
    # Two calls that wait (suspend, timer, resume), one pair at once on the
    # same key (single-flight in shared scope).
    expect 200 -d '{"a": 100, "b": 1, "delay_ms": 50}' "$url/calculate"
    "${CURL[@]}" -d '{"a": 101, "b": 1, "delay_ms": 200}' "$url/calculate" >"$work/pair" &
    local other=$!
    expect 200 -d '{"a": 101, "b": 1, "delay_ms": 200}' "$url/calculate"
    wait "$other" || true
    [ "$(cat "$work/pair")" = 200 ] || fail "$name: the other of the pair -> $(cat "$work/pair")"
    # Bad input: nothing may leak on the error paths.
    expect 400 -d '{"a": 1}' "$url/calculate"
    expect 400 -d 'not json' "$url/calculate"
    expect 400 -d '{"a": 1.5, "b": 2}' "$url/calculate"
    expect 413 -H 'Transfer-Encoding: chunked' --data-binary "@$work/big" "$url/calculate"
    expect 405 "$url/calculate"
    expect 404 "$url/nope"
    # A client that leaves while its call waits.
    "${CURL[@]}" --max-time 0.2 -d '{"a": 102, "b": 1, "delay_ms": 1000}' "$url/calculate" \
        >/dev/null || true
    for route in /stats /metrics /cache /healthz /; do
        expect 200 "$url$route"
    done
    expect 200 -X DELETE "$url/cache"
    expect 200 -d '{"a": 5, "b": 5}' "$url/calculate"

    # SIGTERM with a delayed request in flight: it finishes, then the exit.
    "${CURL[@]}" -d '{"a": 103, "b": 1, "delay_ms": 300}' "$url/calculate" >"$work/last" &
    other=$!
    sleep 0.1 # let it arrive; an early SIGTERM is also a valid run
    kill -TERM "$pid"
    local rc=0
    wait "$pid" || rc=$?
    pid=
    wait "$other" || true
    [ "$rc" = 0 ] || fail "$name: exit status $rc (99 = valgrind found errors)"

    # The verdict from valgrind's own log.
    grep -q 'ERROR SUMMARY: 0 errors' "$log" || fail "$name: valgrind reports errors"
    if grep -q 'LEAK SUMMARY' "$log"; then
        grep -q 'definitely lost: 0 bytes' "$log" || fail "$name: bytes definitely lost"
        grep -q 'indirectly lost: 0 bytes' "$log" || fail "$name: bytes indirectly lost"
    else
        grep -q 'no leaks are possible' "$log" || fail "$name: no leak summary in the log"
    fi
    grep -E 'definitely lost|indirectly lost|ERROR SUMMARY|in use at exit' "$log" | sed 's/^==[0-9]*== /  /' >&2
    if ((failures)); then
        echo "--- $name: valgrind log" >&2
        cat "$log" >&2
        echo "--- $name: server stderr" >&2
        cat "$err" >&2
    fi
}

head -c 20000 /dev/zero | tr '\0' ' ' >"$work/big"
run global --cache-scope global --maxsize 16
run global-unbounded --cache-scope global --maxsize none
run local --cache-scope local
run shared --cache-scope shared --maxsize 16
run off --cache-scope off
run weak --cache-scope weak --maxsize 16
run global-bounds --cache-scope global --maxsize none --ttl-s 0.5 --maxbytes 64KiB

if ((failures)); then
    echo "0 passed, 1 failed ($failures checks)"
    exit 1
fi
echo "1 passed, 0 failed"
