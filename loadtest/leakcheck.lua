-- leakcheck.lua -- wrk script for loadtest/leakcheck.py: sends one request
-- (method, body) over and over and publishes, per wrk thread, how many
-- responses it has received so far, so that the sampler can pair each memory
-- reading with the requests served up to then.
--
--   wrk -t1 -c16 -d10s -s loadtest/leakcheck.lua URL -- COUNT_DIR METHOD [BODY]
--
-- Thread i writes its count to COUNT_DIR/count-i every STEP responses and at
-- the end, by writing a temporary file and renaming it over the old one: a
-- rename is atomic, so a reader sees either the old count or the new one,
-- never a half-written number. Non-2xx/3xx responses are counted apart.
-- done() prints "LEAKCHECK_JSON {...}" with wrk's own totals.

local STEP = 8 -- a count is at most STEP - 1 responses behind, per thread
local threads = {}
local served, bad = 0, 0

function setup(thread)
    thread:set("index", #threads)
    threads[#threads + 1] = thread
end

function init(args)
    dir, method, body = args[1], args[2], args[3]
    if dir == nil or method == nil then
        error("leakcheck.lua: want COUNT_DIR METHOD [BODY] after --")
    end
    path = string.format("%s/count-%d", dir, index)
    wrk.method = method
    if body ~= nil then
        wrk.body = body
        wrk.headers["Content-Type"] = "application/json"
    end
end

local function publish()
    local tmp = path .. ".tmp"
    local f = assert(io.open(tmp, "w"))
    f:write(string.format("%d %d\n", served, bad))
    f:close()
    assert(os.rename(tmp, path))
end

function response(status, _, _)
    served = served + 1
    if status >= 400 then bad = bad + 1 end
    if served % STEP == 0 then publish() end
end

function done(summary, latency, _)
    local e = summary.errors
    io.write(string.format(
        'LEAKCHECK_JSON {"requests":%d,"duration_us":%d,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
        '"latency_us":{"p50":%d,"p99":%d,"max":%d}}\n',
        summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(99), latency.max))
end
