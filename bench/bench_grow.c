/* bench_grow.c -- the memo cache as it grows: 10^3 to 10^7 and 1.6*10^7
 * entries (10^8 with MEMOSCOPE_LONG=1), the figures of docs/benchmarks.md.
 *
 * For each size N, one unbounded cache (16-byte key, 8-byte value, the
 * default keyed hash) is filled with N distinct keys, each a get that misses
 * and a put, as a memoised call does, timed one by one (CLOCK_MONOTONIC):
 *
 *   missput_ns  mean time of one miss + put over the whole fill (every move
 *               and table allocation included)
 *   worst_us    the slowest single miss + put of the fill
 *   p999_us     its 99.9th percentile (a log histogram, 1/16 octave)
 *   hit_ns      mean time of a hit on a random key of the full cache
 *   bytes       heap bytes per entry when the fill is done (glibc's
 *               mallinfo2() before and after: slots, tables, chunk headers)
 *   clear_lock_us  the longest another thread's get waited while the cache
 *               was cleared (what a clear makes others wait: the lock hold)
 *   clear_ms    how long memoClear took on the clearing thread in all
 *   worst_cpu_us  the slowest miss + put's time on the CPU, bounded above:
 *               the thread's CPU time (CLOCK_THREAD_CPUTIME_ID, read every
 *               64 operations) of the window that holds it, when that is
 *               less than its wall time; what the code costs, without the
 *               time a busy machine kept the thread off the CPU
 *   floor_us, floor_cpu_us  the machine's floor: after every miss + put of
 *               the fill, a hit on a second cache that holds one entry (no
 *               growth, no allocation, a few dozen ns) is timed the same way;
 *               these are its slowest wall and on-CPU times. The longer a fill
 *               runs, the rarer the interruption it meets (an interrupt, a
 *               stolen virtual CPU, a preemption that a syscall or a fault
 *               lets in): the slowest operation of any code grows with the
 *               run's length on a shared machine, and where worst_* stays near
 *               floor_*, that is all it shows
 *   hitworst_cpu_us  the same machine met by work of the fill's size: N hits
 *               on random keys of the full cache (nothing grows, nothing is
 *               allocated, each misses the CPU's caches as a put does), timed
 *               one by one as the fill is; the slowest, on the CPU (bound)
 *
 * Each size runs BENCH_GROW_RUNS times (default 3): the line gives the
 * medians, except for worst_us, worst_cpu_us, floor_* and clear_lock_us, the smallest of the runs
 * (on a shared machine one run's slowest operation is often the machine's
 * doing: a preemption or a stolen CPU lasts milliseconds to seconds; a stall
 * that the code causes shows in every run).
 *
 *   bench_grow [max entries]      (default 1.6*10^7; 10^8 with MEMOSCOPE_LONG=1)
 *
 * The sizes are 10^3, 10^4 ... up to max, and 1.6*10^7 (the size docs/benchmarks.md
 * names) when max reaches it. BENCH_GROW_THP=0 runs with transparent huge
 * pages off for the process (prctl PR_SET_THP_DISABLE, as redis does): a
 * huge page's first touch clears 2 MiB in one fault. BENCH_GROW_SWEEP=
 * MODE:BUDGET:ROUNDS runs a sweeper thread beside the fill, as the server's
 * timer: every 100 ms up to ROUNDS rounds of memoSweep (MODE wait) or
 * memoTrySweep (MODE try) with BUDGET each; the server's is try:64:256.
 *
 * Built with -DBENCH_GROW_V1 against cache/ of an older commit (v1: table
 * doubled at once, clear under the lock), it gives the "before" figures:
 * bench/bench_grow.sh does both, and CPython's lru_cache, in one run.
 */

#include "memo.h"

#include <malloc.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>

/* ------------------------------------------------------------------ types */

#define BENCH_HITS 1000000
#define BENCH_WINDOW 64 /* operations between two reads of the thread's CPU time */
#define BENCH_SUB 16    /* histogram buckets per octave */
#define BENCH_OCTAVES 48

typedef struct benchKey {
    int64_t a, b;
} benchKey;

typedef struct benchHist {
    uint64_t n;
    uint64_t count[BENCH_OCTAVES * BENCH_SUB];
} benchHist;

/* One run's figures at one size (the columns printed). */
typedef struct benchRow {
    double hit, missput, worst_us, worst_cpu_us, p999_us, bytes, clear_lock_us, clear_ms;
    double floor_us, floor_cpu_us, hitworst_cpu_us;
} benchRow;

typedef struct benchClear {
    memo *m;
    atomic_bool stop, started, measuring;
    uint64_t worst_ns; /* the watcher's; read after the join */
} benchClear;

/* ---------------------------------------------------------------- private */

