/* test_memo_bounds.c -- the memo cache's TTL, byte bound, owners and delete
 * (cache/memo.h), specified by example.
 *
 * Time is an injected clock (no sleeps). The TTL sequences replay memoised
 * calls whose outcome cachetools' TTLCache produced itself (Debian's
 * python3-cachetools, through gen_ttl_sequences.py): per call, hit or miss
 * and which results were released, in order. Every record handed to a cache
 * carries its key's id, and every release is logged, so each case also says
 * which entries left, and when.
 */
#include "memo.h"

#include "check.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ types */

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define NONE (-1)
#define HIT true
#define MISS false
#define MAX_LOG 4096

typedef struct ttlStep {
    int time, key;
    bool hit;
    const int *released; /* in order */
    size_t nreleased;
} ttlStep;

typedef struct ttlSequence {
    const char *name;
    size_t maxsize, maxbytes;
    int ttl;
    const ttlStep *steps;
    size_t nsteps;
    size_t currsize;    /* len() at the end (after expiry) */
    uint64_t evictions; /* popitem() calls */
} ttlSequence;

#include "ttl_sequences.inc"

/* A key names an owner (id % 4 of the case's owners, when the case has
 * owners) and a weight (id % 5 + 1, as the generator's getsizeof). */
typedef struct bkey {
    int64_t id;
} bkey;

static struct {
    uint64_t now;
    int log[MAX_LOG]; /* ids of released values, in order */
    size_t nlog;
    memoOwner owners[4];
    int ctx_seen; /* releases that got the ctx the case expects */
    void *want_ctx;
} T;

/* ---------------------------------------------------------------- private */

static uint64_t fakeClock(void *ctx) {
    return T.now;
}

static void valRelease(void *ctx, void *v) {
    if (T.nlog < MAX_LOG)
        T.log[T.nlog++] = (int)*(int64_t *)v;
    if (ctx == T.want_ctx)
        T.ctx_seen++;
}

static size_t keyWeight(void *ctx, const void *k, const void *v) {
    return (size_t)(((const bkey *)k)->id % 5 + 1);
}

static size_t idWeight(void *ctx, const void *k, const void *v) {
    return (size_t)((const bkey *)k)->id;
}

static memoOwner *keyOwner(void *ctx, const void *k) {
    return &T.owners[((const bkey *)k)->id % 4];
}

static const memoType plainType = {
    .key_size = sizeof(bkey), .val_size = sizeof(int64_t), .val_release = valRelease};
static const memoType weighedType = {.key_size = sizeof(bkey),
                                     .val_size = sizeof(int64_t),
                                     .val_release = valRelease,
                                     .weight = keyWeight};
static const memoType idWeighedType = {.key_size = sizeof(bkey),
                                       .val_size = sizeof(int64_t),
                                       .val_release = valRelease,
                                       .weight = idWeight};
static const memoType ownedType = {.key_size = sizeof(bkey),
                                   .val_size = sizeof(int64_t),
                                   .val_release = valRelease,
                                   .weight = keyWeight,
                                   .owner = keyOwner};

static void reset(void) {
    memset(&T, 0, sizeof(T));
    for (int i = 0; i < 4; i++)
        memoOwnerInit(&T.owners[i], 0);
}

static memo *make(const memoType *t, size_t maxsize, size_t maxbytes, uint64_t ttl) {
    memoConfig cfg = {.maxsize = maxsize, .maxbytes = maxbytes, .ttl_ns = ttl, .clock = fakeClock};
    memo *m = memoCreateWith(t, &cfg);
    REQUIRE_NOT_NULL(m);
    return m;
}

/* A memoised call: get, and on a miss store id as the value. */
static bool call(memo *m, int64_t id) {
    bkey k = {id};
    int64_t v = -1;
    if (memoGet(m, &k, &v)) {
        CHECK_EQ(v, id);
        return true;
    }
    v = id;
    memoPut(m, &k, &v);
    return false;
}

static bool put(memo *m, int64_t id) {
    bkey k = {id};
    return memoPut(m, &k, &id);
}

static void checkLog(const int *want, size_t n) {
    CHECK_UINT_EQ(T.nlog, n);
    for (size_t i = 0; i < n && i < T.nlog; i++)
        CHECK_EQ(T.log[i], want[i]);
    T.nlog = 0;
}

/* ------------------------------------------------------------------ cases */

