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

#include "check.h"
#include "memo_tracked.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------- tracked keys and values */

/* Keys and values are memo_tracked.h's: each copy has a token of its own,
 * and the release callbacks here count releases per token. */

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

static void tkeyRelease(void *ctx, void *k) {
    keyReleases[((tkey *)k)->token]++;
}

static void tvalRelease(void *ctx, void *v) {
    tval *tv = v;
    valReleases[tv->token]++;
    if (releaseLogLen < MAX_LOG)
        releaseLog[releaseLogLen++] = (int)tv->id;
}

static const memoType trackedType = TRACKED_TYPE(tkeyRelease, tvalRelease);

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

/* Generated: python3 tests/unit/gen_lru_sequences.py > tests/unit/lru_sequences.inc */
#include "lru_sequences.inc"

/* ------------------------------------------------------------------ cases */

/* Replays a sequence of calls and checks, call by call, that the cache hits
 * and evicts exactly as functools.lru_cache did, then that clear releases
 * the rest in lru_cache's order (oldest first; insertion order when
 * unbounded). */
static void caseLruSequence(const lruSequence *s) {
    trackerReset();
    memo *m = memoCreate(&trackedType, s->maxsize, NULL);
    REQUIRE(m != NULL);
    uint64_t evicted = 0;
    for (size_t i = 0; i < s->nsteps; i++) {
        const lruStep *st = &s->steps[i];
        checkContext("%s: step %zu (key %d)", s->name, i, st->key);
        releaseLogLen = 0;
        callResult r = call(m, st->key);
        REQUIRE(r != CALL_WRONG_VALUE);
        REQUIRE_EQ(r == CALL_HIT, st->hit);
        REQUIRE(releaseLogLen <= 1);
        REQUIRE_EQ(releaseLogLen ? releaseLog[0] : NONE, st->released);
        if (st->released != NONE && s->maxsize != 0)
            evicted++;
    }
    checkContext("%s: the end", s->name);
    memoInfo info = memoGetInfo(m);
    REQUIRE_EQ(info.hits, s->hits);
    REQUIRE_EQ(info.misses, s->misses);
    REQUIRE_EQ(info.currsize, s->currsize);
    REQUIRE_EQ(info.maxsize, s->maxsize);
    REQUIRE_EQ(info.evictions, evicted);
    releaseLogLen = 0;
    REQUIRE_EQ(memoClear(m), s->currsize);
    REQUIRE_EQ(releaseLogLen, s->nclear);
    for (size_t i = 0; i < s->nclear; i++)
        REQUIRE_EQ(releaseLog[i], s->clear[i]);
    memoDestroy(m);
    REQUIRE(allReleasedOnce());
}

static void caseInfoCounts(void) {
    trackerReset();
    memo *m = memoCreate(&trackedType, 2, NULL);
    REQUIRE(m != NULL);
    memoInfo info = memoGetInfo(m);
    REQUIRE(info.hits == 0 && info.misses == 0 && info.currsize == 0 && info.evictions == 0);
    REQUIRE_EQ(info.maxsize, 2);

    REQUIRE_EQ(call(m, 1), CALL_MISS);
    REQUIRE_EQ(call(m, 1), CALL_HIT);
    REQUIRE_EQ(call(m, 2), CALL_MISS);
    REQUIRE_EQ(call(m, 2), CALL_HIT);
    REQUIRE_EQ(call(m, 1), CALL_HIT);
    info = memoGetInfo(m);
    REQUIRE(info.hits == 3 && info.misses == 2 && info.currsize == 2 && info.evictions == 0);

    REQUIRE_EQ(call(m, 3), CALL_MISS); /* evicts 2, the least recently used */
    REQUIRE_EQ(call(m, 4), CALL_MISS); /* evicts 1 */
    info = memoGetInfo(m);
    REQUIRE(info.hits == 3 && info.misses == 4 && info.currsize == 2 && info.evictions == 2);

    /* A put alone counts neither a hit nor a miss: memoGet does. */
    tkey k = newKey(5);
    tval v = newVal(5);
    REQUIRE(memoPut(m, &k, &v));
    info = memoGetInfo(m);
    REQUIRE(info.hits == 3 && info.misses == 4 && info.evictions == 3);
    memoDestroy(m);
    REQUIRE(allReleasedOnce());
}

