#!/usr/bin/env python3
"""bench_heap.py -- glibc with memoscope's counting layer against jemalloc,
side by side in one run, on the figures that choose between them.

    python3 bench/bench_heap.py --counted build/server/memoscope \\
        --jemalloc build-jemalloc/server/memoscope                (bench/bench_heap.sh builds both, then runs this)

1. Hit-path CPU per request: --cache-scope shared --delay-ms 0, the server
   pinned to the first CPU and wrk (-t1 -c64) to the second, 1 s of warm-up
   then --seconds measured, --rounds rounds, the order alternating; server
   utime + stime over the measured seconds / requests answered.
2. RSS and heap per request in global scope, maxsize none, with 4 KiB and
   64 KiB instances: after 1 s of warm-up, the growth of rss_bytes and
   heap_bytes over --seconds of wrk -c16, divided by the requests served,
   against instance_bytes (the report claims RSS/request within 10% of it).
3. RSS after DELETE /cache of --clear-instances instances of
   --clear-bytes each: before the fill, after it, just after DELETE, and
   --decay-s seconds later (jemalloc returns dirty pages by decay as well).
4. One statistics read, and a malloc/free pair: bench_heap (bench_heap.c)
   from each build, with --bench-counted and --bench-jemalloc.
--also NAME=BIN adds a server to 1 (bench_heap.sh adds the build without
the counting layer); --parts picks which of 1-4 run.
Loopback only; figures, not a test.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
import heaplib as hl  # noqa: E402

PROG = "bench_heap"
WARMUP_S = 1
WRK_STOP_TIMEOUT_S = 10  # for wrk to exit after SIGINT; then SIGKILL


def cpus():
    c = sorted(os.sched_getaffinity(0))
    return str(c[0]), (str(c[1]) if len(c) > 1 else None)


def hit_cpu(bins, rounds, seconds, work):
    srv_cpu, wrk_cpu = cpus()
    res = {k: [] for k in bins}
    for rnd in range(rounds):
        order = list(bins) if rnd % 2 == 0 else list(reversed(bins))
        for name in order:
            s = hl.Server(bins[name], ["--threads", "1", "--cache-scope", "shared",
                                       "--delay-ms", "0"],
                          os.path.join(work, f"hit-{name}.log"), wrap=("taskset", "-c", srv_cpu))
            hl.wrk(s.port, WARMUP_S, conns=64, pin=wrk_cpu)
            c0, n0 = s.cpu_s(), s.stats()["requests"]["total"]
            r = hl.wrk(s.port, seconds, conns=64, pin=wrk_cpu)
            c1, n1 = s.cpu_s(), s.stats()["requests"]["total"]
            s.stop()
            res[name].append(((c1 - c0) / max(1, n1 - n0 - 1) * 1e6,
                              r["requests"] / (r["duration_us"] / 1e6), r["p99_us"] / 1e3))
    print("\n1. Hit path (shared scope, delay 0, one pinned thread, wrk -t1 -c64), "
          f"medians of {rounds}:\n")
    print("| allocator | CPU µs/request | req/s | p99 ms |")
    print("|---|---:|---:|---:|")
    for name, rows in res.items():
        print(f"| {name} | {hl.median([r[0] for r in rows]):.2f} "
              f"| {hl.median([r[1] for r in rows]):,.0f} | {hl.median([r[2] for r in rows]):.2f} |")


def per_request(bins, seconds, work):
    print("\n2. Memory per request, global scope, maxsize none, wrk -t1 -c16 for "
          f"{seconds} s after {WARMUP_S} s:\n")
    print("| allocator | instance_bytes | requests | RSS B/request | × instance_bytes "
          "| heap_bytes B/request | × instance_bytes |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for ib in (4096, 65536):
        for name, binary in bins.items():
            s = hl.Server(binary, ["--cache-scope", "global", "--maxsize", "none",
                                   "--instance-bytes", str(ib), "--delay-ms", "0"],
                          os.path.join(work, f"rss-{name}-{ib}.log"))
            hl.wrk(s.port, WARMUP_S, conns=16)
            a = s.stats()
            hl.wrk(s.port, seconds, conns=16)
            b = s.stats()
            s.stop()
            n = b["requests"]["total"] - a["requests"]["total"] - 1
            rss = (b["memory"]["rss_bytes"] - a["memory"]["rss_bytes"]) / n
            heap = (b["memory"]["heap_bytes"] - a["memory"]["heap_bytes"]) / n
            print(f"| {name} | {ib} | {n:,} | {rss:,.0f} | {rss / ib:.3f} | {heap:,.0f} "
                  f"| {heap / ib:.3f} |", flush=True)


def clear(bins, instances, ib, decay_s, work):
    print(f"\n3. DELETE /cache of {instances:,} instances of {ib} bytes (global, maxsize none):\n")
    print("| allocator | RSS before MB | filled MB | heap filled MB | DELETE ms "
          f"| RSS just after MB | {decay_s:.0f} s later MB | heap after MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, binary in bins.items():
        s = hl.Server(binary, ["--cache-scope", "global", "--maxsize", "none",
                               "--instance-bytes", str(ib), "--delay-ms", "0"],
                      os.path.join(work, f"clear-{name}.log"))
        before = s.stats()["memory"]["rss_bytes"]
        w = hl.spawn(["wrk", "-t2", "-c64", "-d3600s", "-s", hl.CEILING_LUA,
                      f"http://{hl.HOST}:{s.port}"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while s.stats()["instances"]["live"] < instances and w.poll() is None:
            time.sleep(0.2)
        hl.procs.stop(w, signal.SIGINT, WRK_STOP_TIMEOUT_S)
        time.sleep(0.5)
        filled = s.stats()["memory"]
        dt, _ = s.conn.request("DELETE", "/cache")
        just = s.stats()["memory"]
        time.sleep(decay_s)
        later = s.stats()["memory"]
        s.stop()
        mb = 1e6
        print(f"| {name} | {before / mb:.0f} | {filled['rss_bytes'] / mb:.0f} "
              f"| {filled['heap_bytes'] / mb:.0f} | {dt * 1e3:.0f} | {just['rss_bytes'] / mb:.0f} "
              f"| {later['rss_bytes'] / mb:.0f} | {later['heap_bytes'] / mb:.1f} |", flush=True)


def reads(benches):
    print("\n4. One statistics read and one malloc/free pair (bench_heap, medians):\n")
    for name, binary in benches.items():
        out = subprocess.run([binary], capture_output=True, text=True, check=True).stdout
        print(f"{name}: " + "; ".join(line.strip() for line in out.splitlines()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counted", required=True)
    ap.add_argument("--jemalloc", required=True)
    ap.add_argument("--bench-counted")
    ap.add_argument("--bench-jemalloc")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--clear-instances", type=int, default=1000000)
    ap.add_argument("--clear-bytes", type=int, default=1024)
    ap.add_argument("--decay-s", type=float, default=12)
    ap.add_argument("--also", action="append", default=[], metavar="NAME=BIN",
                    help="one more server for the hit path (1) beside them")
    ap.add_argument("--parts", default="1,2,3,4", help="which of the four to run")
    a = ap.parse_args()
    bins = {"glibc + counting layer": a.counted, "jemalloc": a.jemalloc}
    hit_bins = dict(bins)
    for extra in a.also:
        name, binary = extra.split("=", 1)
        hit_bins[name] = binary
    parts = {int(p) for p in a.parts.split(",")}
    work = tempfile.mkdtemp(prefix="memoscope-heap.")
    if 1 in parts:
        hit_cpu(hit_bins, a.rounds, a.seconds, work)
    if 2 in parts:
        per_request(bins, a.seconds, work)
    if 3 in parts:
        clear(bins, a.clear_instances, a.clear_bytes, a.decay_s, work)
    benches = {k: v for k, v in (("glibc + counting layer", a.bench_counted),
                                 ("jemalloc", a.bench_jemalloc)) if v}
    if benches and 4 in parts:
        reads(benches)


if __name__ == "__main__":
    main()
