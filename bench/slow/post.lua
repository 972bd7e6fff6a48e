-- post.lua -- wrk script for bench/bench_slow.sh: POST /calculate {"a":1,"b":2}
-- on every connection, keep-alive. In off scope every call is a miss and
-- waits the whole delay, so wrk (closed loop) is bounded by
-- connections / delay requests a second.
--
--   wrk -t2 -c256 -d10s -s bench/slow/post.lua http://127.0.0.1:PORT/calculate
--
-- done() prints one line, "SLOW_RESULT k=v ...", that bench_slow.sh reads:
-- requests, duration (µs), errors by kind, latency percentiles (µs).

wrk.method = "POST"
wrk.body = '{"a":1,"b":2}'
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, _)
    local e = summary.errors
    io.write(string.format(
        "SLOW_RESULT requests=%d duration_us=%d connect=%d read=%d write=%d " ..
        "timeout=%d non2xx=%d p50_us=%d p99_us=%d max_us=%d\n",
        summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
        e.status, latency:percentile(50), latency:percentile(99), latency.max))
end
