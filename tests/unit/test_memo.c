/* test_memo.c -- the memo cache (cache/memo.h), specified by example.
 *
 * Each case states one promise of memo.h and checks it. Stored keys and
 * values carry a unique token, and the release callbacks count releases per
 * token, so every case can also check that each record the cache was given
 * was released exactly once. The LRU cases replay call sequences whose
 * expected outcome was produced by CPython's functools.lru_cache itself.
 *
 * Prints each case's name, then "N passed, M failed"; exits 1 on failure.
 */
#include "memo.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- harness */

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static int caseFailed;
static char caseContext[128]; /* printed with a failure, e.g. the step */

static void _fail(const char *file, int line, const char *what) {
    fprintf(stderr, "    %s:%d: %s%s%s\n", file, line, what, caseContext[0] ? " at " : "",
            caseContext);
    caseFailed = 1;
}

/* On failure, a check reports and ends the current case (it may leak: the
 * case has failed anyway, and the sanitizers then say so louder). */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            _fail(__FILE__, __LINE__, "CHECK(" #cond ") failed");                                  \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(got, want)                                                                        \
    do {                                                                                           \
        long long _g = (long long)(got), _w = (long long)(want);                                   \
        if (_g != _w) {                                                                            \
            char _msg[256];                                                                        \
            snprintf(_msg, sizeof(_msg), "%s is %lld, expected %s = %lld", #got, _g, #want, _w);   \
            _fail(__FILE__, __LINE__, _msg);                                                       \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static void _context(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(caseContext, sizeof(caseContext), fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------- tracked keys and values */

/* A key is an id plus the token of this copy; equal ids are equal keys, as
 * two references to the same object are. A value records its key's id and a
 * result, 2 * id, so a hit can be checked against the right key. */
typedef struct tkey {
    int64_t id;
    uint64_t token;
} tkey;

typedef struct tval {
    int64_t id;
    uint64_t token;
    int64_t result;
} tval;

#define MAX_TOKENS (1u << 18)
#define MAX_LOG 1024
#define NONE (-1)

static uint64_t tokensIssued;
static unsigned keyReleases[MAX_TOKENS];
static unsigned valReleases[MAX_TOKENS];
static int releaseLog[MAX_LOG]; /* ids of released values, in order */
static size_t releaseLogLen;

static void trackerReset(void) {
    tokensIssued = 0;
    memset(keyReleases, 0, sizeof(keyReleases));
    memset(valReleases, 0, sizeof(valReleases));
    releaseLogLen = 0;
}

static tkey newKey(int64_t id) {
    return (tkey){id, tokensIssued++ % MAX_TOKENS};
}

static tval newVal(int64_t id) {
    return (tval){id, tokensIssued++ % MAX_TOKENS, 2 * id};
}

static uint64_t tkeyHash(const void *k) {
    return memoHashBytes(&((const tkey *)k)->id, sizeof(int64_t));
}

static bool tkeyEqual(const void *a, const void *b) {
    return ((const tkey *)a)->id == ((const tkey *)b)->id;
}

static void tkeyRelease(void *k) {
    keyReleases[((tkey *)k)->token]++;
}

static void tvalRelease(void *v) {
    tval *tv = v;
    valReleases[tv->token]++;
    if (releaseLogLen < MAX_LOG)
        releaseLog[releaseLogLen++] = (int)tv->id;
}

static const memoType trackedType = {
    .key_size = sizeof(tkey),
    .val_size = sizeof(tval),
    .hash = tkeyHash,
    .equal = tkeyEqual,
    .key_release = tkeyRelease,
    .val_release = tvalRelease,
};

/* True when every token issued so far was released exactly once. Each token
 * belongs to either a key or a value, so the other count must be zero. */
static bool allReleasedOnce(void) {
    if (tokensIssued > MAX_TOKENS)
        return false; /* a case outgrew the table: raise MAX_TOKENS */
    for (uint64_t t = 0; t < tokensIssued; t++)
        if (keyReleases[t] + valReleases[t] != 1)
            return false;
    return true;
}

/* What a memoised call does: get, and on a miss put the computed value. */
typedef enum { CALL_MISS, CALL_HIT, CALL_WRONG_VALUE } callResult;

static callResult call(memo *m, int64_t id) {
    tkey k = {id, 0};
    tval v;
    if (memoGet(m, &k, &v))
        return v.id == id && v.result == 2 * id ? CALL_HIT : CALL_WRONG_VALUE;
    tkey nk = newKey(id);
    tval nv = newVal(id);
    memoPut(m, &nk, &nv);
    return CALL_MISS;
}

/* ------------------------------------------------- lru_cache's own answers */

#define HIT true
#define MISS false

typedef struct lruStep {
    int key;
    bool hit;     /* whether lru_cache answered from the cache */
    int released; /* whose result the call released, or NONE */
} lruStep;

typedef struct lruSequence {
    const char *name;
    size_t maxsize;
    const lruStep *steps;
    size_t nsteps;
    uint64_t hits, misses, currsize; /* cache_info() at the end */
    const int *clear;                /* cache_clear()'s release order */
    size_t nclear;
} lruSequence;

/* BEGIN generated by: python3 tests/unit/gen_lru_sequences.py */
/* Generated by tests/unit/gen_lru_sequences.py (Python 3.11.7). */
static const lruStep seq_textbook[] = {{1, MISS, -1}, {2, MISS, -1}, {3, MISS, -1}, {1, HIT, -1},
                                       {4, MISS, 2},  {2, MISS, 3},  {5, MISS, 1},  {1, MISS, 4},
                                       {2, HIT, -1},  {3, MISS, 5},  {4, MISS, 1},  {5, MISS, 2}};
static const int clear_textbook[] = {3, 4, 5};
static const lruStep seq_one_slot[] = {{1, MISS, -1}, {1, HIT, -1}, {2, MISS, 1},
                                       {1, MISS, 2},  {2, MISS, 1}, {2, HIT, -1},
                                       {3, MISS, 2},  {3, HIT, -1}, {1, MISS, 3}};
static const int clear_one_slot[] = {1};
static const lruStep seq_hit_refreshes[] = {
    {1, MISS, -1}, {2, MISS, -1}, {1, HIT, -1}, {3, MISS, 2}, {1, HIT, -1},
    {2, MISS, 3},  {3, MISS, 1},  {3, HIT, -1}, {1, MISS, 2}, {2, MISS, 3}};
static const int clear_hit_refreshes[] = {1, 2};
static const lruStep seq_scan_defeats_lru[] = {
    {0, MISS, -1}, {1, MISS, -1}, {2, MISS, -1}, {3, MISS, -1}, {4, MISS, 0},
    {5, MISS, 1},  {6, MISS, 2},  {7, MISS, 3},  {8, MISS, 4},  {9, MISS, 5},
    {0, MISS, 6},  {1, MISS, 7},  {2, MISS, 8},  {3, MISS, 9},  {4, MISS, 0},
    {5, MISS, 1},  {6, MISS, 2},  {7, MISS, 3},  {8, MISS, 4},  {9, MISS, 5}};
static const int clear_scan_defeats_lru[] = {6, 7, 8, 9};
static const lruStep seq_random_small[] = {
    {6, MISS, -1}, {4, MISS, -1}, {6, HIT, -1}, {5, MISS, -1}, {1, MISS, -1}, {6, HIT, -1},
    {3, MISS, 4},  {5, HIT, -1},  {3, HIT, -1}, {7, MISS, 1},  {3, HIT, -1},  {5, HIT, -1},
    {4, MISS, 6},  {0, MISS, 7},  {1, MISS, 3}, {7, MISS, 5},  {0, HIT, -1},  {3, MISS, 4},
    {0, HIT, -1},  {6, MISS, 1},  {5, MISS, 7}, {4, MISS, 3},  {5, HIT, -1},  {0, HIT, -1},
    {3, MISS, 6},  {3, HIT, -1},  {6, MISS, 4}, {0, HIT, -1},  {1, MISS, 5},  {3, HIT, -1},
    {2, MISS, 6},  {7, MISS, 0},  {3, HIT, -1}, {1, HIT, -1},  {1, HIT, -1},  {0, MISS, 2},
    {3, HIT, -1},  {7, HIT, -1},  {3, HIT, -1}, {2, MISS, 1},  {3, HIT, -1},  {6, MISS, 0},
    {7, HIT, -1},  {7, HIT, -1},  {5, MISS, 2}, {5, HIT, -1},  {3, HIT, -1},  {2, MISS, 6},
    {5, HIT, -1},  {5, HIT, -1},  {1, MISS, 7}, {7, MISS, 3},  {0, MISS, 2},  {3, MISS, 5},
    {3, HIT, -1},  {1, HIT, -1},  {3, HIT, -1}, {0, HIT, -1},  {7, HIT, -1},  {2, MISS, 1},
    {0, HIT, -1},  {7, HIT, -1},  {7, HIT, -1}, {3, HIT, -1},  {5, MISS, 2},  {7, HIT, -1},
    {2, MISS, 0},  {5, HIT, -1},  {2, HIT, -1}, {7, HIT, -1},  {2, HIT, -1},  {7, HIT, -1},
    {6, MISS, 3},  {4, MISS, 5},  {2, HIT, -1}, {4, HIT, -1},  {4, HIT, -1},  {3, MISS, 7},
    {4, HIT, -1},  {2, HIT, -1}};
static const int clear_random_small[] = {6, 3, 4, 2};
static const lruStep seq_random_hot_cold[] = {
    {32, MISS, -1}, {4, MISS, -1},  {17, MISS, -1}, {37, MISS, -1}, {5, MISS, -1},  {0, MISS, -1},
    {11, MISS, -1}, {46, MISS, -1}, {25, MISS, -1}, {32, HIT, -1},  {5, HIT, -1},   {5, HIT, -1},
    {27, MISS, -1}, {0, HIT, -1},   {6, MISS, -1},  {3, MISS, -1},  {61, MISS, -1}, {33, MISS, -1},
    {3, HIT, -1},   {6, HIT, -1},   {1, MISS, -1},  {7, MISS, -1},  {4, HIT, -1},   {7, HIT, -1},
    {2, MISS, 17},  {4, HIT, -1},   {6, HIT, -1},   {4, HIT, -1},   {38, MISS, 37}, {33, HIT, -1},
    {21, MISS, 11}, {51, MISS, 46}, {17, MISS, 25}, {7, HIT, -1},   {4, HIT, -1},   {48, MISS, 32},
    {0, HIT, -1},   {8, MISS, 5},   {5, MISS, 27},  {3, HIT, -1},   {42, MISS, 61}, {20, MISS, 1},
    {0, HIT, -1},   {2, HIT, -1},   {1, MISS, 6},   {4, HIT, -1},   {0, HIT, -1},   {4, HIT, -1},
    {2, HIT, -1},   {5, HIT, -1},   {16, MISS, 38}, {14, MISS, 33}, {0, HIT, -1},   {0, HIT, -1},
    {16, HIT, -1},  {45, MISS, 21}, {5, HIT, -1},   {1, HIT, -1},   {48, HIT, -1},  {5, HIT, -1},
    {29, MISS, 51}, {7, HIT, -1},   {2, HIT, -1},   {2, HIT, -1},   {3, HIT, -1},   {5, HIT, -1},
    {54, MISS, 17}, {0, HIT, -1},   {1, HIT, -1},   {5, HIT, -1},   {1, HIT, -1},   {56, MISS, 8},
    {36, MISS, 42}, {4, HIT, -1},   {2, HIT, -1},   {1, HIT, -1},   {5, HIT, -1},   {2, HIT, -1},
    {1, HIT, -1},   {1, HIT, -1},   {3, HIT, -1},   {22, MISS, 20}, {2, HIT, -1},   {5, HIT, -1},
    {44, MISS, 14}, {5, HIT, -1},   {6, MISS, 16},  {6, HIT, -1},   {55, MISS, 45}, {14, MISS, 48},
    {7, HIT, -1},   {7, HIT, -1},   {6, HIT, -1},   {14, HIT, -1},  {4, HIT, -1},   {1, HIT, -1},
    {30, MISS, 29}, {6, HIT, -1},   {5, HIT, -1},   {3, HIT, -1},   {4, HIT, -1},   {43, MISS, 54},
    {5, HIT, -1},   {54, MISS, 0},  {1, HIT, -1},   {38, MISS, 56}, {3, HIT, -1},   {7, HIT, -1},
    {2, HIT, -1},   {6, HIT, -1},   {3, HIT, -1},   {7, HIT, -1},   {7, HIT, -1},   {57, MISS, 36},
    {4, HIT, -1},   {15, MISS, 22}, {5, HIT, -1},   {7, HIT, -1},   {4, HIT, -1},   {0, MISS, 44},
    {25, MISS, 55}, {38, HIT, -1},  {49, MISS, 14}, {2, HIT, -1},   {5, HIT, -1},   {2, HIT, -1},
    {1, HIT, -1},   {7, HIT, -1},   {18, MISS, 30}, {4, HIT, -1},   {35, MISS, 43}, {33, MISS, 54},
    {7, HIT, -1},   {0, HIT, -1},   {4, HIT, -1},   {6, HIT, -1},   {25, HIT, -1},  {4, HIT, -1},
    {62, MISS, 3},  {0, HIT, -1},   {5, HIT, -1},   {2, HIT, -1},   {4, HIT, -1},   {5, HIT, -1},
    {6, HIT, -1},   {1, HIT, -1},   {62, HIT, -1},  {38, HIT, -1},  {7, HIT, -1},   {1, HIT, -1},
    {3, MISS, 57},  {24, MISS, 15}, {3, HIT, -1},   {54, MISS, 49}, {43, MISS, 18}, {5, HIT, -1},
    {1, HIT, -1},   {39, MISS, 35}, {22, MISS, 33}, {2, HIT, -1},   {0, HIT, -1},   {0, HIT, -1},
    {0, HIT, -1},   {2, HIT, -1},   {6, HIT, -1},   {3, HIT, -1},   {2, HIT, -1},   {4, HIT, -1},
    {3, HIT, -1},   {3, HIT, -1},   {16, MISS, 25}, {8, MISS, 62},  {41, MISS, 38}, {0, HIT, -1},
    {7, HIT, -1},   {51, MISS, 24}, {30, MISS, 54}, {9, MISS, 43},  {1, HIT, -1},   {0, HIT, -1},
    {20, MISS, 5},  {7, HIT, -1},   {31, MISS, 39}, {24, MISS, 22}, {1, HIT, -1},   {2, HIT, -1},
    {7, HIT, -1},   {6, HIT, -1},   {4, HIT, -1},   {26, MISS, 3},  {54, MISS, 16}, {7, HIT, -1},
    {3, MISS, 8},   {1, HIT, -1},   {5, MISS, 41},  {10, MISS, 51}, {0, HIT, -1},   {7, HIT, -1},
    {0, HIT, -1},   {39, MISS, 30}, {50, MISS, 9},  {7, HIT, -1},   {3, HIT, -1},   {8, MISS, 20},
    {12, MISS, 31}, {0, HIT, -1},   {4, HIT, -1},   {5, HIT, -1},   {7, HIT, -1},   {61, MISS, 24},
    {9, MISS, 2},   {7, HIT, -1},   {5, HIT, -1},   {1, HIT, -1},   {0, HIT, -1},   {46, MISS, 6},
    {32, MISS, 26}, {4, HIT, -1},   {3, HIT, -1},   {0, HIT, -1},   {5, HIT, -1},   {4, HIT, -1},
    {3, HIT, -1},   {45, MISS, 54}, {3, HIT, -1},   {7, HIT, -1},   {1, HIT, -1},   {4, HIT, -1},
    {54, MISS, 10}, {7, HIT, -1},   {42, MISS, 39}, {6, MISS, 50},  {5, HIT, -1},   {19, MISS, 8},
    {0, HIT, -1},   {3, HIT, -1},   {5, HIT, -1},   {4, HIT, -1},   {3, HIT, -1},   {43, MISS, 12},
    {3, HIT, -1},   {3, HIT, -1},   {7, HIT, -1},   {4, HIT, -1},   {4, HIT, -1},   {18, MISS, 61},
    {2, MISS, 9},   {4, HIT, -1},   {60, MISS, 46}, {31, MISS, 32}, {3, HIT, -1},   {4, HIT, -1},
    {7, HIT, -1},   {0, HIT, -1},   {5, HIT, -1},   {13, MISS, 45}, {1, HIT, -1},   {5, HIT, -1},
    {0, HIT, -1},   {3, HIT, -1},   {15, MISS, 54}, {57, MISS, 42}, {3, HIT, -1},   {7, HIT, -1},
    {6, HIT, -1},   {21, MISS, 19}, {4, HIT, -1},   {7, HIT, -1},   {0, HIT, -1},   {60, HIT, -1},
    {54, MISS, 43}, {13, HIT, -1},  {40, MISS, 18}, {0, HIT, -1},   {4, HIT, -1},   {39, MISS, 2},
    {59, MISS, 31}, {7, HIT, -1},   {3, HIT, -1},   {36, MISS, 1},  {2, MISS, 5},   {24, MISS, 15},
    {7, HIT, -1},   {1, MISS, 57},  {34, MISS, 6},  {3, HIT, -1},   {7, HIT, -1},   {4, HIT, -1},
    {61, MISS, 21}, {22, MISS, 60}, {6, MISS, 54},  {3, HIT, -1},   {5, MISS, 13},  {3, HIT, -1},
    {59, HIT, -1},  {2, HIT, -1},   {6, HIT, -1},   {5, HIT, -1},   {42, MISS, 40}, {5, HIT, -1}};
static const int clear_random_hot_cold[] = {0, 39, 36, 24, 1, 34, 7, 4, 61, 22, 3, 59, 2, 6, 42, 5};
static const lruStep seq_unbounded[] = {
    {1, MISS, -1}, {8, MISS, -1}, {2, MISS, -1},  {7, MISS, -1}, {10, MISS, -1}, {3, MISS, -1},
    {7, HIT, -1},  {0, MISS, -1}, {11, MISS, -1}, {1, HIT, -1},  {3, HIT, -1},   {3, HIT, -1},
    {0, HIT, -1},  {8, HIT, -1},  {9, MISS, -1},  {3, HIT, -1},  {6, MISS, -1},  {0, HIT, -1},
    {7, HIT, -1},  {1, HIT, -1},  {6, HIT, -1},   {6, HIT, -1},  {5, MISS, -1},  {6, HIT, -1},
    {7, HIT, -1},  {6, HIT, -1},  {4, MISS, -1},  {2, HIT, -1},  {10, HIT, -1},  {10, HIT, -1},
    {2, HIT, -1},  {4, HIT, -1},  {10, HIT, -1},  {7, HIT, -1},  {5, HIT, -1},   {3, HIT, -1},
    {11, HIT, -1}, {3, HIT, -1},  {7, HIT, -1},   {5, HIT, -1}};
static const int clear_unbounded[] = {1, 8, 2, 7, 10, 3, 0, 11, 9, 6, 5, 4};
static const lruStep seq_disabled[] = {{1, MISS, 1}, {1, MISS, 1}, {2, MISS, 2}, {1, MISS, 1}};
static const int clear_disabled[] = {NONE};
static const lruSequence lruSequences[] = {
    {"textbook", 3, seq_textbook, ARRAY_LEN(seq_textbook), 2, 10, 3, clear_textbook, 3},
    {"one_slot", 1, seq_one_slot, ARRAY_LEN(seq_one_slot), 3, 6, 1, clear_one_slot, 1},
    {"hit_refreshes", 2, seq_hit_refreshes, ARRAY_LEN(seq_hit_refreshes), 3, 7, 2,
     clear_hit_refreshes, 2},
    {"scan_defeats_lru", 4, seq_scan_defeats_lru, ARRAY_LEN(seq_scan_defeats_lru), 0, 20, 4,
     clear_scan_defeats_lru, 4},
    {"random_small", 4, seq_random_small, ARRAY_LEN(seq_random_small), 46, 34, 4,
     clear_random_small, 4},
    {"random_hot_cold", 16, seq_random_hot_cold, ARRAY_LEN(seq_random_hot_cold), 192, 108, 16,
     clear_random_hot_cold, 16},
    {"unbounded", MEMO_UNBOUNDED, seq_unbounded, ARRAY_LEN(seq_unbounded), 28, 12, 12,
     clear_unbounded, 12},
    {"disabled", 0, seq_disabled, ARRAY_LEN(seq_disabled), 0, 4, 0, clear_disabled, 0},
};
/* END generated */

/* ------------------------------------------------------------------ cases */

/* Replays a sequence of calls and checks, call by call, that the cache hits
 * and evicts exactly as functools.lru_cache did, then that clear releases
 * the rest in lru_cache's order (oldest first; insertion order when
 * unbounded). */
static void caseLruSequence(const lruSequence *s) {
    trackerReset();
    memo *m = memoCreate(&trackedType, s->maxsize, NULL);
    CHECK(m != NULL);
    uint64_t evicted = 0;
    for (size_t i = 0; i < s->nsteps; i++) {
        const lruStep *st = &s->steps[i];
        _context("step %zu (key %d)", i, st->key);
        releaseLogLen = 0;
        callResult r = call(m, st->key);
        CHECK(r != CALL_WRONG_VALUE);
        CHECK_EQ(r == CALL_HIT, st->hit);
        CHECK(releaseLogLen <= 1);
        CHECK_EQ(releaseLogLen ? releaseLog[0] : NONE, st->released);
        if (st->released != NONE && s->maxsize != 0)
            evicted++;
    }
    _context("the end");
    memoInfo info = memoGetInfo(m);
    CHECK_EQ(info.hits, s->hits);
    CHECK_EQ(info.misses, s->misses);
    CHECK_EQ(info.currsize, s->currsize);
    CHECK_EQ(info.maxsize, s->maxsize);
    CHECK_EQ(info.evictions, evicted);
    releaseLogLen = 0;
    CHECK_EQ(memoClear(m), s->currsize);
    CHECK_EQ(releaseLogLen, s->nclear);
    for (size_t i = 0; i < s->nclear; i++)
        CHECK_EQ(releaseLog[i], s->clear[i]);
    memoDestroy(m);
    CHECK(allReleasedOnce());
}

static void caseInfoCounts(void) {
    trackerReset();
    memo *m = memoCreate(&trackedType, 2, NULL);
    CHECK(m != NULL);
    memoInfo info = memoGetInfo(m);
    CHECK(info.hits == 0 && info.misses == 0 && info.currsize == 0 && info.evictions == 0);
    CHECK_EQ(info.maxsize, 2);

    CHECK_EQ(call(m, 1), CALL_MISS);
    CHECK_EQ(call(m, 1), CALL_HIT);
    CHECK_EQ(call(m, 2), CALL_MISS);
    CHECK_EQ(call(m, 2), CALL_HIT);
    CHECK_EQ(call(m, 1), CALL_HIT);
    info = memoGetInfo(m);
    CHECK(info.hits == 3 && info.misses == 2 && info.currsize == 2 && info.evictions == 0);

    CHECK_EQ(call(m, 3), CALL_MISS); /* evicts 2, the least recently used */
    CHECK_EQ(call(m, 4), CALL_MISS); /* evicts 1 */
    info = memoGetInfo(m);
    CHECK(info.hits == 3 && info.misses == 4 && info.currsize == 2 && info.evictions == 2);

    /* A put alone counts neither a hit nor a miss: memoGet does. */
    tkey k = newKey(5);
    tval v = newVal(5);
    CHECK(memoPut(m, &k, &v));
    info = memoGetInfo(m);
    CHECK(info.hits == 3 && info.misses == 4 && info.evictions == 3);
    memoDestroy(m);
    CHECK(allReleasedOnce());
}

static void caseClear(void) {
    trackerReset();
    memoStats g;
    memoStatsInit(&g);
    memo *m = memoCreate(&trackedType, 3, &g);
    CHECK(m != NULL);
    for (int64_t id = 0; id < 5; id++)
        call(m, id);
    call(m, 4);
    memoInfo info = memoGetInfo(m);
    CHECK(info.hits == 1 && info.misses == 5 && info.currsize == 3 && info.evictions == 2);

    releaseLogLen = 0;
    CHECK_EQ(memoClear(m), 3);
    CHECK_EQ(releaseLogLen, 3);
    CHECK(allReleasedOnce());
    info = memoGetInfo(m);
    CHECK(info.hits == 0 && info.misses == 0 && info.currsize == 0 && info.evictions == 0);
    /* The group keeps its history; only what is held goes. */
    CHECK(g.hits == 1 && g.misses == 5 && g.evictions == 2 && g.currsize == 0);

    CHECK_EQ(memoClear(m), 0); /* clearing an empty cache is harmless */
    CHECK_EQ(call(m, 7), CALL_MISS);
    CHECK_EQ(call(m, 7), CALL_HIT); /* and the cache works on after it */
    memoDestroy(m);
    CHECK(allReleasedOnce());
    CHECK_EQ(g.currsize, 0);
}

static void caseUnbounded(void) {
    enum { N = 100000 };
    trackerReset();
    memo *m = memoCreate(&trackedType, MEMO_UNBOUNDED, NULL);
    CHECK(m != NULL);
    for (int64_t id = 0; id < N; id++)
        CHECK_EQ(call(m, id), CALL_MISS);
    for (int64_t id = 0; id < N; id++)
        CHECK_EQ(call(m, id), CALL_HIT);
    memoInfo info = memoGetInfo(m);
    CHECK_EQ(info.maxsize, MEMO_UNBOUNDED);
    CHECK_EQ(info.currsize, N);
    CHECK_EQ(info.evictions, 0);
    CHECK_EQ(info.hits, N);
    CHECK_EQ(info.misses, N);
    CHECK_EQ(memoClear(m), N);
    CHECK(allReleasedOnce());
    CHECK_EQ(call(m, 1), CALL_MISS); /* usable after clear shrank it */
    CHECK_EQ(call(m, 1), CALL_HIT);
    memoDestroy(m);
    CHECK(allReleasedOnce());
}

static void caseDisabled(void) {
    trackerReset();
    memoStats g;
    memoStatsInit(&g);
    memo *m = memoCreate(&trackedType, 0, &g);
    CHECK(m != NULL);
    for (int i = 0; i < 3; i++) {
        tkey k = newKey(1);
        tval v = newVal(1);
        tval out = {0};
        CHECK(!memoGet(m, &k, &out));
        CHECK_EQ(out.id, 0); /* val_out untouched on a miss */
        releaseLogLen = 0;
        CHECK(!memoPut(m, &k, &v));
        CHECK_EQ(releaseLogLen, 1); /* released before memoPut returned */
        CHECK(allReleasedOnce());
    }
    memoInfo info = memoGetInfo(m);
    CHECK(info.hits == 0 && info.misses == 3 && info.currsize == 0 && info.maxsize == 0);
    CHECK(g.misses == 3 && g.currsize == 0);
    CHECK_EQ(memoClear(m), 0);
    memoDestroy(m);
    CHECK(allReleasedOnce());
}

/* functools.lru_cache, when the key was stored while the function ran,
 * keeps the stored entry where it is in the LRU order and drops the new
 * result. memoPut does the same, releasing what it was given. */
static void casePutPresentKey(void) {
    trackerReset();
    memo *m = memoCreate(&trackedType, 2, NULL);
    CHECK(m != NULL);
    tkey k1 = newKey(1), k2 = newKey(2), k3 = newKey(3);
    tval v1 = newVal(1), v2 = newVal(2), v3 = newVal(3);
    CHECK(memoPut(m, &k1, &v1));
    CHECK(memoPut(m, &k2, &v2));

    tkey again = newKey(1);
    tval other = newVal(1);
    other.result = 999;
    releaseLogLen = 0;
    CHECK(!memoPut(m, &again, &other));
    CHECK_EQ(keyReleases[again.token], 1);
    CHECK_EQ(valReleases[other.token], 1);
    CHECK_EQ(keyReleases[k1.token] + valReleases[v1.token], 0);
    CHECK_EQ(memoGetInfo(m).currsize, 2);

    /* 1 is still the least recently used: the put did not refresh it. */
    releaseLogLen = 0;
    CHECK(memoPut(m, &k3, &v3));
    CHECK_EQ(releaseLogLen, 1);
    CHECK_EQ(releaseLog[0], 1);

    /* The stored value is the first one, never replaced. */
    memoClear(m);
    tkey first = newKey(5), second = newKey(5);
    tval firstVal = newVal(5), secondVal = newVal(5);
    secondVal.result = 999;
    CHECK(memoPut(m, &first, &firstVal));
    CHECK(!memoPut(m, &second, &secondVal));
    tval out;
    CHECK(memoGet(m, &first, &out));
    CHECK_EQ(out.token, firstVal.token);
    CHECK_EQ(out.result, 10);
    memoDestroy(m);
    CHECK(allReleasedOnce());
}

static void caseDestroyReleases(void) {
    trackerReset();
    memo *bounded = memoCreate(&trackedType, 8, NULL);
    memo *unbounded = memoCreate(&trackedType, MEMO_UNBOUNDED, NULL);
    CHECK(bounded != NULL && unbounded != NULL);
    for (int64_t id = 0; id < 20; id++) {
        call(bounded, id % 11);
        call(unbounded, id % 13);
    }
    CHECK(!allReleasedOnce()); /* the stored ones are still held */
    memoDestroy(bounded);
    memoDestroy(unbounded);
    CHECK(allReleasedOnce());
    memoDestroy(NULL); /* a no-op */
}

static void caseStatsGroup(void) {
    trackerReset();
    memoStats g;
    memoStatsInit(&g);
    memo *a = memoCreate(&trackedType, 2, &g);
    memo *b = memoCreate(&trackedType, MEMO_UNBOUNDED, &g);
    memo *c = memoCreate(&trackedType, 0, &g);
    memo *alone = memoCreate(&trackedType, 4, NULL);
    CHECK(a && b && c && alone);
    int64_t seq[] = {1, 2, 1, 3, 4, 1};
    for (size_t i = 0; i < ARRAY_LEN(seq); i++) {
        call(a, seq[i]);
        call(b, seq[i]);
        call(c, seq[i]);
        call(alone, seq[i]);
    }
    memoInfo ia = memoGetInfo(a), ib = memoGetInfo(b), ic = memoGetInfo(c);
    CHECK_EQ(g.hits, ia.hits + ib.hits + ic.hits);
    CHECK_EQ(g.misses, ia.misses + ib.misses + ic.misses);
    CHECK_EQ(g.evictions, ia.evictions + ib.evictions + ic.evictions);
    CHECK_EQ(g.currsize, ia.currsize + ib.currsize + ic.currsize);
    CHECK(g.hits == 3 && g.misses == 15 && g.evictions == 3 && g.currsize == 6);

    memoDestroy(a); /* a's counts stay in the group; its entries leave */
    CHECK(g.hits == 3 && g.misses == 15 && g.evictions == 3 && g.currsize == 4);
    memoClear(b); /* clear resets b's own counts, not the group's */
    CHECK(g.hits == 3 && g.misses == 15 && g.evictions == 3 && g.currsize == 0);
    memoCountHit(b);
    CHECK_EQ(g.hits, 4);
    memoDestroy(b);
    memoDestroy(c);
    memoDestroy(alone);
    CHECK(g.hits == 4 && g.misses == 15 && g.evictions == 3 && g.currsize == 0);
    CHECK(allReleasedOnce());
}

/* The key of the global scope: (instance, a, b). */
typedef struct bigKey {
    uint64_t instance;
    int64_t a;
    int64_t b;
} bigKey;

static unsigned bigKeyReleases, misalignedRecords;

static uint64_t bigKeyHash(const void *k) {
    return memoHashBytes(k, sizeof(bigKey));
}

static bool bigKeyEqual(const void *x, const void *y) {
    return memcmp(x, y, sizeof(bigKey)) == 0;
}

static void bigKeyRelease(void *k) {
    if ((uintptr_t)k % _Alignof(max_align_t) != 0)
        misalignedRecords++;
    bigKeyReleases++;
}

static void caseBigKeys(void) {
    static const memoType type = {
        .key_size = sizeof(bigKey),
        .val_size = sizeof(int64_t),
        .hash = bigKeyHash,
        .equal = bigKeyEqual,
        .key_release = bigKeyRelease,
    };
    bigKeyReleases = misalignedRecords = 0;
    memo *m = memoCreate(&type, 64, NULL);
    CHECK(m != NULL);
    /* Keys that differ only in their last 8 bytes, or only in the first. */
    for (int64_t i = 0; i < 16; i++) {
        bigKey k1 = {7, 100, i}, k2 = {(uint64_t)i, 100, 0};
        int64_t v1 = 1000 + i, v2 = 2000 + i;
        CHECK(memoPut(m, &k1, &v1));
        if (i != 7)
            CHECK(memoPut(m, &k2, &v2));
    }
    CHECK_EQ(memoGetInfo(m).currsize, 31);
    for (int64_t i = 0; i < 16; i++) {
        bigKey k1 = {7, 100, i}, k2 = {(uint64_t)i, 100, 0};
        int64_t v;
        CHECK(memoGet(m, &k1, &v));
        CHECK_EQ(v, 1000 + i);
        CHECK(memoGet(m, &k2, &v));
        CHECK_EQ(v, i == 7 ? 1000 : 2000 + i);
    }
    bigKey absent = {7, 101, 0};
    int64_t v;
    CHECK(!memoGet(m, &absent, &v));
    memoDestroy(m);
    CHECK_EQ(bigKeyReleases, 31);
    CHECK_EQ(misalignedRecords, 0);
}

static uint64_t badHash(const void *k) {
    return (uint64_t)((const tkey *)k)->id % 3; /* many keys, three hashes */
}

static void caseCollidingHashes(void) {
    trackerReset();
    memoType type = trackedType;
    type.hash = badHash;
    memo *m = memoCreate(&type, 50, NULL);
    CHECK(m != NULL);
    for (int64_t id = 0; id < 100; id++)
        CHECK_EQ(call(m, id), CALL_MISS);
    for (int64_t id = 50; id < 100; id++)
        CHECK_EQ(call(m, id), CALL_HIT);
    for (int64_t id = 0; id < 50; id++)
        CHECK_EQ(call(m, id), CALL_MISS); /* each evicts one of 50..99 */
    CHECK_EQ(memoGetInfo(m).evictions, 100);
    memoDestroy(m);
    CHECK(allReleasedOnce());
}

static void caseCountHit(void) {
    memoStats g;
    memoStatsInit(&g);
    memo *m = memoCreate(&trackedType, 4, &g);
    CHECK(m != NULL);
    memoCountHit(m);
    memoCountHit(m);
    memoInfo info = memoGetInfo(m);
    CHECK(info.hits == 2 && info.misses == 0 && info.currsize == 0);
    CHECK_EQ(g.hits, 2);
    memoDestroy(m);
}

/* Under memoLock a caller may look up and fill in one step: no other thread
 * can put the same key in between. */
static void caseDoFunctions(void) {
    trackerReset();
    memo *m = memoCreate(&trackedType, 4, NULL);
    CHECK(m != NULL);
    memoLock(m);
    tkey k = newKey(9);
    tval v = newVal(9), out;
    CHECK(!do_memoGet(m, &k, &out));
    CHECK(do_memoPut(m, &k, &v));
    CHECK(do_memoGet(m, &k, &out));
    CHECK_EQ(out.result, 18);
    do_memoCountHit(m);
    memoInfo info = do_memoGetInfo(m);
    CHECK(info.hits == 2 && info.misses == 1 && info.currsize == 1);
    CHECK_EQ(do_memoClear(m), 1);
    memoUnlock(m);
    memoDestroy(m);
    CHECK(allReleasedOnce());
}

static void caseCreateRejects(void) {
    memoType t = trackedType;
    t.hash = NULL;
    CHECK(memoCreate(&t, 4, NULL) == NULL);
    t = trackedType;
    t.equal = NULL;
    CHECK(memoCreate(&t, 4, NULL) == NULL);
    t = trackedType;
    t.key_size = 0;
    CHECK(memoCreate(&t, 4, NULL) == NULL);
    t = trackedType;
    t.val_size = 0;
    CHECK(memoCreate(&t, 4, NULL) == NULL);
    CHECK(memoCreate(NULL, 4, NULL) == NULL);
    t = trackedType;
    t.key_release = t.val_release = NULL; /* releases are optional */
    memo *m = memoCreate(&t, 4, NULL);
    CHECK(m != NULL);
    memoDestroy(m);
}

/* A bound far larger than memory must not be allocated up front. */
static void caseHugeMaxsize(void) {
    trackerReset();
    memo *m = memoCreate(&trackedType, MEMO_UNBOUNDED - 1, NULL);
    CHECK(m != NULL);
    for (int64_t id = 0; id < 1000; id++)
        call(m, id);
    CHECK_EQ(call(m, 0), CALL_HIT);
    memoInfo info = memoGetInfo(m);
    CHECK(info.currsize == 1000 && info.evictions == 0 && info.maxsize == MEMO_UNBOUNDED - 1);
    memoDestroy(m);
    CHECK(allReleasedOnce());
}

static uint64_t xorshift(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void caseHashBytes(void) {
    /* Deterministic, and a function of the bytes, not of where they are. */
    unsigned char buf[64 + 1], copy[64];
    uint64_t rng = 0x1234567;
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)xorshift(&rng);
    memcpy(copy, buf + 1, 64);
    for (size_t len = 0; len <= 64; len++)
        CHECK_EQ(memoHashBytes(buf + 1, len), memoHashBytes(copy, len));

    /* The length counts: 0 to 64 zero bytes give 65 different hashes. */
    unsigned char zeros[64] = {0};
    uint64_t seen[65];
    for (size_t len = 0; len <= 64; len++) {
        seen[len] = memoHashBytes(zeros, len);
        for (size_t j = 0; j < len; j++)
            CHECK(seen[j] != seen[len]);
    }

    /* Avalanche: flipping one input bit flips each output bit about half
     * the time, for every key length the server uses and a few more. */
    static const size_t lens[] = {1, 3, 8, 16, 24, 40};
    for (size_t li = 0; li < ARRAY_LEN(lens); li++) {
        size_t len = lens[li];
        enum { KEYS = 200 };
        unsigned flips[64] = {0}, trials = 0;
        for (int k = 0; k < KEYS; k++) {
            unsigned char key[40];
            for (size_t i = 0; i < len; i++)
                key[i] = (unsigned char)xorshift(&rng);
            uint64_t base = memoHashBytes(key, len);
            for (size_t bit = 0; bit < len * 8; bit++) {
                key[bit / 8] ^= (unsigned char)(1u << (bit % 8));
                uint64_t diff = base ^ memoHashBytes(key, len);
                key[bit / 8] ^= (unsigned char)(1u << (bit % 8));
                CHECK(diff != 0);
                for (int o = 0; o < 64; o++)
                    flips[o] += (diff >> o) & 1;
                trials++;
            }
        }
        for (int o = 0; o < 64; o++) {
            _context("length %zu, output bit %d, %u of %u flips", len, o, flips[o], trials);
            CHECK(flips[o] > trials * 40 / 100 && flips[o] < trials * 60 / 100);
        }
    }
    _context("");

    /* Consecutive integers spread evenly over a power-of-two table. */
    enum { BUCKETS = 4096, PER_BUCKET = 16 };
    static unsigned counts[BUCKETS];
    memset(counts, 0, sizeof(counts));
    for (uint64_t i = 0; i < BUCKETS * PER_BUCKET; i++)
        counts[memoHashBytes(&i, sizeof(i)) & (BUCKETS - 1)]++;
    for (int b = 0; b < BUCKETS; b++)
        CHECK(counts[b] > 0 && counts[b] < 3 * PER_BUCKET);
    CHECK_EQ(memoHashBytes(NULL, 0), memoHashBytes(zeros, 0)); /* NULL is fine with 0 */
}

/* ----------------------------------------------------- threads, for TSan */

#define MT_THREADS 4
#define MT_OPS 40000
#define MT_MAXSIZE 64
#define MT_KEYS 256
#define MT_TOKENS (MT_THREADS * MT_OPS * 2)

typedef struct mtShared {
    memo *m;
    atomic_uint_fast64_t tokens;
    atomic_uint_fast64_t gets, countedHits, puts, stored, failures;
    _Atomic unsigned char keyReleased[MT_TOKENS];
    _Atomic unsigned char valReleased[MT_TOKENS];
} mtShared;

static mtShared *mt;

static void mtKeyRelease(void *k) {
    atomic_fetch_add(&mt->keyReleased[((tkey *)k)->token], 1);
}

static void mtValRelease(void *v) {
    atomic_fetch_add(&mt->valReleased[((tval *)v)->token], 1);
}

static void *mtWorker(void *arg) {
    uint64_t rng = 0x9e3779b97f4a7c15ULL * (uintptr_t)arg + 1;
    memo *m = mt->m;
    for (int i = 0; i < MT_OPS; i++) {
        uint64_t r = xorshift(&rng);
        int64_t id = (int64_t)((r >> 16) % MT_KEYS);
        unsigned op = (unsigned)(r % 1000);
        tkey k = {id, 0};
        tval v;
        if (op < 2) {
            memoClear(m);
        } else if (op < 10) {
            memoCountHit(m);
            atomic_fetch_add(&mt->countedHits, 1);
        } else {
            bool atomicStep = op < 300; /* get-or-put as one step */
            if (atomicStep)
                memoLock(m);
            bool hit = atomicStep ? do_memoGet(m, &k, &v) : memoGet(m, &k, &v);
            atomic_fetch_add(&mt->gets, 1);
            if (hit && (v.id != id || v.result != 2 * id))
                atomic_fetch_add(&mt->failures, 1);
            if (!hit) {
                tkey nk = {id, atomic_fetch_add(&mt->tokens, 1)};
                tval nv = {id, atomic_fetch_add(&mt->tokens, 1), 2 * id};
                atomic_fetch_add(&mt->puts, 1);
                bool stored = atomicStep ? do_memoPut(m, &nk, &nv) : memoPut(m, &nk, &nv);
                if (atomicStep && !stored) /* nobody could have put it meanwhile */
                    atomic_fetch_add(&mt->failures, 1);
                atomic_fetch_add(&mt->stored, stored);
            }
            if (atomicStep)
                memoUnlock(m);
        }
        if (i % 64 == 0 && memoGetInfo(m).currsize > MT_MAXSIZE)
            atomic_fetch_add(&mt->failures, 1);
    }
    return NULL;
}

static void caseThreads(void) {
    static const memoType type = {
        .key_size = sizeof(tkey),
        .val_size = sizeof(tval),
        .hash = tkeyHash,
        .equal = tkeyEqual,
        .key_release = mtKeyRelease,
        .val_release = mtValRelease,
    };
    memoStats g;
    memoStatsInit(&g);
    mt = calloc(1, sizeof(*mt));
    CHECK(mt != NULL);
    mt->m = memoCreate(&type, MT_MAXSIZE, &g);
    CHECK(mt->m != NULL);
    pthread_t th[MT_THREADS];
    for (uintptr_t t = 0; t < MT_THREADS; t++)
        CHECK(pthread_create(&th[t], NULL, mtWorker, (void *)t) == 0);
    for (int t = 0; t < MT_THREADS; t++)
        pthread_join(th[t], NULL);

    CHECK_EQ(mt->failures, 0);
    memoInfo info = memoGetInfo(mt->m);
    CHECK(info.currsize <= MT_MAXSIZE);
    CHECK_EQ(g.currsize, info.currsize);
    CHECK_EQ(g.hits + g.misses, mt->gets + mt->countedHits);
    CHECK(mt->stored > 0 && mt->stored <= mt->puts);
    memoDestroy(mt->m);
    CHECK_EQ(g.currsize, 0);
    /* releases == stores: every record handed over was released once. */
    uint64_t issued = mt->tokens;
    CHECK_EQ(issued, 2 * mt->puts);
    for (uint64_t t = 0; t < issued; t++) {
        _context("token %llu", (unsigned long long)t);
        CHECK_EQ(mt->keyReleased[t] + mt->valReleased[t], 1);
    }
    free(mt);
    mt = NULL;
}

/* ------------------------------------------------------------------- main */

static int passed, failed;

static void run(const char *name, void (*fn)(void)) {
    caseFailed = 0;
    caseContext[0] = '\0';
    printf("%s\n", name);
    fflush(stdout);
    fn();
    if (caseFailed) {
        printf("    FAILED\n");
        failed++;
    } else {
        passed++;
    }
}

static const lruSequence *currentSequence;

static void runCurrentSequence(void) {
    caseLruSequence(currentSequence);
}

int main(void) {
    for (size_t i = 0; i < ARRAY_LEN(lruSequences); i++) {
        char name[128];
        const lruSequence *s = &lruSequences[i];
        if (s->maxsize == MEMO_UNBOUNDED)
            snprintf(name, sizeof(name), "lru order matches functools.lru_cache: %s (maxsize None)",
                     s->name);
        else
            snprintf(name, sizeof(name), "lru order matches functools.lru_cache: %s (maxsize %zu)",
                     s->name, s->maxsize);
        currentSequence = s;
        run(name, runCurrentSequence);
    }
    run("get and put count hits, misses, currsize and evictions", caseInfoCounts);
    run("clear releases every entry and resets the cache's counts, not the group's", caseClear);
    run("an unbounded cache never evicts", caseUnbounded);
    run("maxsize 0 stores nothing and releases what it is given at once", caseDisabled);
    run("put of a present key keeps the stored entry and its recency, releases the given",
        casePutPresentKey);
    run("destroy releases every entry exactly once", caseDestroyReleases);
    run("a stats group sums over its caches, destroyed ones included", caseStatsGroup);
    run("keys larger than 8 bytes: a 24-byte struct", caseBigKeys);
    run("colliding hashes still find the right entry", caseCollidingHashes);
    run("memoCountHit counts a hit without a lookup", caseCountHit);
    run("do_ functions make several operations one step under memoLock", caseDoFunctions);
    run("memoCreate rejects an incomplete type", caseCreateRejects);
    run("a huge maxsize does not preallocate a huge table", caseHugeMaxsize);
    run("memoHashBytes is deterministic, length-sensitive and avalanches", caseHashBytes);
    run("4 threads hammering one bounded cache with get/put/clear keep the invariants",
        caseThreads);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
