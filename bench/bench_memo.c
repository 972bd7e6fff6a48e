/* bench_memo.c -- how long a memo cache hit and miss take.
 *
 * Times the operations the server does on every memoised call, with the key
 * of the global scope, (instance, a, b): 24 bytes, hashed with memoHashBytes,
 * and an 8-byte result. Each figure is the median over several runs of many
 * back-to-back operations, timed with CLOCK_MONOTONIC, in one thread (the
 * lock is taken and dropped on each call, uncontended).
 *
 *   bench_memo [iterations per run]
 *
 * bench/bench_memo.sh compares the hit with CPython's functools.lru_cache.
 */
#include "memo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ types */

#define BENCH_DEFAULT_ITERS 2000000
#define BENCH_RUNS 7
#define BENCH_SMALL 128
#define BENCH_LARGE 4096

typedef struct benchKey {
    uint64_t instance;
    int64_t a;
    int64_t b;
} benchKey;

/* What the timed loop does, given the cache and how many operations. */
typedef void benchLoop(memo *m, size_t maxsize, long iters);

/* ---------------------------------------------------------------- private */

static volatile uint64_t sink; /* keeps results alive past the optimiser */

/* The server's types use the defaults: keyed SipHash-1-3 and memcmp. */
static const memoType benchType = {
    .key_size = sizeof(benchKey),
    .val_size = sizeof(int64_t),
};

/* The TTL rows: an hour, so that nothing expires during a run; the clock is
 * the default one (CLOCK_MONOTONIC), read on every hit. */
#define BENCH_TTL_NS (3600ull * 1000000000ull)
static benchKey _benchKeyOf(uint64_t i) {
    return (benchKey){.instance = i, .a = (int64_t)(i % 1000), .b = 7};
}

static double _benchNow(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int _benchCompare(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Fills keys 0..maxsize-1, so that the cache is full. */
static void _benchFill(memo *m, size_t maxsize) {
    for (uint64_t i = 0; i < maxsize; i++) {
        benchKey k = _benchKeyOf(i);
        int64_t v = (int64_t)i;
        memoPut(m, &k, &v);
    }
}

static void _benchHash(memo *m, size_t maxsize, long iters) {
    uint64_t acc = 0;
    for (long i = 0; i < iters; i++) {
        benchKey k = _benchKeyOf((uint64_t)i);
        acc += memoHashBytes(&k, sizeof(k));
    }
    sink = acc;
}

/* Every lookup hits; keys are visited in turn, so the LRU list moves. */
static void _benchHit(memo *m, size_t maxsize, long iters) {
    uint64_t acc = 0;
    int64_t v;
    for (long i = 0; i < iters; i++) {
        benchKey k = _benchKeyOf((uint64_t)i & (maxsize - 1));
        acc += memoGet(m, &k, &v) ? (uint64_t)v : 1;
    }
    sink = acc;
}

/* Every lookup misses a full cache; the put evicts the oldest entry. */
static void _benchMissPut(memo *m, size_t maxsize, long iters) {
    static uint64_t next = 1u << 30; /* never a key of _benchFill */
    uint64_t acc = 0;
    int64_t v;
    for (long i = 0; i < iters; i++) {
        benchKey k = _benchKeyOf(next++);
        if (!memoGet(m, &k, &v)) {
            v = (int64_t)i;
            acc += memoPut(m, &k, &v);
        }
    }
    sink = acc;
}

/* Median ns per operation of BENCH_RUNS runs, each on a freshly filled
 * cache. Returns a negative number when the cache cannot be made. */
static double _benchRun(benchLoop *loop, size_t maxsize, bool ttl, long iters) {
    double ns[BENCH_RUNS];
    for (int r = 0; r < BENCH_RUNS; r++) {
        memoConfig cfg = {
            .maxsize = maxsize, .maxbytes = MEMO_UNBOUNDED, .ttl_ns = ttl ? BENCH_TTL_NS : 0};
        memo *m = memoCreateWith(&benchType, &cfg);
        if (m == NULL)
            return -1;
        _benchFill(m, maxsize);
        loop(m, maxsize, iters / 10); /* warm up */
        double t0 = _benchNow();
        loop(m, maxsize, iters);
        ns[r] = (_benchNow() - t0) / (double)iters;
        memoInfo info = memoGetInfo(m);
        memoDestroy(m);
        if (info.currsize != maxsize)
            return -1; /* the loop did not do what it says */
    }
    qsort(ns, BENCH_RUNS, sizeof(ns[0]), _benchCompare);
    return ns[BENCH_RUNS / 2];
}

/* -------------------------------------------------------------------- main */

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : BENCH_DEFAULT_ITERS;
    if (iters < 1000) {
        fprintf(stderr, "usage: %s [iterations per run, at least 1000]\n", argv[0]);
        return 2;
    }
    static const struct {
        const char *name;
        benchLoop *loop;
        size_t maxsize;
        bool ttl;
    } rows[] = {
        {"hash-24B", _benchHash, BENCH_SMALL, false},
        {"hit", _benchHit, BENCH_SMALL, false},
        {"hit", _benchHit, BENCH_LARGE, false},
        {"hit-ttl", _benchHit, BENCH_SMALL, true},
        {"miss+put+evict", _benchMissPut, BENCH_SMALL, false},
        {"miss+put+evict", _benchMissPut, BENCH_LARGE, false},
        {"miss+put+evict-ttl", _benchMissPut, BENCH_SMALL, true},
    };
    printf("memo cache, key (instance, a, b) of 24 bytes, 8-byte value, one thread;\n"
           "median of %d runs x %ld operations\n\n",
           BENCH_RUNS, iters);
    printf("%-18s %8s %9s\n", "operation", "maxsize", "ns/op");
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        double ns = _benchRun(rows[i].loop, rows[i].maxsize, rows[i].ttl, iters);
        if (ns < 0) {
            fprintf(stderr, "%s: the benchmark failed\n", rows[i].name);
            return 1;
        }
        printf("%-18s %8zu %9.1f\n", rows[i].name, rows[i].maxsize, ns);
    }
    return 0;
}