static void caseClear(void) {
    trackerReset();
    memoStats g;
    memoStatsInit(&g);
    memo *m = memoCreate(&trackedType, 3, &g);
    REQUIRE(m != NULL);
    for (int64_t id = 0; id < 5; id++)
        call(m, id);
    call(m, 4);
    memoInfo info = memoGetInfo(m);
    REQUIRE(info.hits == 1 && info.misses == 5 && info.currsize == 3 && info.evictions == 2);

    releaseLogLen = 0;
    REQUIRE_EQ(memoClear(m), 3);
    REQUIRE_EQ(releaseLogLen, 3);
    REQUIRE(allReleasedOnce());
    info = memoGetInfo(m);
    REQUIRE(info.hits == 0 && info.misses == 0 && info.currsize == 0 && info.evictions == 0);
    /* The group keeps its history; only what is held goes. */
    REQUIRE(g.hits == 1 && g.misses == 5 && g.evictions == 2 && g.currsize == 0);

    REQUIRE_EQ(memoClear(m), 0); /* clearing an empty cache is harmless */
    REQUIRE_EQ(call(m, 7), CALL_MISS);
    REQUIRE_EQ(call(m, 7), CALL_HIT); /* and the cache works on after it */
    memoDestroy(m);
    REQUIRE(allReleasedOnce());
    REQUIRE_EQ(g.currsize, 0);
}

static void caseUnbounded(void) {
    enum { N = 100000 };
    trackerReset();
    memo *m = memoCreate(&trackedType, MEMO_UNBOUNDED, NULL);
    REQUIRE(m != NULL);
    for (int64_t id = 0; id < N; id++)
        REQUIRE_EQ(call(m, id), CALL_MISS);
    for (int64_t id = 0; id < N; id++)
        REQUIRE_EQ(call(m, id), CALL_HIT);
    memoInfo info = memoGetInfo(m);
    REQUIRE_EQ(info.maxsize, MEMO_UNBOUNDED);
    REQUIRE_EQ(info.currsize, N);
    REQUIRE_EQ(info.evictions, 0);
    REQUIRE_EQ(info.hits, N);
    REQUIRE_EQ(info.misses, N);
    REQUIRE_EQ(memoClear(m), N);
    REQUIRE(allReleasedOnce());
    REQUIRE_EQ(call(m, 1), CALL_MISS); /* usable after clear shrank it */
    REQUIRE_EQ(call(m, 1), CALL_HIT);
    memoDestroy(m);
    REQUIRE(allReleasedOnce());
}

static void caseDisabled(void) {
    trackerReset();
    memoStats g;
    memoStatsInit(&g);
    memo *m = memoCreate(&trackedType, 0, &g);
    REQUIRE(m != NULL);
    for (int i = 0; i < 3; i++) {
        tkey k = newKey(1);
        tval v = newVal(1);
        tval out = {0};
        REQUIRE(!memoGet(m, &k, &out));
        REQUIRE_EQ(out.id, 0); /* val_out untouched on a miss */
        releaseLogLen = 0;
        REQUIRE(!memoPut(m, &k, &v));
        REQUIRE_EQ(releaseLogLen, 1); /* released before memoPut returned */
        REQUIRE(allReleasedOnce());
    }
    memoInfo info = memoGetInfo(m);
    REQUIRE(info.hits == 0 && info.misses == 3 && info.currsize == 0 && info.maxsize == 0);
    REQUIRE(g.misses == 3 && g.currsize == 0);
    REQUIRE_EQ(memoClear(m), 0);
    memoDestroy(m);
    REQUIRE(allReleasedOnce());
}

/* functools.lru_cache, when the key was stored while the function ran,
 * keeps the stored entry where it is in the LRU order and drops the new
 * result. memoPut does the same, releasing what it was given. */
