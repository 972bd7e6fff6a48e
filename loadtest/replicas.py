#!/usr/bin/env python3
"""replicas.py -- memoscope as several replicas behind nginx, sharing Redis.

    ./loadtest/run.sh --replicas 2 --backend redis [options]   (run.sh builds, then runs this)

For each scope in --scopes (global and shared by default) it starts, all on
127.0.0.1 and each on a free port: a private redis-server without
persistence, --replicas memoscope replicas with --cache-backend redis (one
Redis prefix per scope), and nginx (one worker) as a round-robin load
balancer in front of them. wrk drives loadtest/calculate.lua through nginx
for --duration seconds while every --sample-ms this runner reads each
replica's /stats and Redis's INFO (used_memory) and DBSIZE (the Redis is
private: every key in it is ours). Then it stops wrk, nginx, the replicas
(SIGTERM, each must exit 0) and Redis, in that order, and writes
report.md, samples-SCOPE.csv and the logs into --out.

The claims of the report, each PASS or FAIL:
  global: Redis grows by a steady number of bytes per request (the slope of
          used_memory over requests served, R^2 >= 0.9) while every
          replica's RSS stays flat (its slope under half of Redis's; the
          same scope in memory grows a replica by instance_bytes and more
          per request).
  shared: the hit ratio across replicas is >= 0.99 and the misses stay
          near the key space (<= 1.1 x keys^2), not keys^2 x replicas.

Only 127.0.0.1 is ever used. Every child is killed by the kernel if this
runner dies (PR_SET_PDEATHSIG) and stopped by PID otherwise.
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import procs  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 10
STOP_TIMEOUT_S = 15
CLEANUP_TIMEOUT_S = 5  # per child, when an error or a signal stops the run
WARMUP_FRACTION = 0.5  # samples left out of the fits (connection pools and arenas settle first)
STEADY_R2 = 0.9
FLAT_RATIO = 0.5  # a replica is flat when it grows by less than half of what Redis grows
HIT_RATIO = 0.99
MISS_SLACK = 1.1


def say(msg):
    print(f"replicas: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ redis

def redis_cmd(port, *args):
    """One command over RESP; returns the reply (str, int, None) or raises."""
    with socket.create_connection((HOST, port), timeout=2) as s:
        out = f"*{len(args)}\r\n" + "".join(f"${len(str(a))}\r\n{a}\r\n" for a in args)
        s.sendall(out.encode())
        f = s.makefile("rb")
        line = f.readline().decode().rstrip("\r\n")
        kind, rest = line[0], line[1:]
        if kind == "+":
            return rest
        if kind == ":":
            return int(rest)
        if kind == "$":
            n = int(rest)
            return None if n < 0 else f.read(n + 2)[:-2].decode()
        raise RuntimeError(f"redis: {line}")


def redis_figures(port):
    info = redis_cmd(port, "INFO", "memory")
    used = next(int(l.split(":")[1]) for l in info.splitlines() if l.startswith("used_memory:"))
    return used, redis_cmd(port, "DBSIZE")


def wait_until(what, fn, timeout=STARTUP_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if fn():
                return
        except (OSError, RuntimeError, ValueError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up within {timeout} s")


# --------------------------------------------------------------- replicas

def http_get(port, path, timeout=2):
    c = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def start_replica(a, scope, name, prefix, redis_port, out_dir):
    log = open(os.path.join(out_dir, f"server-{scope}-{name}.log"), "w+")
    cmd = [a.server, "--bind", HOST, "--port", "0", "--cache-scope", scope,
           "--cache-backend", "redis", "--redis-url", f"redis://{HOST}:{redis_port}/0",
           "--redis-prefix", prefix, "--replica", name, "--delay-ms", str(a.delay_ms),
           "--instance-bytes", str(a.instance_bytes), "--threads", str(a.threads),
           "--redis-timeout-ms", str(a.redis_timeout_ms)]
    p = procs.spawn(cmd, log)
    port = None

    def started():
        nonlocal port
        log.seek(0)
        for line in log.read().splitlines():
            if " listening on " in line and " port=" in line:
                port = int(line.split(" port=")[1].split()[0])
        return port is not None
    wait_until(f"replica {name}", started)
    wait_until(f"replica {name}'s Redis connection",
               lambda: '"connected":true' in http_get(port, "/stats")[1])
    return {"name": name, "proc": p, "port": port, "log": log}


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp-body;
    proxy_temp_path {dir}/tmp-proxy;
    fastcgi_temp_path {dir}/tmp-fastcgi;
    uwsgi_temp_path {dir}/tmp-uwsgi;
    scgi_temp_path {dir}/tmp-scgi;
    upstream memoscope {{
{servers}
        keepalive 128;
    }}
    server {{
        listen {host}:{port};
        location / {{
            proxy_pass http://memoscope;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def start_nginx(a, replicas, out_dir, scope):
    d = os.path.join(out_dir, f"nginx-{scope}")
    os.makedirs(d, exist_ok=True)
    port = free_port()
    servers = "\n".join(f"        server {HOST}:{r['port']};" for r in replicas)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=d, servers=servers, host=HOST, port=port))
    p = procs.spawn([a.nginx, "-e", os.path.join(d, "nginx-error.log"), "-p", d, "-c", conf],
              open(os.path.join(d, "nginx.out"), "w"))
    wait_until("nginx", lambda: http_get(port, "/healthz")[0] == 200)
    return p, port


# ------------------------------------------------------------------- run

def sample(replicas, redis_port, t0):
    row = {"t": round(time.monotonic() - t0, 3), "requests": 0, "hits": 0, "misses": 0}
    for r in replicas:
        st = json.loads(http_get(r["port"], "/stats")[1])
        row["requests"] += st["requests"]["total"]
        row["hits"] += st["cache"]["hits"]
        row["misses"] += st["cache"]["misses"]
        row[f"rss_{r['name']}"] = st["memory"]["rss_bytes"]
        row[f"errors_{r['name']}"] = st["backend"]["errors"]
    row["redis_used_memory"], row["redis_keys"] = redis_figures(redis_port)
    return row


def fit(xs, ys):
    """Least-squares slope and R^2 of ys over xs."""
    n = len(xs)
    if n < 3:
        return 0.0, 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0:
        return 0.0, 0.0
    slope = sxy / sxx
    r2 = (sxy * sxy) / (sxx * syy) if syy > 0 else 0.0
    return slope, r2


def run_scope(a, scope, out_dir):
    redis_port = free_port()
    redis = procs.spawn(["redis-server", "--bind", HOST, "--port", str(redis_port), "--save", "",
                   "--appendonly", "no", "--daemonize", "no"],
                  open(os.path.join(out_dir, f"redis-{scope}.log"), "w"))
    wait_until("redis-server", lambda: redis_cmd(redis_port, "PING") == "PONG")
    prefix = f"lt:{scope}:"
    replicas = [start_replica(a, scope, f"r{i + 1}", prefix, redis_port, out_dir)
                for i in range(a.replicas)]
    nginx, nginx_port = start_nginx(a, replicas, out_dir, scope)
    t0 = time.monotonic()
    rows = [sample(replicas, redis_port, t0)]
    wrk_out = os.path.join(out_dir, f"wrk-{scope}.txt")
    wrk = procs.spawn([a.wrk, "-t1", f"-c{a.connections}", f"-d{a.duration}s", "--timeout=10s",
                 "-s", os.path.join(HERE, "calculate.lua"), f"http://{HOST}:{nginx_port}",
                 "--", f"keys={a.keys}", "seed=1"], open(wrk_out, "w"))
    while wrk.poll() is None:
        time.sleep(a.sample_ms / 1000)
        rows.append(sample(replicas, redis_port, t0))
    procs.stop(wrk, signal.SIGTERM, STOP_TIMEOUT_S)
    time.sleep(0.2)  # the last answers reach /stats; nothing below depends on it
    rows.append(sample(replicas, redis_port, t0))
    procs.stop(nginx, signal.SIGQUIT, STOP_TIMEOUT_S)
    exits = {r["name"]: procs.stop(r["proc"], signal.SIGTERM, STOP_TIMEOUT_S)[0] for r in replicas}
    procs.stop(redis, signal.SIGTERM, STOP_TIMEOUT_S)
    keys = list(rows[0].keys())
    with open(os.path.join(out_dir, f"samples-{scope}.csv"), "w") as f:
        f.write(",".join(keys) + "\n")
        for row in rows:
            f.write(",".join(str(row[k]) for k in keys) + "\n")
    return summarize(a, scope, rows, replicas, exits)


def summarize(a, scope, rows, replicas, exits):
    steady = rows[int(len(rows) * WARMUP_FRACTION):]
    req = [r["requests"] for r in steady]
    redis_slope, redis_r2 = fit(req, [r["redis_used_memory"] for r in steady])
    keys_slope, _ = fit(req, [r["redis_keys"] for r in steady])
    first, last = rows[0], rows[-1]
    s = {
        "scope": scope, "requests": last["requests"] - first["requests"],
        "hits": last["hits"], "misses": last["misses"],
        "hit_ratio": last["hits"] / max(1, last["hits"] + last["misses"]),
        "redis_used_memory": [first["redis_used_memory"], last["redis_used_memory"]],
        "redis_keys": [first["redis_keys"], last["redis_keys"]],
        "redis_bytes_per_request": redis_slope, "redis_r2": redis_r2,
        "keys_per_request": keys_slope, "replicas": {}, "exits": exits,
        "errors": sum(last[f"errors_{r['name']}"] for r in replicas),
    }
    for r in replicas:
        k = f"rss_{r['name']}"
        slope, _ = fit(req, [row[k] for row in steady])
        s["replicas"][r["name"]] = {"rss": [first[k], last[k]], "bytes_per_request": slope}
    return s


# ---------------------------------------------------------------- report

def mib(b):
    return f"{b / 1048576:.1f} MiB"


def claims(a, results):
    out = []
    for s in results:
        if s["scope"] == "global":
            worst = max(abs(r["bytes_per_request"]) for r in s["replicas"].values())
            ok = (s["redis_bytes_per_request"] > 0 and s["redis_r2"] >= STEADY_R2
                  and worst < FLAT_RATIO * s["redis_bytes_per_request"])
            out.append((ok, f"global on redis grows Redis steadily, {s['redis_bytes_per_request']:.0f}"
                            f" bytes per request (R^2 {s['redis_r2']:.3f}), while every replica stays"
                            f" flat (worst RSS slope {worst:.1f} bytes per request, under"
                            f" {FLAT_RATIO:g} x Redis's)"))
        if s["scope"] == "shared":
            space = a.keys * a.keys
            ok = s["hit_ratio"] >= HIT_RATIO and s["misses"] <= MISS_SLACK * space
            out.append((ok, f"shared on redis hits {s['hit_ratio']:.4f} across {a.replicas} replicas"
                            f" (>= {HIT_RATIO}) with {s['misses']} misses for a key space of {space}"
                            f" (<= {MISS_SLACK} x {space}; {space} x replicas would be"
                            f" {space * a.replicas})"))
        if any(code != 0 for code in s["exits"].values()):
            out.append((False, f"{s['scope']}: every replica exits 0 on SIGTERM ({s['exits']})"))
    return out


def write_report(a, results, out_dir, command):
    lines = [
        "# memoscope across replicas: the memo cache in Redis", "",
        f"- command: `{command}`",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, "
        f"machine: {platform.node()}, {os.cpu_count()} CPUs, shared with other work",
        f"- {a.replicas} replicas (`--threads {a.threads}` each) behind nginx (1 worker, round "
        f"robin), one private redis-server (no persistence), wrk -t1 -c{a.connections} "
        f"-d{a.duration}s through nginx, keys={a.keys} ({a.keys * a.keys} pairs), "
        f"delay_ms={a.delay_ms}, instance_bytes={a.instance_bytes}, "
        f"redis_timeout_ms={a.redis_timeout_ms}; all on 127.0.0.1",
        f"- fits leave out the first {WARMUP_FRACTION:.0%} of the samples (every "
        f"{a.sample_ms} ms); samples-SCOPE.csv holds them all",
        "",
        "| scope | requests | hit ratio | misses | Redis used_memory | Redis keys | Redis bytes/request | keys/request | backend errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in results:
        um, k = s["redis_used_memory"], s["redis_keys"]
        lines.append(
            f"| {s['scope']} | {s['requests']} | {s['hit_ratio']:.4f} | {s['misses']} | "
            f"{mib(um[0])} → {mib(um[1])} | {k[0]} → {k[1]} | {s['redis_bytes_per_request']:.1f} "
            f"(R² {s['redis_r2']:.3f}) | {s['keys_per_request']:.3f} | {s['errors']} |")
    lines += ["", "Each replica's RSS (start → end, slope over requests served by all):", "",
              "| scope | replica | RSS | bytes/request |", "|---|---|---|---|"]
    for s in results:
        for name, r in s["replicas"].items():
            lines.append(f"| {s['scope']} | {name} | {mib(r['rss'][0])} → {mib(r['rss'][1])} | "
                         f"{r['bytes_per_request']:.2f} |")
    lines += ["", "## Claims", ""]
    for ok, text in claims(a, results):
        lines.append(f"- **{'PASS' if ok else 'FAIL'}** {text}")
    lines.append("")
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(out_dir, "run.json"), "w") as f:
        json.dump({"args": vars(a), "results": results}, f, indent=1, default=str)
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicas", type=int, default=2, help="replicas behind nginx (default 2)")
    ap.add_argument("--backend", default="redis", help="redis (the only one this runner takes)")
    ap.add_argument("--scopes", default="global,shared", help="global and/or shared")
    ap.add_argument("--duration", type=int, default=20, help="seconds of wrk per scope")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--keys", type=int, default=10, help="a, b in 0..keys-1 (default 10)")
    ap.add_argument("--delay-ms", type=int, default=5)
    ap.add_argument("--instance-bytes", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=1, help="--threads of each replica")
    ap.add_argument("--sample-ms", type=int, default=500)
    ap.add_argument("--redis-timeout-ms", type=int, default=1000,
                    help="the replicas' Redis reply timeout (default 1000: on a shared 2-core "
                         "machine under wrk, 100 ms replies are sometimes late; the fault tests "
                         "use 100)")
    ap.add_argument("--server", default=os.path.join(REPO, "build", "server", "memoscope"))
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--out", default=None, help="report folder (default loadtest/reports/replicas-TIME)")
    a = ap.parse_args()
    if a.backend != "redis":
        ap.error("--replicas needs --backend redis: replicas share nothing in memory "
                 "(run loadtest/run.sh without --replicas for one process)")
    if a.replicas < 1 or a.replicas > 8 or a.duration < 1 or a.duration > 600:
        ap.error("--replicas must be 1..8 and --duration 1..600")
    scopes = [s for s in a.scopes.split(",") if s]
    if not scopes or any(s not in ("global", "shared") for s in scopes):
        ap.error("--scopes takes global and/or shared (local and off never touch Redis)")
    out_dir = os.path.abspath(a.out) if a.out else os.path.join(
        REPO, "loadtest", "reports", f"replicas-{datetime.datetime.now():%Y%m%d-%H%M%S}")
    os.makedirs(out_dir, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    results = []
    try:
        for scope in scopes:
            say(f"{scope}: {a.replicas} replicas, nginx, redis; wrk for {a.duration} s")
            results.append(run_scope(a, scope, out_dir))
    finally:
        procs.stop_all(CLEANUP_TIMEOUT_S)
    lines = write_report(a, results, out_dir, os.environ.get("LOADTEST_COMMAND", " ".join(sys.argv)))
    print("\n".join(lines))
    say(f"report: {os.path.join(out_dir, 'report.md')}")
    return 0 if all(ok for ok, _ in claims(a, results)) else 1


if __name__ == "__main__":
    sys.exit(main())
