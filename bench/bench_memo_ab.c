/* bench_memo_ab.c -- the memo cache before and after, in one process.
 *
 * On a shared machine two runs of a benchmark a minute apart do not measure
 * the same machine. This one links both libraries: cache/ of now, and the
 * v1 cache/ of an older commit with its public symbols renamed v1_*
 * (bench/bench_memo_ab.sh does the renaming with objcopy), and times them in
 * alternate slices of 200,000 operations, 31 slices each. It prints, per
 * operation, each library's fastest and median slice and the median over
 * slice pairs of after/before: the figure to quote.
 *
 * Operations as bench_memo's: a hit in a full cache of 128 and of 4096
 * entries, keys visited in turn (the LRU list moves); a miss + put that
 * evicts; and (after only) a hit with a TTL, which reads the clock.
 * Key (instance, a, b), 24 bytes; an 8-byte value; one thread.
 *
 * With arguments (bench_memo_ab count v1|v2 OPERATION MAXSIZE N) it fills one
 * library's cache and runs N operations of one row untimed, for
 * bench_memo_ab.sh's MODE=instructions, which counts their instructions
 * under callgrind (no noise from other processes).
 */
#include "memo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ types */

#define AB_SLICE 200000
#define AB_SLICES 31
/* The instruction count's fill for a miss row: far above any filled key. */
#define AB_MISS_BASE (1ull << 30)

/* v1's memoType: hash and equal without a context, both required. */
typedef struct v1Type {
    size_t key_size, val_size;
    uint64_t (*hash)(const void *key);
    bool (*equal)(const void *k1, const void *k2);
    void (*key_release)(void *key);
    void (*val_release)(void *val);
} v1Type;

void *v1_memoCreate(const v1Type *type, size_t maxsize, void *stats);
bool v1_memoGet(void *m, const void *key, void *val_out);
bool v1_memoPut(void *m, const void *key, const void *val);
void v1_memoDestroy(void *m);
uint64_t v1_memoHashBytes(const void *data, size_t len);

typedef struct abKey {
    uint64_t instance;
    int64_t a, b;
} abKey;

typedef enum abOp { AB_HIT, AB_MISS_PUT, AB_HIT_TTL } abOp;

/* ---------------------------------------------------------------- private */

static volatile uint64_t sink;
static uint64_t next_miss = AB_MISS_BASE;

static uint64_t abV1Hash(const void *k) {
    return v1_memoHashBytes(k, sizeof(abKey));
}

static bool abV1Equal(const void *x, const void *y) {
    return memcmp(x, y, sizeof(abKey)) == 0;
}

static const v1Type v1_type = {sizeof(abKey), sizeof(int64_t), abV1Hash, abV1Equal, NULL, NULL};
static const memoType v2_type = {.key_size = sizeof(abKey), .val_size = sizeof(int64_t)};

