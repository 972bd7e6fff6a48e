#!/usr/bin/env python3
"""CPython's functools.lru_cache as it grows: bench_grow.c's figures, beside.

    python3 bench/bench_grow.py [max entries]     (default 10^7)

For each size N, a fresh lru_cache(maxsize=None) on f(a, b) is filled with N
distinct calls (each a miss that stores), timed one by one with
perf_counter_ns: missput_ns (mean over the fill), worst_us and p999_us (the
slowest call and the 99.9th percentile: the dict's resize stalls), hit_ns
(a random key of the full cache, timed in a batch), bytes per entry
(tracemalloc, in a separate fill of the same N up to 10^6; beyond that
from the resident set size), clear_ms (cache_clear(): it holds the GIL
throughout, so it is also what the clear makes every other thread wait:
clear_lock_us is the same figure). One line per size, the columns of
bench_grow.c, lib "py".
"""
import functools
import gc
import random
import sys
import time
import tracemalloc


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def fill(n, timed):
    @functools.lru_cache(maxsize=None)
    def f(a, b):
        return a + b

    worst = 0
    samples = []
    now = time.perf_counter_ns
    t_start = now()
    if timed:
        for i in range(n):
            t0 = now()
            f(i, i * 7 + 1)
            dt = now() - t0
            samples.append(dt)
            if dt > worst:
                worst = dt
    else:
        for i in range(n):
            f(i, i * 7 + 1)
    total = now() - t_start
    return f, worst, samples, total


def bytes_per_entry(n):
    if n > 1000000:
        return None
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    f, _, _, _ = fill(n, False)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    f.cache_clear()
    return (after - before) / n


def one(n):
    b = bytes_per_entry(n)
    gc.collect()
    rss0 = rss_bytes()
    f, worst, samples, total = fill(n, True)
    if b is None:
        b = (rss_bytes() - rss0) / n
    samples.sort()
    p999 = samples[int(len(samples) * 0.999)]
    del samples
    rnd = random.Random(7)
    keys = [rnd.randrange(n) for _ in range(1000000)]
    t0 = time.perf_counter_ns()
    for k in keys:
        f(k, k * 7 + 1)
    hit = (time.perf_counter_ns() - t0) / len(keys)
    assert f.cache_info().currsize == n
    t0 = time.perf_counter_ns()
    f.cache_clear()
    clear = time.perf_counter_ns() - t0
    print("%-3s %11d %8.1f %10.1f %10.2f %10.2f %8.1f %13.1f %9.1f %12s %9s %12s %15s" % (
        "py", n, hit, total / n, worst / 1e3, p999 / 1e3, b, clear / 1e3, clear / 1e6, "-", "-",
        "-", "-"),
        flush=True)


def main():
    top = int(sys.argv[1]) if len(sys.argv) > 1 else 10 ** 7
    print("# CPython %s functools.lru_cache(maxsize=None) on f(a, b)" % sys.version.split()[0])
    print("%-3s %11s %8s %10s %10s %10s %8s %13s %9s %12s %9s %12s %15s" % (
        "lib", "entries", "hit_ns", "missput_ns", "worst_us", "p999_us", "bytes",
        "clear_lock_us", "clear_ms", "worst_cpu_us", "floor_us", "floor_cpu_us",
        "hitworst_cpu_us"))
    n = 1000
    while n <= top:
        one(n)
        n *= 10


if __name__ == "__main__":
    main()