static void casePutPresentKey(void) {
    trackerReset();
    memo *m = memoCreate(&trackedType, 2, NULL);
    REQUIRE(m != NULL);
    tkey k1 = newKey(1), k2 = newKey(2), k3 = newKey(3);
    tval v1 = newVal(1), v2 = newVal(2), v3 = newVal(3);
    REQUIRE(memoPut(m, &k1, &v1));
    REQUIRE(memoPut(m, &k2, &v2));

    tkey again = newKey(1);
    tval other = newVal(1);
    other.result = 999;
    releaseLogLen = 0;
    REQUIRE(!memoPut(m, &again, &other));
    REQUIRE_EQ(keyReleases[again.token], 1);
    REQUIRE_EQ(valReleases[other.token], 1);
    REQUIRE_EQ(keyReleases[k1.token] + valReleases[v1.token], 0);
    REQUIRE_EQ(memoGetInfo(m).currsize, 2);

    /* 1 is still the least recently used: the put did not refresh it. */
    releaseLogLen = 0;
    REQUIRE(memoPut(m, &k3, &v3));
    REQUIRE_EQ(releaseLogLen, 1);
    REQUIRE_EQ(releaseLog[0], 1);

    /* The stored value is the first one, never replaced. */
    memoClear(m);
    tkey first = newKey(5), second = newKey(5);
    tval firstVal = newVal(5), secondVal = newVal(5);
    secondVal.result = 999;
    REQUIRE(memoPut(m, &first, &firstVal));
    REQUIRE(!memoPut(m, &second, &secondVal));
    tval out;
    REQUIRE(memoGet(m, &first, &out));
    REQUIRE_EQ(out.token, firstVal.token);
    REQUIRE_EQ(out.result, 10);
    memoDestroy(m);
    REQUIRE(allReleasedOnce());
}

static void caseDestroyReleases(void) {
    trackerReset();
    memo *bounded = memoCreate(&trackedType, 8, NULL);
    memo *unbounded = memoCreate(&trackedType, MEMO_UNBOUNDED, NULL);
    REQUIRE(bounded != NULL && unbounded != NULL);
    for (int64_t id = 0; id < 20; id++) {
        call(bounded, id % 11);
        call(unbounded, id % 13);
    }
    REQUIRE(!allReleasedOnce()); /* the stored ones are still held */
    memoDestroy(bounded);
    memoDestroy(unbounded);
    REQUIRE(allReleasedOnce());
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
    REQUIRE(a && b && c && alone);
    int64_t seq[] = {1, 2, 1, 3, 4, 1};
    for (size_t i = 0; i < ARRAY_LEN(seq); i++) {
        call(a, seq[i]);
        call(b, seq[i]);
        call(c, seq[i]);
        call(alone, seq[i]);
    }
    memoInfo ia = memoGetInfo(a), ib = memoGetInfo(b), ic = memoGetInfo(c);
    REQUIRE_EQ(g.hits, ia.hits + ib.hits + ic.hits);
    REQUIRE_EQ(g.misses, ia.misses + ib.misses + ic.misses);
    REQUIRE_EQ(g.evictions, ia.evictions + ib.evictions + ic.evictions);
    REQUIRE_EQ(g.currsize, ia.currsize + ib.currsize + ic.currsize);
    REQUIRE(g.hits == 3 && g.misses == 15 && g.evictions == 3 && g.currsize == 6);

    memoDestroy(a); /* a's counts stay in the group; its entries leave */
    REQUIRE(g.hits == 3 && g.misses == 15 && g.evictions == 3 && g.currsize == 4);
    memoClear(b); /* clear resets b's own counts, not the group's */
    REQUIRE(g.hits == 3 && g.misses == 15 && g.evictions == 3 && g.currsize == 0);
    memoCountHit(b);
    REQUIRE_EQ(g.hits, 4);
    memoDestroy(b);
    memoDestroy(c);
    memoDestroy(alone);
    REQUIRE(g.hits == 4 && g.misses == 15 && g.evictions == 3 && g.currsize == 0);
    REQUIRE(allReleasedOnce());
}

/* The key of the global scope: (instance, a, b). */
typedef struct bigKey {
    uint64_t instance;
    int64_t a;
    int64_t b;
} bigKey;

static unsigned bigKeyReleases, misalignedRecords;

static uint64_t bigKeyHash(void *ctx, const void *k) {
    return memoHashBytes(k, sizeof(bigKey));
}

static bool bigKeyEqual(void *ctx, const void *x, const void *y) {
    return memcmp(x, y, sizeof(bigKey)) == 0;
}

