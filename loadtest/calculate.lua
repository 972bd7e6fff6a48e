-- calculate.lua -- wrk script for memoscope's POST /calculate.
--
--   wrk -t1 -c64 -d20s --timeout 10s -s loadtest/calculate.lua http://127.0.0.1:PORT \
--       -- keys=10 batch=1 bodies=4096 seed=1 [delay_ms=N]
--
-- Arguments after "--" (all optional, key=value):
--   keys=N      a and b are drawn from 0..N-1, so there are N*N distinct
--               (a, b) pairs: a `shared` cache with maxsize >= N*N can hit
--               on almost every request. Default 10.
--   batch=M     calls per request: 1 sends {"a":..,"b":..}, M > 1 sends
--               {"calls":[...]} with M calls on one instance (1..64). Default 1.
--   bodies=K    how many distinct request bodies to prebuild (at most; when
--               batch=1 and N*N <= K every pair is built once). Default 4096.
--   delay_ms=D  adds "delay_ms":D to every body (per-request delay). Default:
--               absent, the server's --delay-ms applies.
--   seed=S      random seed; each wrk thread adds its index. Default 1.
--   distinct=1  every request a key never sent before: {"a": n, "b": thread}
--               with n counting up from 0 (keys, batch and bodies are then
--               ignored; the body is built per request). Default 0.
--
-- Every request is built in init(), once per thread: request() only picks one,
-- because building a body per request in Lua costs more than the server spends
-- answering it. done() prints one line that starts with "LOADTEST_JSON " and
-- holds the run's figures as JSON, for loadtest/run.py.

local cfg = { keys = 10, batch = 1, bodies = 4096, delay_ms = nil, seed = 1, distinct = 0 }
local counter = 0
local headers = { ["Content-Type"] = "application/json" }
local requests = {}
local threads = {}

local function parse_args(args)
    for _, arg in ipairs(args) do
        local k, v = arg:match("^([%w_]+)=(%-?%d+)$")
        if k == nil or cfg[k] == nil and k ~= "delay_ms" then
            error("calculate.lua: bad argument '" .. arg .. "' (want keys=, batch=, bodies=, delay_ms=, seed=, distinct=)")
        end
        cfg[k] = tonumber(v)
    end
    if cfg.keys < 1 then error("calculate.lua: keys must be >= 1") end
    if cfg.batch < 1 or cfg.batch > 64 then error("calculate.lua: batch must be 1..64") end
    if cfg.bodies < 1 then error("calculate.lua: bodies must be >= 1") end
end

local function call(a, b)
    return string.format('{"a":%d,"b":%d}', a, b)
end

local function finish(fields)
    if cfg.delay_ms ~= nil then
        fields = fields .. string.format(',"delay_ms":%d', cfg.delay_ms)
    end
    return "{" .. fields .. "}"
end

local function random_body()
    if cfg.batch == 1 then
        local a, b = math.random(0, cfg.keys - 1), math.random(0, cfg.keys - 1)
        return finish(string.format('"a":%d,"b":%d', a, b))
    end
    local calls = {}
    for i = 1, cfg.batch do
        calls[i] = call(math.random(0, cfg.keys - 1), math.random(0, cfg.keys - 1))
    end
    return finish('"calls":[' .. table.concat(calls, ",") .. "]")
end

local function build_bodies()
    local bodies = {}
    if cfg.batch == 1 and cfg.keys * cfg.keys <= cfg.bodies then
        -- Every pair exactly once: the key space is covered evenly.
        for a = 0, cfg.keys - 1 do
            for b = 0, cfg.keys - 1 do
                bodies[#bodies + 1] = finish(string.format('"a":%d,"b":%d', a, b))
            end
        end
    else
        for i = 1, cfg.bodies do
            bodies[i] = random_body()
        end
    end
    return bodies
end

-- Runs in the main Lua state, once per thread, before init().
function setup(thread)
    thread:set("index", #threads)
    threads[#threads + 1] = thread
end

function init(args)
    parse_args(args)
    math.randomseed(cfg.seed + (index or 0))
    if cfg.distinct ~= 0 then
        return
    end
    for i, body in ipairs(build_bodies()) do
        requests[i] = wrk.format("POST", "/calculate", headers, body)
    end
end

function request()
    if cfg.distinct ~= 0 then
        counter = counter + 1
        local body = finish(string.format('"a":%d,"b":%d', counter, index or 0))
        return wrk.format("POST", "/calculate", headers, body)
    end
    return requests[math.random(#requests)]
end

-- One machine-readable line: counts, errors by kind and latency in
-- microseconds (wrk measures in microseconds).
function done(summary, latency, _)
    local e = summary.errors
    local line = string.format(
        'LOADTEST_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
        '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}',
        summary.requests, summary.duration, summary.bytes,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency:percentile(99.9), latency.max)
    io.write(line .. "\n")
end
