/* test_memo_threads.c -- the memo cache (cache/memo.h) under threads, and
 * the properties of memoHashBytes, specified by example.
 *
 * Four threads hammer one bounded cache with get, put (also as one step
 * under memoLock), count-hit and clear, and every record handed over must be
 * released exactly once (the TSan build runs this too).
 */
#include "memo.h"

#include "check.h"
#include "memo_tracked.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Keys and values are memo_tracked.h's (as in test_memo.c); here their
 * releases are counted per token with atomics. */

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
        REQUIRE_EQ(memoHashBytes(buf + 1, len), memoHashBytes(copy, len));

    /* The length counts: 0 to 64 zero bytes give 65 different hashes. */
    unsigned char zeros[64] = {0};
    uint64_t seen[65];
    for (size_t len = 0; len <= 64; len++) {
        seen[len] = memoHashBytes(zeros, len);
        for (size_t j = 0; j < len; j++)
            REQUIRE(seen[j] != seen[len]);
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
                REQUIRE(diff != 0);
                for (int o = 0; o < 64; o++)
                    flips[o] += (diff >> o) & 1;
                trials++;
            }
        }
        for (int o = 0; o < 64; o++) {
            checkContext("length %zu, output bit %d, %u of %u flips", len, o, flips[o], trials);
            REQUIRE(flips[o] > trials * 40 / 100 && flips[o] < trials * 60 / 100);
        }
    }
    checkContext(NULL);

    /* Consecutive integers spread evenly over a power-of-two table. */
    enum { BUCKETS = 4096, PER_BUCKET = 16 };
    static unsigned counts[BUCKETS];
    memset(counts, 0, sizeof(counts));
    for (uint64_t i = 0; i < BUCKETS * PER_BUCKET; i++)
        counts[memoHashBytes(&i, sizeof(i)) & (BUCKETS - 1)]++;
    for (int b = 0; b < BUCKETS; b++)
        REQUIRE(counts[b] > 0 && counts[b] < 3 * PER_BUCKET);
    REQUIRE_EQ(memoHashBytes(NULL, 0), memoHashBytes(zeros, 0)); /* NULL is fine with 0 */
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

static void mtKeyRelease(void *ctx, void *k) {
    atomic_fetch_add(&mt->keyReleased[((tkey *)k)->token], 1);
}

static void mtValRelease(void *ctx, void *v) {
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
    static const memoType type = TRACKED_TYPE(mtKeyRelease, mtValRelease);
    memoStats g;
    memoStatsInit(&g);
    mt = calloc(1, sizeof(*mt));
    REQUIRE(mt != NULL);
    mt->m = memoCreate(&type, MT_MAXSIZE, &g);
    REQUIRE(mt->m != NULL);
    pthread_t th[MT_THREADS];
    for (uintptr_t t = 0; t < MT_THREADS; t++)
        REQUIRE(pthread_create(&th[t], NULL, mtWorker, (void *)t) == 0);
    for (int t = 0; t < MT_THREADS; t++)
        pthread_join(th[t], NULL);

    REQUIRE_EQ(mt->failures, 0);
    memoInfo info = memoGetInfo(mt->m);
    REQUIRE(info.currsize <= MT_MAXSIZE);
    REQUIRE_EQ(g.currsize, info.currsize);
    REQUIRE_EQ(g.hits + g.misses, mt->gets + mt->countedHits);
    REQUIRE(mt->stored > 0 && mt->stored <= mt->puts);
    memoDestroy(mt->m);
    REQUIRE_EQ(g.currsize, 0);
    /* releases == stores: every record handed over was released once. */
    uint64_t issued = mt->tokens;
    REQUIRE_EQ(issued, 2 * mt->puts);
    for (uint64_t t = 0; t < issued; t++) {
        checkContext("token %llu", (unsigned long long)t);
        REQUIRE_EQ(mt->keyReleased[t] + mt->valReleased[t], 1);
    }
    free(mt);
    mt = NULL;
}

int main(void) {
    static const checkTest tests[] = {
        TEST(caseHashBytes), /* memoHashBytes: deterministic, length-sensitive, avalanche */
        TEST(caseThreads),   /* 4 threads get/put/clear one bounded cache */
    };
    return checkMain(tests, ARRAY_LEN(tests));
}
