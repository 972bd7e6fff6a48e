-- ceiling.lua -- wrk script for bench/bench_ceiling.sh: POST /calculate with
-- {"a":A,"b":B}, A and B drawn from 0..keys-1, so keys*keys distinct bodies.
--
--   wrk -t1 -c64 -d5s --latency -s bench/ceiling.lua http://127.0.0.1:PORT -- KEYS
--
-- keys defaults to 10 (100 pairs: a shared cache of maxsize 128 holds them
-- all, so nearly every call hits). The bodies are built once in init();
-- request() only picks one. done() prints one line, "CEILING_JSON {...}",
-- with the run's requests, duration, errors and latency percentiles (µs).

local requests = {}
local n = 0

function init(args)
    local keys = tonumber(args[1] or "10")
    for a = 0, keys - 1 do
        for b = 0, keys - 1 do
            local body = string.format('{"a":%d,"b":%d}', a, b)
            n = n + 1
            requests[n] = wrk.format("POST", "/calculate",
                { ["Content-Type"] = "application/json" }, body)
        end
    end
    math.randomseed(1)
end

function request()
    return requests[math.random(n)]
end

function done(summary, latency, _)
    local e = summary.errors
    io.write(string.format(
        'CEILING_JSON {"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,' ..
        '"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f}\n',
        summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout,
        e.status, e.timeout, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.mean))
end