/* Hit and miss and every release, call by call, as cachetools' TTLCache. */
static void caseTtlMatchesCachetools(void) {
    for (size_t s = 0; s < ARRAY_LEN(ttlSequences); s++) {
        const ttlSequence *q = &ttlSequences[s];
        reset();
        memo *m = make(q->maxbytes == MEMO_UNBOUNDED ? &plainType : &weighedType, q->maxsize,
                       q->maxbytes, (uint64_t)q->ttl);
        for (size_t i = 0; i < q->nsteps; i++) {
            const ttlStep *st = &q->steps[i];
            checkContext("%s: step %zu (t=%d, key %d)", q->name, i, st->time, st->key);
            T.now = (uint64_t)st->time;
            REQUIRE_EQ(call(m, st->key), st->hit);
            checkLog(st->released, st->nreleased);
        }
        checkContext("%s: the end", q->name);
        while (memoSweep(m, 16)) /* cachetools' len() expires first */
            ;
        memoInfo info = memoGetInfo(m);
        CHECK_UINT_EQ(info.currsize, q->currsize);
        CHECK_UINT_EQ(info.evictions, q->evictions);
        memoDestroy(m);
    }
}

/* An entry expires ttl after its store: a hit at ttl - 1, a miss at ttl,
 * counted in expirations and not evictions. */
static void caseTtlBoundary(void) {
    reset();
    memoStats g;
    memoStatsInit(&g);
    memoConfig cfg = {
        .maxsize = 8, .maxbytes = MEMO_UNBOUNDED, .ttl_ns = 10, .clock = fakeClock, .stats = &g};
    memo *m = memoCreateWith(&plainType, &cfg);
    REQUIRE_NOT_NULL(m);
    T.now = 100;
    CHECK(!call(m, 1));
    T.now = 109;
    CHECK(call(m, 1)); /* a hit does not refresh the TTL (cachetools neither) */
    T.now = 110;
    CHECK_UINT_EQ(T.nlog, 0);
    CHECK(!call(m, 1)); /* expired: a miss, released, stored again */
    checkLog((const int[]){1}, 1);
    memoInfo info = memoGetInfo(m);
    CHECK_UINT_EQ(info.expirations, 1);
    CHECK_UINT_EQ(info.evictions, 0);
    CHECK_UINT_EQ(info.hits, 1);
    CHECK_UINT_EQ(info.misses, 2);
    CHECK_UINT_EQ(info.currsize, 1);
    CHECK_UINT_EQ(atomic_load(&g.expirations), 1);
    CHECK_UINT_EQ(atomic_load(&g.evictions), 0);
    memoDestroy(m);
}

/* Expiry goes by store time, not recency; the sweep releases expired entries
 * with no traffic, at most budget per call, and says when it is done. */
static void caseTtlSweepInStoreOrder(void) {
    reset();
    memo *m = make(&plainType, 16, MEMO_UNBOUNDED, 10);
    for (int64_t id = 1; id <= 6; id++) {
        T.now = (uint64_t)id;
        CHECK(put(m, id));
    }
    CHECK(call(m, 1));         /* most recent now, still oldest by store */
    CHECK(!memoSweep(m, 100)); /* nothing expired yet: idle */
    T.now = 14;                /* ids 1..4 (stored at 1..4) have expired */
    CHECK(memoSweep(m, 3));    /* budget 3: work left */
    checkLog((const int[]){1, 2, 3}, 3);
    CHECK(!memoSweep(m, 3));
    checkLog((const int[]){4}, 1);
    memoInfo info = memoGetInfo(m);
    CHECK_UINT_EQ(info.currsize, 2);
    CHECK_UINT_EQ(info.expirations, 4);
    T.now = 1000;
    memoClear(m);
    checkLog((const int[]){5, 6}, 2); /* a clear releases; it does not expire */
    CHECK_UINT_EQ(memoGetInfo(m).expirations, 0);
    memoDestroy(m);
}

/* A full cache with an expired entry: the put expires it, evicts nothing. */
static void caseTtlPutExpiresBeforeEvicting(void) {
    reset();
    memo *m = make(&plainType, 2, MEMO_UNBOUNDED, 10);
    T.now = 0;
    put(m, 1);
    T.now = 5;
    put(m, 2);
    T.now = 10;
    CHECK(put(m, 3));
    checkLog((const int[]){1}, 1);
    memoInfo info = memoGetInfo(m);
    CHECK_UINT_EQ(info.expirations, 1);
    CHECK_UINT_EQ(info.evictions, 0);
    CHECK(put(m, 4)); /* full, nothing expired: the LRU entry goes */
    checkLog((const int[]){2}, 1);
    CHECK_UINT_EQ(memoGetInfo(m).evictions, 1);
    memoDestroy(m);
}

/* The byte bound evicts least recently used entries until the bytes fit; an
 * entry heavier than the bound alone is not stored and is released. */