static double abNow(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static abKey abKeyOf(uint64_t i) {
    return (abKey){i, (int64_t)(i % 1000), 7};
}

static bool abGet(bool v1, void *m, const abKey *k, int64_t *v) {
    return v1 ? v1_memoGet(m, k, v) : memoGet(m, k, v);
}

static bool abPut(bool v1, void *m, const abKey *k, const int64_t *v) {
    return v1 ? v1_memoPut(m, k, v) : memoPut(m, k, v);
}

/* ns per operation over one slice. */
static double abSlice(bool v1, void *m, size_t n, abOp op) {
    uint64_t acc = 0;
    int64_t v;
    double t0 = abNow();
    for (long i = 0; i < AB_SLICE; i++) {
        abKey k = abKeyOf(op == AB_MISS_PUT ? next_miss++ : (uint64_t)i & (n - 1));
        if (abGet(v1, m, &k, &v)) {
            acc += (uint64_t)v;
        } else {
            v = i;
            acc += abPut(v1, m, &k, &v);
        }
    }
    sink = acc;
    return (abNow() - t0) / AB_SLICE;
}

static int abCompare(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static memo *abCreateV2(size_t n, abOp op) {
    memoConfig cfg = {.maxsize = n,
                      .maxbytes = MEMO_UNBOUNDED,
                      .ttl_ns = op == AB_HIT_TTL ? 3600ull * 1000000000ull : 0};
    return memoCreateWith(&v2_type, &cfg);
}

static void abFill(bool v1, void *m, size_t n) {
    if (m == NULL) {
        fprintf(stderr, "bench_memo_ab: out of memory\n");
        exit(1);
    }
    for (uint64_t i = 0; i < n; i++) {
        abKey k = abKeyOf(i);
        int64_t v = (int64_t)i;
        abPut(v1, m, &k, &v);
    }
}

static void abRow(const char *name, size_t n, abOp op) {
    void *before = v1_memoCreate(&v1_type, n, NULL);
    memo *after = abCreateV2(n, op);
    abFill(true, before, n);
    abFill(false, after, n);
    abOp v1op = op == AB_HIT_TTL ? AB_HIT : op; /* v1 has no TTL: its plain hit */
    double b[AB_SLICES], a[AB_SLICES], ratio[AB_SLICES];
    for (int s = 0; s < AB_SLICES; s++) {
        b[s] = abSlice(true, before, n, v1op);
        a[s] = abSlice(false, after, n, op);
        ratio[s] = a[s] / b[s];
    }
    qsort(b, AB_SLICES, sizeof(double), abCompare);
    qsort(a, AB_SLICES, sizeof(double), abCompare);
    qsort(ratio, AB_SLICES, sizeof(double), abCompare);
    printf("%-16s %7zu %8.1f %8.1f %8.1f %8.1f %8.2f\n", name, n, b[0], b[AB_SLICES / 2], a[0],
           a[AB_SLICES / 2], ratio[AB_SLICES / 2]);
    v1_memoDestroy(before);
    memoDestroy(after);
}

/* One library's operations, untimed (MODE=instructions): exit status 2 on
 * bad arguments. */
static int abCount(int argc, char **argv) {
    static const char *const ops[] = {
        [AB_HIT] = "hit", [AB_MISS_PUT] = "miss", [AB_HIT_TTL] = "hit-ttl"};
    if (argc != 6 || (strcmp(argv[2], "v1") != 0 && strcmp(argv[2], "v2") != 0))
        goto usage;
    bool v1 = strcmp(argv[2], "v1") == 0;
    int op = -1;
    for (int i = 0; i < (int)(sizeof(ops) / sizeof(ops[0])); i++) {
        if (strcmp(argv[3], ops[i]) == 0)
            op = i;
    }
    char *end;
    unsigned long long n = strtoull(argv[4], &end, 10), count;
    if (op < 0 || (v1 && op == AB_HIT_TTL) || *end || n == 0 || (n & (n - 1)) != 0)
        goto usage;
    count = strtoull(argv[5], &end, 10);
    if (*end || count == 0)
        goto usage;
    void *m = v1 ? v1_memoCreate(&v1_type, n, NULL) : (void *)abCreateV2(n, (abOp)op);
    abFill(v1, m, n);
    uint64_t acc = 0;
    int64_t v;
    for (unsigned long long i = 0; i < count; i++) {
        abKey k = abKeyOf(op == AB_MISS_PUT ? next_miss++ : i & (n - 1));
        if (abGet(v1, m, &k, &v)) {
            acc += (uint64_t)v;
        } else {
            v = (int64_t)i;
            acc += abPut(v1, m, &k, &v);
        }
    }
    sink = acc;
    if (v1)
        v1_memoDestroy(m);
    else
        memoDestroy(m);
    return 0;
usage:
    fprintf(stderr, "usage: bench_memo_ab [count v1|v2 hit|hit-ttl|miss MAXSIZE N]"
                    " (MAXSIZE a power of two; hit-ttl: v2 only)\n");
    return 2;
}

/* -------------------------------------------------------------------- main */

int main(int argc, char **argv) {
    if (argc > 1)
        return strcmp(argv[1], "count") == 0 ? abCount(argc, argv) : abCount(0, argv);
    printf("# before = v1 cache/, after = this tree's; ns per operation; %d slices of %d\n",
           AB_SLICES, AB_SLICE);
    printf("%-16s %7s %8s %8s %8s %8s %8s\n", "operation", "maxsize", "v1_min", "v1_med", "v2_min",
           "v2_med", "v2/v1");
    abRow("hit", 128, AB_HIT);
    abRow("hit", 4096, AB_HIT);
    abRow("hit-ttl/hit", 128, AB_HIT_TTL);
    abRow("miss+put+evict", 128, AB_MISS_PUT);
    abRow("miss+put+evict", 4096, AB_MISS_PUT);
    return 0;
}