static void bigKeyRelease(void *ctx, void *k) {
    if ((uintptr_t)k % 8 != 0)
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
    REQUIRE(m != NULL);
    /* Keys that differ only in their last 8 bytes, or only in the first. */
    for (int64_t i = 0; i < 16; i++) {
        bigKey k1 = {7, 100, i}, k2 = {(uint64_t)i, 100, 0};
        int64_t v1 = 1000 + i, v2 = 2000 + i;
        REQUIRE(memoPut(m, &k1, &v1));
        if (i != 7)
            REQUIRE(memoPut(m, &k2, &v2));
    }
    REQUIRE_EQ(memoGetInfo(m).currsize, 31);
    for (int64_t i = 0; i < 16; i++) {
        bigKey k1 = {7, 100, i}, k2 = {(uint64_t)i, 100, 0};
        int64_t v;
        REQUIRE(memoGet(m, &k1, &v));
        REQUIRE_EQ(v, 1000 + i);
        REQUIRE(memoGet(m, &k2, &v));
        REQUIRE_EQ(v, i == 7 ? 1000 : 2000 + i);
    }
    bigKey absent = {7, 101, 0};
    int64_t v;
    REQUIRE(!memoGet(m, &absent, &v));
    memoDestroy(m);
    REQUIRE_EQ(bigKeyReleases, 31);
    REQUIRE_EQ(misalignedRecords, 0);
}

static uint64_t badHash(void *ctx, const void *k) {
    return (uint64_t)((const tkey *)k)->id % 3; /* many keys, three hashes */
}

static void caseCollidingHashes(void) {
    trackerReset();
    memoType type = trackedType;
    type.hash = badHash;
    memo *m = memoCreate(&type, 50, NULL);
    REQUIRE(m != NULL);
    for (int64_t id = 0; id < 100; id++)
        REQUIRE_EQ(call(m, id), CALL_MISS);
    for (int64_t id = 50; id < 100; id++)
        REQUIRE_EQ(call(m, id), CALL_HIT);
    for (int64_t id = 0; id < 50; id++)
        REQUIRE_EQ(call(m, id), CALL_MISS); /* each evicts one of 50..99 */
    REQUIRE_EQ(memoGetInfo(m).evictions, 100);
    memoDestroy(m);
    REQUIRE(allReleasedOnce());
}

static void caseCountHit(void) {
    memoStats g;
    memoStatsInit(&g);
    memo *m = memoCreate(&trackedType, 4, &g);
    REQUIRE(m != NULL);
    memoCountHit(m);
    memoCountHit(m);
    memoInfo info = memoGetInfo(m);
    REQUIRE(info.hits == 2 && info.misses == 0 && info.currsize == 0);
    REQUIRE_EQ(g.hits, 2);
    memoDestroy(m);
}

/* Under memoLock a caller may look up and fill in one step: no other thread
 * can put the same key in between. */
static void caseDoFunctions(void) {
    trackerReset();
    memo *m = memoCreate(&trackedType, 4, NULL);
    REQUIRE(m != NULL);
    memoLock(m);
    tkey k = newKey(9);
    tval v = newVal(9), out;
    REQUIRE(!do_memoGet(m, &k, &out));
    REQUIRE(do_memoPut(m, &k, &v));
    REQUIRE(do_memoGet(m, &k, &out));
    REQUIRE_EQ(out.result, 18);
    do_memoCountHit(m);
    memoInfo info = do_memoGetInfo(m);
    REQUIRE(info.hits == 2 && info.misses == 1 && info.currsize == 1);
    memoUnlock(m);
    REQUIRE_EQ(memoClear(m), 1);
    memoDestroy(m);
    REQUIRE(allReleasedOnce());
}

static void caseCreateRejects(void) {
    memoType t = trackedType;
    t.key_size = 0;
    REQUIRE(memoCreate(&t, 4, NULL) == NULL);
    t = trackedType;
    t.val_size = 0;
    REQUIRE(memoCreate(&t, 4, NULL) == NULL);
    REQUIRE(memoCreate(NULL, 4, NULL) == NULL);
    memoConfig cfg = {.maxsize = 4, .maxbytes = 0};
    REQUIRE(memoCreateWith(&trackedType, &cfg) == NULL); /* a byte bound of 0 */
    REQUIRE(memoCreateWith(&trackedType, NULL) == NULL);
    t = trackedType;
    t.key_release = t.val_release = NULL; /* releases are optional */
    memo *m = memoCreate(&t, 4, NULL);
    REQUIRE(m != NULL);
    memoDestroy(m);
}

/* Without hash and equal, keys are their bytes: hashed with memoHashBytes,
 * compared with memcmp. */
static void caseDefaultHashEqual(void) {
    static const memoType plain = {.key_size = sizeof(int64_t), .val_size = sizeof(int64_t)};
    memo *m = memoCreate(&plain, 64, NULL);
    REQUIRE(m != NULL);
    for (int64_t k = 0; k < 40; k++) {
        int64_t v = k * 3;
        REQUIRE(memoPut(m, &k, &v));
        REQUIRE(!memoPut(m, &k, &v)); /* present */
    }
    for (int64_t k = 0; k < 40; k++) {
        int64_t v = -1;
        REQUIRE(memoGet(m, &k, &v));
        REQUIRE_EQ(v, k * 3);
    }
    int64_t absent = 40, v;
    REQUIRE(!memoGet(m, &absent, &v));
    memoDestroy(m);
}

