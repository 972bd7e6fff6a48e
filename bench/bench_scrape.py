#!/usr/bin/env python3
"""bench_scrape.py -- what one scrape of /stats and /metrics costs as the
heap grows, and what a 10 Hz scrape does to POST /calculate's latency.

    python3 bench/bench_scrape.py --bin build/server/memoscope    (bench/bench_scrape.sh builds, then runs this)

One server, global scope, maxsize none, --instance-bytes 0, --delay-ms 0:
every request leaves one SlowAdder behind (and, in glibc's heap, a freed
chunk between kept ones: what made mallinfo2() slow). It grows the live
instances with wrk to each of --sizes in turn (bounded: --grow-s seconds in
all; it prints what it reached), and at each size, with no load, times
--scrapes GETs of /stats and of /metrics on one keep-alive connection.
Then, at the largest size reached, --rounds times: POST /calculate under
wrk (-c --conns, --load-s seconds) alone, then with a 10 Hz /stats scrape on
its own connection; prints wrk's p99 and slowest answer for each and the
medians' ratio. Same server, same run. Loopback only; figures, not a test.
"""

import argparse
import os
import signal
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
import heaplib as hl  # noqa: E402

PROG = "bench_scrape"
POLL_S = 0.5  # how often the growth loop reads instances.live
QUIET_S = 1.0  # after a growth run, before timing scrapes
WRK_STOP_TIMEOUT_S = 10  # for wrk to print and exit after SIGINT; then SIGKILL
SCRAPE_HZ = 10


def grow(server, target, deadline, conns):
    """Runs wrk until instances.live >= target or the deadline; returns live."""
    live = server.stats()["instances"]["live"]
    if live >= target or time.monotonic() >= deadline:
        return live
    w = hl.spawn(["wrk", "-t2", f"-c{conns}", "-d3600s", "-s", hl.CEILING_LUA,
                  f"http://{hl.HOST}:{server.port}"],
                 stdout=hl.subprocess.DEVNULL, stderr=hl.subprocess.DEVNULL)
    try:
        while live < target and time.monotonic() < deadline and w.poll() is None:
            time.sleep(POLL_S)
            live = server.stats()["instances"]["live"]
    finally:
        hl.procs.stop(w, signal.SIGINT, WRK_STOP_TIMEOUT_S)
    time.sleep(QUIET_S)
    return server.stats()["instances"]["live"]


def time_scrapes(server, path, n):
    ts = [server.conn.get(path)[0] * 1e3 for _ in range(n)]
    return hl.median(ts), hl.percentile(ts, 99), max(ts)


def scraper(port, stop, times):
    conn = hl.Conn(port)
    nxt = time.monotonic()
    while not stop.is_set():
        times.append(conn.get("/stats")[0] * 1e3)
        nxt += 1.0 / SCRAPE_HZ
        stop.wait(max(0.0, nxt - time.monotonic()))
    conn.close()


def load(server, seconds, conns, scrape):
    stop, times = threading.Event(), []
    t = None
    if scrape:
        t = threading.Thread(target=scraper, args=(server.port, stop, times))
        t.start()
    try:
        r = hl.wrk(server.port, seconds, conns=conns)
    finally:
        stop.set()
        if t:
            t.join()
    return r, times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the memoscope binary")
    ap.add_argument("--sizes", default="0,100000,1000000,10000000")
    ap.add_argument("--grow-s", type=float, default=600, help="growth time, all sizes together")
    ap.add_argument("--scrapes", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--load-s", type=int, default=5)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--grow-conns", type=int, default=64)
    a = ap.parse_args()

    sizes = [int(s) for s in a.sizes.split(",")]
    work = tempfile.mkdtemp(prefix="memoscope-scrape.")
    server = hl.Server(a.bin, ["--cache-scope", "global", "--maxsize", "none",
                               "--instance-bytes", "0", "--delay-ms", "0"],
                       os.path.join(work, "server.log"))
    hl.say(PROG, f"{a.bin}, port {server.port}; growing for at most {a.grow_s:.0f} s")
    deadline = time.monotonic() + a.grow_s
    print("| target | live instances | heap MB | RSS MB | /stats median ms | p99 | max "
          "| /metrics median ms | p99 | max |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    first = None
    try:
        for target in sizes:
            live = grow(server, target, deadline, a.grow_conns)
            st = server.stats()
            s = time_scrapes(server, "/stats", a.scrapes)
            m = time_scrapes(server, "/metrics", a.scrapes)
            first = first or s
            print(f"| {target:,} | {live:,} | {st['memory']['heap_bytes'] / 1e6:.0f} "
                  f"| {st['memory']['rss_bytes'] / 1e6:.0f} "
                  f"| {s[0]:.3f} | {s[1]:.3f} | {s[2]:.3f} | {m[0]:.3f} | {m[1]:.3f} | {m[2]:.3f} |",
                  flush=True)
            if live < target:
                hl.say(PROG, f"reached {live:,} of {target:,} in the time allowed; stopping there")
                break
        print(f"\n/stats at the largest size / at the first: {s[0] / first[0]:.2f}x (median)")

        print(f"\nPOST /calculate at {live:,}+ live instances, wrk -t1 -c{a.conns}, "
              f"{a.load_s} s each, same server:\n")
        print("| round | scrape | requests | p99 ms | slowest ms | scrapes | scrape median ms | max |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|")
        p99 = {False: [], True: []}
        slow = {False: [], True: []}
        for rnd in range(1, a.rounds + 1):
            for scrape in (False, True):
                r, times = load(server, a.load_s, a.conns, scrape)
                p99[scrape].append(r["p99_us"] / 1e3)
                slow[scrape].append(r["max_us"] / 1e3)
                sc = (f"{len(times)} | {hl.median(times):.3f} | {max(times):.3f}"
                      if times else "0 | | ")
                print(f"| {rnd} | {'10 Hz' if scrape else 'none'} | {r['requests']:,} "
                      f"| {r['p99_us'] / 1e3:.2f} | {r['max_us'] / 1e3:.2f} | {sc} |", flush=True)
        b, w = hl.median(p99[False]), hl.median(p99[True])
        print(f"\nmedian p99: {b:.2f} ms without, {w:.2f} ms with a 10 Hz scrape "
              f"({(w / b - 1) * 100:+.0f}%); slowest: {hl.median(slow[False]):.2f} ms, "
              f"{hl.median(slow[True]):.2f} ms; live instances at the end: "
              f"{server.stats()['instances']['live']:,}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