#ifdef BENCH_GROW_V1
/* cache/ of v1: hash and equal were required and took no context, and
 * there was no sweep. */
static uint64_t benchHash(const void *k) {
    return memoHashBytes(k, sizeof(benchKey));
}
static bool benchEqual(const void *x, const void *y) {
    return memcmp(x, y, sizeof(benchKey)) == 0;
}
static const memoType benchType = {
    sizeof(benchKey), sizeof(int64_t), benchHash, benchEqual, NULL, NULL};
#define BENCH_LIBRARY "v1"
#define benchSweep(m) ((void)(m))
#else
static const memoType benchType = {.key_size = sizeof(benchKey), .val_size = sizeof(int64_t)};
#define BENCH_LIBRARY "v2"
#define benchSweep(m)                                                                              \
    do {                                                                                           \
        while (memoSweep((m), 4096))                                                               \
            ;                                                                                      \
    } while (0)
#endif

static volatile uint64_t sink;

static uint64_t benchNow(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The CPU time this thread has used (a system call: read once a window). */
static uint64_t benchCpuNow(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t benchHeap(void) {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static benchKey benchKeyOf(uint64_t i) {
    return (benchKey){(int64_t)i, (int64_t)(i * 7 + 1)};
}

static void benchHistAdd(benchHist *h, uint64_t ns) {
    unsigned oct = ns ? 63u - (unsigned)__builtin_clzll(ns) : 0;
    unsigned sub = oct >= 4 ? (unsigned)(ns >> (oct - 4)) & (BENCH_SUB - 1) : (unsigned)ns;
    if (oct >= BENCH_OCTAVES)
        oct = BENCH_OCTAVES - 1;
    h->count[oct * BENCH_SUB + sub]++;
    h->n++;
}

/* The upper edge of the bucket that holds the q-quantile. */
static double benchHistQuantile(const benchHist *h, double q) {
    uint64_t want = (uint64_t)((double)h->n * q), seen = 0;
    for (unsigned i = 0; i < BENCH_OCTAVES * BENCH_SUB; i++) {
        seen += h->count[i];
        if (seen > want) {
            unsigned oct = i / BENCH_SUB, sub = i % BENCH_SUB;
            if (oct < 4)
                return sub + 1;
            return (double)((1ull << oct) + ((uint64_t)(sub + 1) << (oct - 4)));
        }
    }
    return 0;
}

static void *benchClearWatcher(void *arg) {
    benchClear *c = arg;
    benchKey absent = benchKeyOf(UINT64_MAX / 2);
    int64_t v;
    while (!atomic_load(&c->stop)) {
        uint64_t t0 = benchNow();
        memoGet(c->m, &absent, &v);
        uint64_t dt = benchNow() - t0;
        if (atomic_load(&c->measuring) && dt > c->worst_ns)
            c->worst_ns = dt;
        atomic_store(&c->started, true);
    }
    return NULL;
}

/* The slowest operations of a fill: wall time, and on the CPU (bounded by
 * the window's CPU time, as described at the top). */
typedef struct benchWorst {
    uint64_t wall, cpu, window;
} benchWorst;

static void benchWorstAdd(benchWorst *w, uint64_t dt) {
    if (dt > w->wall)
        w->wall = dt;
    if (dt > w->window)
        w->window = dt;
}

/* Closes a window that ran window_cpu ns on the CPU. */
static void benchWorstWindow(benchWorst *w, uint64_t window_cpu) {
    uint64_t bound = w->window < window_cpu ? w->window : window_cpu;
    if (bound > w->cpu)
        w->cpu = bound;
    w->window = 0;
}

#ifndef BENCH_GROW_V1
/* The server's timer, when BENCH_GROW_SWEEP asks for it. */
static struct {
    bool on, try_lock;
    size_t budget;
    int rounds;
    atomic_bool stop;
} sweeper;

static void *benchSweeper(void *arg) {
    memo *m = arg;
    while (!atomic_load(&sweeper.stop)) {
        struct timespec tick = {0, 100 * 1000 * 1000};
        nanosleep(&tick, NULL);
        for (int i = 0; i < sweeper.rounds; i++) {
            bool more =
                sweeper.try_lock ? memoTrySweep(m, sweeper.budget) : memoSweep(m, sweeper.budget);
            if (!more)
                break;
        }
    }
    return NULL;
}

static bool benchSweeperParse(const char *spec) {
    char mode[8];
    unsigned long budget;
    int rounds;
    if (sscanf(spec, "%7[a-z]:%lu:%d", mode, &budget, &rounds) != 3 || budget == 0 || rounds < 1 ||
        (strcmp(mode, "try") != 0 && strcmp(mode, "wait") != 0))
        return false;
    sweeper.on = true;
    sweeper.try_lock = strcmp(mode, "try") == 0;
    sweeper.budget = budget;
    sweeper.rounds = rounds;
    return true;
}
#endif

/* One run at one size: fills, measures, clears. Returns false if it could
 * not run. */
static bool benchRun(uint64_t n, benchHist *h, benchRow *row) {
    memset(h, 0, sizeof(*h));
    benchKey one = benchKeyOf(UINT64_MAX / 3);
    int64_t v = 1;
    memo *z = memoCreate(&benchType, MEMO_UNBOUNDED, NULL); /* the floor's: one entry */
    if (z == NULL || !memoPut(z, &one, &v)) {
        memoDestroy(z);
        return false;
    }
    size_t heap0 = benchHeap();
    memo *m = memoCreate(&benchType, MEMO_UNBOUNDED, NULL);
    if (m == NULL) {
        memoDestroy(z);
        return false;
    }
    benchWorst worst = {0}, floor = {0};
#ifndef BENCH_GROW_V1
    pthread_t sweep_th;
    atomic_store(&sweeper.stop, false);
    if (sweeper.on && pthread_create(&sweep_th, NULL, benchSweeper, m) != 0)
        return false;
#endif
    uint64_t fill0 = benchNow(), floor_ns = 0;
    uint64_t cpu0 = benchCpuNow();
    for (uint64_t i = 0; i < n; i++) {
        benchKey k = benchKeyOf(i);
        uint64_t t0 = benchNow();
        if (!memoGet(m, &k, &v)) {
            v = (int64_t)i;
            memoPut(m, &k, &v);
        }
        uint64_t t1 = benchNow(), dt = t1 - t0;
        benchHistAdd(h, dt);
        benchWorstAdd(&worst, dt);
        memoGet(z, &one, &v);
        uint64_t t2 = benchNow();
        benchWorstAdd(&floor, t2 - t1);
        floor_ns += t2 - t1;
        if (i % BENCH_WINDOW == BENCH_WINDOW - 1 || i == n - 1) {
            /* The slowest operation of the window ran on the CPU for at
             * most the window's CPU time (the rest of its wall time, the
             * thread was not running). */
            uint64_t cpu = benchCpuNow(), window_cpu = cpu - cpu0;
            cpu0 = cpu;
            benchWorstWindow(&worst, window_cpu);
            benchWorstWindow(&floor, window_cpu);
        }
    }
    /* The fill's own time, without the floor's hits. */
    double missput = (double)(benchNow() - fill0 - floor_ns) / (double)n;
#ifndef BENCH_GROW_V1
    if (sweeper.on) { /* after the fill's time: the join waits for a tick */
        atomic_store(&sweeper.stop, true);
        pthread_join(sweep_th, NULL);
    }
#endif
    memoDestroy(z);
    benchSweep(m);
    memoInfo info = memoGetInfo(m);
    if (info.currsize != n)
        return false;
    double bytes = (double)(benchHeap() - heap0) / (double)n;

    uint64_t x = 88172645463325252ull, acc = 0, hit0 = benchNow();
    for (int i = 0; i < BENCH_HITS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        benchKey k = benchKeyOf(x % n);
        acc += memoGet(m, &k, &v) ? (uint64_t)v : 1;
    }
    double hit = (double)(benchNow() - hit0) / BENCH_HITS;
    benchWorst hitworst = {0};
    cpu0 = benchCpuNow();
    for (uint64_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        benchKey k = benchKeyOf(x % n);
        uint64_t t0 = benchNow();
        acc += memoGet(m, &k, &v) ? (uint64_t)v : 1;
        benchWorstAdd(&hitworst, benchNow() - t0);
        if (i % BENCH_WINDOW == BENCH_WINDOW - 1 || i == n - 1) {
            uint64_t cpu = benchCpuNow();
            benchWorstWindow(&hitworst, cpu - cpu0);
            cpu0 = cpu;
        }
    }
    sink = acc;

    benchClear c = {.m = m};
    pthread_t th;
    if (pthread_create(&th, NULL, benchClearWatcher, &c) != 0)
        return false;
    while (!atomic_load(&c.started))
        ;
    atomic_store(&c.measuring, true);
    uint64_t clear0 = benchNow();
    size_t cleared = memoClear(m);
    double clear_ms = (double)(benchNow() - clear0) / 1e6;
    atomic_store(&c.stop, true);
    pthread_join(th, NULL);
    memoDestroy(m);
    *row = (benchRow){.hit = hit,
                      .missput = missput,
                      .worst_us = (double)worst.wall / 1e3,
                      .worst_cpu_us = (double)worst.cpu / 1e3,
                      .p999_us = benchHistQuantile(h, 0.999) / 1e3,
                      .bytes = bytes,
                      .clear_lock_us = (double)c.worst_ns / 1e3,
                      .clear_ms = clear_ms,
                      .floor_us = (double)floor.wall / 1e3,
                      .floor_cpu_us = (double)floor.cpu / 1e3,
                      .hitworst_cpu_us = (double)hitworst.cpu / 1e3};
    return cleared == n;
}

static int benchCompare(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Column col (an offset into benchRow) of the runs: the median, or the
 * smallest for the worst-case columns (a stall that is the code's shows in
 * every run; one that is the machine's, preemption or a stolen CPU, does
 * not). */
static double benchPick(const benchRow *rows, int runs, size_t col, bool smallest) {
    double v[16];
    for (int r = 0; r < runs; r++)
        memcpy(&v[r], (const char *)&rows[r] + col, sizeof(double));
    qsort(v, (size_t)runs, sizeof(v[0]), benchCompare);
    return smallest ? v[0] : v[runs / 2];
}

/* One size, runs times; prints one line. */
static bool benchSize(uint64_t n, benchHist *h, int runs) {
    benchRow rows[16];
    for (int r = 0; r < runs; r++)
        if (!benchRun(n, h, &rows[r]))
            return false;
#define BENCH_COL(f, smallest) benchPick(rows, runs, offsetof(benchRow, f), smallest)
    printf("%-3s %11llu %8.1f %10.1f %10.2f %10.2f %8.1f %13.1f %9.1f %12.2f %9.2f %12.2f %15.2f\n",
           BENCH_LIBRARY, (unsigned long long)n, BENCH_COL(hit, false), BENCH_COL(missput, false),
           BENCH_COL(worst_us, true), BENCH_COL(p999_us, false), BENCH_COL(bytes, false),
           BENCH_COL(clear_lock_us, true), BENCH_COL(clear_ms, false),
           BENCH_COL(worst_cpu_us, true), BENCH_COL(floor_us, true), BENCH_COL(floor_cpu_us, true),
           BENCH_COL(hitworst_cpu_us, true));
#undef BENCH_COL
    fflush(stdout);
    return true;
}

/* -------------------------------------------------------------------- main */

int main(int argc, char **argv) {
    const char *lng = getenv("MEMOSCOPE_LONG");
    uint64_t max = lng && strcmp(lng, "1") == 0 ? 100000000ull : 16000000ull;
    if (argc > 1)
        max = strtoull(argv[1], NULL, 10);
    if (max < 1000) {
        fprintf(stderr, "usage: %s [max entries, at least 1000]\n", argv[0]);
        return 2;
    }
    const char *r = getenv("BENCH_GROW_RUNS");
    int runs = r ? atoi(r) : 3;
    if (runs < 1 || runs > 16) {
        fprintf(stderr, "%s: BENCH_GROW_RUNS must be 1 to 16\n", argv[0]);
        return 2;
    }
    const char *thp = getenv("BENCH_GROW_THP");
    if (thp && strcmp(thp, "0") == 0 && prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) {
        perror("bench_grow: prctl(PR_SET_THP_DISABLE)");
        return 1;
    }
#ifndef BENCH_GROW_V1
    const char *sweep = getenv("BENCH_GROW_SWEEP");
    if (sweep && !benchSweeperParse(sweep)) {
        fprintf(stderr, "%s: BENCH_GROW_SWEEP is try|wait:BUDGET:ROUNDS\n", argv[0]);
        return 2;
    }
#endif
    static benchHist h;
    printf(
        "# memo cache %s, unbounded, 16-byte key, 8-byte value, one thread filling;"
        " %d runs a size: medians, but the worst_*, floor_* and clear_lock_us are the smallest\n",
        BENCH_LIBRARY, runs);
    printf("%-3s %11s %8s %10s %10s %10s %8s %13s %9s %12s %9s %12s %15s\n", "lib", "entries",
           "hit_ns", "missput_ns", "worst_us", "p999_us", "bytes", "clear_lock_us", "clear_ms",
           "worst_cpu_us", "floor_us", "floor_cpu_us", "hitworst_cpu_us");
    static const uint64_t sizes[] = {1000, 10000, 100000, 1000000, 10000000, 16000000, 100000000};
    uint64_t last = 0;
    for (size_t i = 0; i <= sizeof(sizes) / sizeof(sizes[0]); i++) {
        /* the sizes up to max, then max itself if it is none of them */
        uint64_t n = i < sizeof(sizes) / sizeof(sizes[0]) ? sizes[i] : max;
        if (n > max || n == last)
            continue;
        last = n;
        if (!benchSize(n, &h, runs)) {
            fprintf(stderr, "bench_grow: the run at %llu entries failed\n", (unsigned long long)n);
            return 1;
        }
    }
    return 0;
}
