#!/usr/bin/env bash
# check_scrape.sh MEMOSCOPE PROMTOOL -- a live /metrics scrape, in every scope,
# after some traffic, must pass `promtool check metrics` with no complaint.
set -euo pipefail
bin=$1 promtool=$2
log=$(mktemp) out=$(mktemp)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -f "$log" "$out"; }
trap cleanup EXIT

for scope in global local shared off; do
    "$bin" --bind 127.0.0.1 --port 0 --cache-scope "$scope" --delay-ms 0 2>"$log" &
    pid=$!
    port=
    for _ in $(seq 100); do
        port=$(grep -o 'port=[0-9]*' "$log" | head -1 | cut -d= -f2 || true)
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { echo "FAIL $scope: the server did not start"; cat "$log"; exit 1; }
    url=http://127.0.0.1:$port
    for i in 1 2 3; do curl -sf -o /dev/null -d "{\"a\": $i, \"b\": 1}" "$url/calculate"; done
    curl -s -o /dev/null -d 'not json' "$url/calculate" || true
    [ "$scope" = shared ] && curl -sf -o /dev/null -d '{"a": 1, "b": 1}' "$url/calculate"
    curl -sf -o /dev/null "$url/readyz"
    curl -sf "$url/metrics" >"$out"
    # promtool prints the problems it finds and exits non-zero on any.
    if ! problems=$("$promtool" check metrics <"$out" 2>&1) || [ -n "$problems" ]; then
        echo "FAIL $scope: promtool check metrics:"; echo "$problems"; exit 1
    fi
    grep -q '^memoscope_instances_live_older_than{age_seconds="1"} ' "$out" ||
        { echo "FAIL $scope: no age figures in the scrape"; exit 1; }
    # the request duration histogram: 3 misses and 1 error are cached="false";
    # in shared the repeated key is a hit, cached="true"
    want_true=0; [ "$scope" = shared ] && want_true=1
    grep -qx 'memoscope_request_duration_seconds_count{route="/calculate",cached="false"} 4' "$out" ||
        { echo "FAIL $scope: /calculate cached=false count is not 4"; grep duration_seconds_count "$out"; exit 1; }
    grep -qx "memoscope_request_duration_seconds_count{route=\"/calculate\",cached=\"true\"} $want_true" "$out" ||
        { echo "FAIL $scope: /calculate cached=true count is not $want_true"; exit 1; }
    grep -qx 'memoscope_request_duration_seconds_count{route="/readyz"} 1' "$out" ||
        { echo "FAIL $scope: /readyz was not timed"; exit 1; }
    for m in process_resident_memory_bytes process_virtual_memory_bytes process_cpu_seconds_total \
             process_open_fds process_max_fds process_start_time_seconds; do
        grep -q "^$m " "$out" || { echo "FAIL $scope: no $m"; exit 1; }
    done
    echo "ok $scope: $(grep -c '^[a-z]' "$out") samples, promtool check metrics clean"
    kill "$pid"; wait "$pid"; pid=
done