static void caseMaxbytesEvictsUntilFit(void) {
    reset();
    memo *m = make(&idWeighedType, MEMO_UNBOUNDED, 10, 0);
    CHECK(put(m, 3));
    CHECK(put(m, 4));
    CHECK(call(m, 3)); /* 4 is the least recently used now */
    CHECK(put(m, 2));  /* 9 bytes: fits */
    CHECK_UINT_EQ(memoGetInfo(m).currbytes, 9);
    CHECK(put(m, 5)); /* 14: 4 goes, and 10 fit */
    checkLog((const int[]){4}, 1);
    memoInfo info = memoGetInfo(m);
    CHECK_UINT_EQ(info.currbytes, 10);
    CHECK_UINT_EQ(info.currsize, 3);
    CHECK_UINT_EQ(info.evictions, 1);
    CHECK_UINT_EQ(info.maxbytes, 10);
    CHECK(!put(m, 11)); /* too large: released at once, nothing evicted */
    checkLog((const int[]){11}, 1);
    CHECK_UINT_EQ(memoGetInfo(m).currsize, 3);
    CHECK(put(m, 10)); /* exactly the bound: everything else goes, LRU first */
    checkLog((const int[]){3, 2, 5}, 3);
    CHECK_UINT_EQ(memoGetInfo(m).currbytes, 10);
    memoDestroy(m);
    checkLog((const int[]){10}, 1);
}

/* With maxsize and maxbytes, whichever binds first evicts. */
static void caseMaxsizeAndMaxbytes(void) {
    reset();
    memo *m = make(&idWeighedType, 3, 100, 0);
    put(m, 1);
    put(m, 2);
    put(m, 3);
    put(m, 4); /* the count binds */
    checkLog((const int[]){1}, 1);
    put(m, 95); /* the count evicts 2, then the bytes (102) evict 3 */
    checkLog((const int[]){2, 3}, 2);
    CHECK_UINT_EQ(memoGetInfo(m).evictions, 3);
    CHECK_UINT_EQ(memoGetInfo(m).currbytes, 99);
    memoDestroy(m);
}

/* An owner's weight counts once while it has entries, however many. */
static void caseOwnerWeightCountsOnce(void) {
    reset();
    memoStats g;
    memoStatsInit(&g);
    for (int i = 0; i < 4; i++)
        memoOwnerInit(&T.owners[i], 100);
    memoConfig cfg = {.maxsize = MEMO_UNBOUNDED, .maxbytes = 250, .stats = &g};
    memo *m = memoCreateWith(&ownedType, &cfg);
    REQUIRE_NOT_NULL(m);
    /* ids 4, 8, 12: owner 0, weights 5, 4, 3; ids 1, 5: owner 1, 2 and 1 */
    put(m, 4);
    put(m, 8);
    put(m, 12);
    CHECK_UINT_EQ(memoGetInfo(m).currbytes, 112);
    put(m, 1);
    put(m, 5);
    CHECK_UINT_EQ(memoGetInfo(m).currbytes, 215);
    CHECK_UINT_EQ(atomic_load(&g.currbytes), 215);
    /* id 2 (owner 2, weight 3): 318; evicting 4 and 8 frees only their own
     * bytes (owner 0 is still named by 12), 12 frees owner 0's 100 too. */
    CHECK(put(m, 2));
    checkLog((const int[]){4, 8, 12}, 3);
    CHECK_UINT_EQ(memoGetInfo(m).currbytes, 318 - 5 - 4 - 3 - 100);
    memoEntryView v[4];
    memoLock(m);
    CHECK_UINT_EQ(do_memoOwnerEntries(m, &T.owners[0], v, 4), 0);
    CHECK_UINT_EQ(do_memoOwnerEntries(m, &T.owners[1], v, 4), 2);
    CHECK_EQ(((const bkey *)v[0].key)->id, 5); /* newest first */
    CHECK_EQ(((const bkey *)v[1].key)->id, 1);
    CHECK_EQ(*(const int64_t *)v[1].val, 1);
    memoUnlock(m);
    /* An entry that cannot fit with its owner is not stored. */
    T.owners[3].weight = 248;
    CHECK(!put(m, 3)); /* 248 + 4 > 250 */
    checkLog((const int[]){3}, 1);
    memoDestroy(m);
    CHECK_UINT_EQ(atomic_load(&g.currbytes), 0);
}

/* memoDropOwner releases that owner's entries only, oldest first, counted
 * in removals; a clear leaves every owner empty. */