/* A bound far larger than memory must not be allocated up front. */
static void caseHugeMaxsize(void) {
    trackerReset();
    memo *m = memoCreate(&trackedType, MEMO_UNBOUNDED - 1, NULL);
    REQUIRE(m != NULL);
    for (int64_t id = 0; id < 1000; id++)
        call(m, id);
    REQUIRE_EQ(call(m, 0), CALL_HIT);
    memoInfo info = memoGetInfo(m);
    REQUIRE(info.currsize == 1000 && info.evictions == 0 && info.maxsize == MEMO_UNBOUNDED - 1);
    memoDestroy(m);
    REQUIRE(allReleasedOnce());
}

/* A record larger than any stack copy (v1 copied those to the heap, and on a
 * failed malloc released the caller's own bytes): a release callback that
 * scribbles over what it is given never reaches the caller's record. */
typedef struct hugeKey {
    unsigned char bytes[1000];
} hugeKey;
static int hugeReleases;
static void hugeKeyRelease(void *ctx, void *k) {
    memset(k, 0xAA, sizeof(hugeKey));
    hugeReleases++;
}
static void caseGivenRecordsNeverWritten(void) {
    static const memoType type = {
        .key_size = sizeof(hugeKey), .val_size = sizeof(uint64_t), .key_release = hugeKeyRelease};
    hugeKey k, before;
    memset(&k, 0x11, sizeof(k));
    before = k;
    uint64_t v = 7;
    hugeReleases = 0;
    memo *off = memoCreate(&type, 0, NULL); /* stores nothing: releases the given */
    REQUIRE_NOT_NULL(off);
    CHECK(!memoPut(off, &k, &v));
    CHECK_EQ(hugeReleases, 1);
    CHECK_MEM_EQ(&k, &before, sizeof(k));
    memoDestroy(off);

    memo *m = memoCreate(&type, 4, NULL); /* a present key: the given is released */
    REQUIRE_NOT_NULL(m);
    CHECK(memoPut(m, &k, &v));
    CHECK(!memoPut(m, &k, &v));
    CHECK_EQ(hugeReleases, 2);
    CHECK_MEM_EQ(&k, &before, sizeof(k));
    memoDestroy(m); /* releases the stored copy */
    CHECK_EQ(hugeReleases, 3);
    CHECK_MEM_EQ(&k, &before, sizeof(k));
}

/* ------------------------------------------------------------------- main */

static void caseLruSequences(void) {
    for (size_t i = 0; i < ARRAY_LEN(lruSequences); i++) {
        const lruSequence *s = &lruSequences[i];
        caseLruSequence(s);
    }
}

int main(void) {
    static const checkTest tests[] = {
        TEST(caseLruSequences),    /* lru order matches functools.lru_cache, sequence by sequence */
        TEST(caseInfoCounts),      /* get and put count hits, misses, currsize and evictions */
        TEST(caseClear),           /* clear releases every entry, resets the cache's counts */
        TEST(caseUnbounded),       /* an unbounded cache never evicts */
        TEST(caseDisabled),        /* maxsize 0 stores nothing, releases what it is given */
        TEST(casePutPresentKey),   /* put of a present key keeps the stored entry and recency */
        TEST(caseDestroyReleases), /* destroy releases every entry exactly once */
        TEST(caseStatsGroup),      /* a stats group sums over its caches, destroyed ones too */
        TEST(caseBigKeys),         /* keys larger than 8 bytes: a 24-byte struct */
        TEST(caseCollidingHashes), /* colliding hashes still find the right entry */
        TEST(caseCountHit),        /* memoCountHit counts a hit without a lookup */
        TEST(caseDoFunctions),     /* do_ functions make several operations one step */
        TEST(caseCreateRejects),   /* memoCreate rejects an incomplete type */
        TEST(caseDefaultHashEqual),         /* no hash/equal: keys are their bytes */
        TEST(caseHugeMaxsize),              /* a huge maxsize does not preallocate a huge table */
        TEST(caseGivenRecordsNeverWritten), /* releasing what was not stored copies it first */
    };
    return checkMain(tests, ARRAY_LEN(tests));
}