static void caseDropOwner(void) {
    reset();
    memoStats g;
    memoStatsInit(&g);
    for (int i = 0; i < 4; i++)
        memoOwnerInit(&T.owners[i], 10);
    memoConfig cfg = {
        .maxsize = 64, .maxbytes = MEMO_UNBOUNDED, .stats = &g, .stamp = true, .clock = fakeClock};
    memo *m = memoCreateWith(&ownedType, &cfg);
    REQUIRE_NOT_NULL(m);
    for (int64_t id = 0; id < 20; id++) {
        T.now = (uint64_t)id * 7;
        put(m, id);
    }
    CHECK(call(m, 6)); /* recency does not change an owner's order */
    size_t bytes = memoGetInfo(m).currbytes;
    CHECK_UINT_EQ(memoDropOwner(m, &T.owners[2]), 5);
    checkLog((const int[]){2, 6, 10, 14, 18}, 5);
    CHECK_UINT_EQ(memoGetInfo(m).currbytes, bytes - (3 + 2 + 1 + 5 + 4) - 10);
    CHECK_UINT_EQ(memoDropOwner(m, &T.owners[2]), 0);
    memoInfo info = memoGetInfo(m);
    CHECK_UINT_EQ(info.removals, 5);
    CHECK_UINT_EQ(info.currsize, 15);
    CHECK_UINT_EQ(atomic_load(&g.removals), 5);
    for (int64_t id = 0; id < 20; id++)
        CHECK_EQ(call(m, id), id % 4 != 2);
    T.nlog = 0;
    memoEntryView v[2];
    memoLock(m);
    CHECK_UINT_EQ(do_memoOwnerEntries(m, &T.owners[1], v, 2), 5);
    CHECK_EQ(((const bkey *)v[0].key)->id, 17);
    CHECK_UINT_EQ(v[0].stored_ns, 17 * 7); /* stamped without a TTL */
    memoUnlock(m);
    CHECK_UINT_EQ(memoClear(m), 20);
    T.nlog = 0;
    memoLock(m);
    CHECK_UINT_EQ(do_memoOwnerEntries(m, &T.owners[1], v, 2), 0);
    memoUnlock(m);
    CHECK_UINT_EQ(memoDropOwner(m, &T.owners[1]), 0);
    CHECK_UINT_EQ(memoGetInfo(m).currbytes, 0);
    put(m, 1); /* an owner emptied by a clear takes entries again */
    CHECK_UINT_EQ(memoGetInfo(m).currbytes, 2 + 10);
    CHECK_UINT_EQ(memoDropOwner(m, &T.owners[1]), 1);
    CHECK_UINT_EQ(memoGetInfo(m).currbytes, 0);
    memoDestroy(m);
}

static void caseDelete(void) {
    reset();
    memo *m = make(&plainType, 4, MEMO_UNBOUNDED, 0);
    put(m, 1);
    put(m, 2);
    bkey k = {1};
    CHECK(memoDelete(m, &k));
    checkLog((const int[]){1}, 1);
    CHECK(!memoDelete(m, &k));
    CHECK(!call(m, 1));
    memoInfo info = memoGetInfo(m);
    CHECK_UINT_EQ(info.removals, 1);
    CHECK_UINT_EQ(info.currsize, 2);
    memoDestroy(m);
}

/* The release callbacks of a clear get the clear's ctx, the others the
 * cache's. */
static void caseClearWithCtx(void) {
    reset();
    int cache_ctx, clear_ctx;
    memoConfig cfg = {.maxsize = 2, .maxbytes = MEMO_UNBOUNDED, .ctx = &cache_ctx};
    memo *m = memoCreateWith(&plainType, &cfg);
    REQUIRE_NOT_NULL(m);
    T.want_ctx = &cache_ctx;
    put(m, 1);
    put(m, 2);
    put(m, 3); /* evicts 1 */
    CHECK_EQ(T.ctx_seen, 1);
    T.want_ctx = &clear_ctx;
    T.ctx_seen = 0;
    CHECK_UINT_EQ(memoClearWith(m, &clear_ctx), 2);
    CHECK_EQ(T.ctx_seen, 2);
    memoDestroy(m);
}

/* ------------------------------------------------------------------- main */

int main(void) {
    static const checkTest tests[] = {
        TEST(caseTtlMatchesCachetools),        /* call by call, as TTLCache */
        TEST(caseTtlBoundary),                 /* expires at ttl; expirations, not evictions */
        TEST(caseTtlSweepInStoreOrder),        /* store order; a budgeted sweep */
        TEST(caseTtlPutExpiresBeforeEvicting), /* a put expires first */
        TEST(caseMaxbytesEvictsUntilFit),      /* LRU until the bytes fit; too large */
        TEST(caseMaxsizeAndMaxbytes),          /* whichever binds first */
        TEST(caseOwnerWeightCountsOnce),       /* an owner's bytes once */
        TEST(caseDropOwner),                   /* an owner's entries only; clear empties */
        TEST(caseDelete),                      /* delete is a removal */
        TEST(caseClearWithCtx),                /* a clear's releases get its ctx */
    };
    return checkMain(tests, ARRAY_LEN(tests));
}
