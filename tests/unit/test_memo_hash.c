/* test_memo_hash.c -- the memo cache's hot path: its hash and the clock a
 * TTL hit reads (cache/memo_int.h), specified by example: white-box, it
 * includes the cache's internal header.
 *
 * A cache whose keys are 16 or 24 bytes with no hash or equal callback hashes
 * them with a SipHash-1-3 unrolled for 2 or 3 words, from a state worked out
 * once per cache. These cases pin that it is the same function as the generic
 * one (and so as CPython's and memoHashBytes), that a cache hashes with the
 * process's random key whichever path it takes, and that keys an attacker
 * makes collide under a known key do not collide on that path.
 */
#include "memo.h"
#include "memo_int.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ types */

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define RANDOM_CASES 2000
#define WORD 8

typedef struct key16 {
    int64_t a, b;
} key16;

typedef struct key24 {
    uint64_t instance;
    int64_t a, b;
} key24;

/* ---------------------------------------------------------------- private */

/* A fixed xorshift64 sequence: the same bytes in every run. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next64(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void fill(unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)next64();
}

static bool key24Equal(void *ctx, const void *x, const void *y) {
    (void)ctx;
    return memcmp(x, y, sizeof(key24)) == 0;
}

static uint64_t constantHash(void *ctx, const void *key) {
    (void)ctx, (void)key;
    return 42;
}

/* ------------------------------------------------------------------ cases */

/* The unrolled 2- and 3-word SipHash gives the generic one's value, for
 * random keys and data, at every alignment of the data. */
static void caseWordsMatchGeneric(void) {
    unsigned char key[16], buf[3 * WORD + WORD];
    for (int i = 0; i < RANDOM_CASES; i++) {
        fill(key, sizeof(key));
        fill(buf, sizeof(buf));
        uint64_t v[4];
        memo__sipInit(key, v);
        const unsigned char *p = buf + i % WORD;
        CHECK_UINT_EQ(memo__sip13Words(v, p, 2), memo__sip13From(v, p, 2 * WORD));
        CHECK_UINT_EQ(memo__sip13Words(v, p, 3), memo__sip13From(v, p, 3 * WORD));
        CHECK_UINT_EQ(memo__sip13Words(v, p, 2), memoHashBytesKeyed(key, p, 2 * WORD));
        CHECK_UINT_EQ(memo__sip13Words(v, p, 3), memoHashBytesKeyed(key, p, 3 * WORD));
    }
}

/* And CPython's value: hash(b"...") with PYTHONHASHSEED=0 (a key of 16 zero
 * bytes), printed by Python 3.11 and masked to 64 bits. */
static void caseWordsMatchCPython(void) {
    static const unsigned char zero[16] = {0};
    uint64_t v[4];
    memo__sipInit(zero, v);
    CHECK_UINT_EQ(memo__sip13Words(v, (const unsigned char *)"memoscope 16 key", 2),
                  195524652426329103ull);
    CHECK_UINT_EQ(memo__sip13Words(v, (const unsigned char *)"memoscope: a 24-byte key", 3),
                  5479758014597903284ull);
}

/* A cache hashes its keys with memoHashBytes' function (the process key):
 * on the word path (16 and 24 bytes, no callbacks), and on the generic one
 * (an equal callback, or another size); a hash callback is used as given. */
static void caseCacheHashesWithProcessKey(void) {
    const memoType t16 = {.key_size = sizeof(key16), .val_size = sizeof(int64_t)};
    const memoType t24 = {.key_size = sizeof(key24), .val_size = sizeof(int64_t)};
    const memoType t24eq = {
        .key_size = sizeof(key24), .val_size = sizeof(int64_t), .equal = key24Equal};
    const memoType t20 = {.key_size = 20, .val_size = sizeof(int64_t)};
    const memoType t16h = {
        .key_size = sizeof(key16), .val_size = sizeof(int64_t), .hash = constantHash};
    memo *m16 = memoCreate(&t16, 128, NULL), *m24 = memoCreate(&t24, 128, NULL);
    memo *m24eq = memoCreate(&t24eq, 128, NULL), *m20 = memoCreate(&t20, 128, NULL);
    memo *m16h = memoCreate(&t16h, 128, NULL);
    REQUIRE(m16 && m24 && m24eq && m20 && m16h);
    CHECK_UINT_EQ(m16->key_words, 2);
    CHECK_UINT_EQ(m24->key_words, 3);
    CHECK_UINT_EQ(m24eq->key_words, 0);
    CHECK_UINT_EQ(m20->key_words, 0);
    CHECK_UINT_EQ(m16h->key_words, 0);
    for (int i = 0; i < RANDOM_CASES; i++) {
        unsigned char k[sizeof(key24)];
        fill(k, sizeof(k));
        CHECK_UINT_EQ(memo__hash(m16, k), memoHashBytes(k, sizeof(key16)));
        CHECK_UINT_EQ(memo__hash(m24, k), memoHashBytes(k, sizeof(key24)));
        CHECK_UINT_EQ(memo__hash(m24eq, k), memoHashBytes(k, sizeof(key24)));
        CHECK_UINT_EQ(memo__hash(m20, k), memoHashBytes(k, 20));
        CHECK_UINT_EQ(memo__hash(m16h, k), 42);
    }
    memoDestroy(m16);
    memoDestroy(m24);
    memoDestroy(m24eq);
    memoDestroy(m20);
    memoDestroy(m16h);
}

/* 24-byte keys (instance, a, b) found to share a bucket under a known key,
 * as an attacker finds them, spread over the buckets under the cache's own
 * hash on the word path: 64 keys in one of 1024 buckets fall in at least 48
 * (fewer has a chance below 1e-12 for a random function), and every one of
 * them is stored and found. */
static void caseCollidingWordKeysSpread(void) {
    enum { BUCKETS = 1024, WANT = 64, TARGET = 5 };
    static const unsigned char known[16] = {1, 2, 3};
    uint64_t v[4];
    memo__sipInit(known, v);
    key24 keys[WANT];
    size_t found = 0;
    for (int64_t a = 0; found < WANT && a < 10000000; a++) {
        key24 k = {0x7f0000001000ull, a, 7};
        if ((memo__sip13Words(v, (const unsigned char *)&k, 3) & (BUCKETS - 1)) == TARGET)
            keys[found++] = k;
    }
    REQUIRE_UINT_EQ(found, WANT);
    const memoType t24 = {.key_size = sizeof(key24), .val_size = sizeof(int64_t)};
    memo *m = memoCreate(&t24, MEMO_UNBOUNDED, NULL);
    REQUIRE_NOT_NULL(m);
    REQUIRE_UINT_EQ(m->key_words, 3);
    static unsigned char used[BUCKETS];
    memset(used, 0, sizeof(used));
    size_t distinct = 0;
    for (size_t i = 0; i < WANT; i++) {
        uint64_t b = memo__hash(m, &keys[i]) & (BUCKETS - 1);
        distinct += !used[b];
        used[b] = 1;
    }
    CHECK_UINT_GE(distinct, 48);
    for (size_t i = 0; i < WANT; i++)
        CHECK(memoPut(m, &keys[i], &(int64_t){(int64_t)i}));
    for (size_t i = 0; i < WANT; i++) {
        int64_t got = -1;
        CHECK(memoGet(m, &keys[i], &got));
        CHECK_EQ(got, (int64_t)i);
    }
    memoDestroy(m);
}

static uint64_t monotonicNs(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Without an injected clock, a TTL of 100 coarse ticks or more reads
 * CLOCK_MONOTONIC_COARSE (between two readings of it); a shorter TTL, and a
 * cache without one, read CLOCK_MONOTONIC itself (between two readings of
 * it). The coarse clock is never ahead of CLOCK_MONOTONIC. */
static void caseDefaultClockForTtl(void) {
    struct timespec res;
    REQUIRE_EQ(clock_getres(CLOCK_MONOTONIC_COARSE, &res), 0);
    uint64_t tick = (uint64_t)res.tv_sec * 1000000000u + (uint64_t)res.tv_nsec;
    REQUIRE_UINT_GT(tick, 0);
    const memoType t = {.key_size = sizeof(key16), .val_size = sizeof(int64_t)};
    memoConfig longTtl = {.maxsize = 8, .maxbytes = MEMO_UNBOUNDED, .ttl_ns = 100 * tick};
    memoConfig shortTtl = {.maxsize = 8, .maxbytes = MEMO_UNBOUNDED, .ttl_ns = 100 * tick - 1};
    memoConfig noTtl = {.maxsize = 8, .maxbytes = MEMO_UNBOUNDED, .stamp = true};
    memo *coarse = memoCreateWith(&t, &longTtl), *fine = memoCreateWith(&t, &shortTtl);
    memo *stamps = memoCreateWith(&t, &noTtl);
    REQUIRE(coarse && fine && stamps);
    for (int i = 0; i < 100; i++) {
        uint64_t before = monotonicNs(CLOCK_MONOTONIC);
        uint64_t coarseBefore = monotonicNs(CLOCK_MONOTONIC_COARSE);
        uint64_t c = coarse->cfg.clock(NULL), f = fine->cfg.clock(NULL);
        uint64_t s = stamps->cfg.clock(NULL);
        uint64_t coarseAfter = monotonicNs(CLOCK_MONOTONIC_COARSE);
        uint64_t after = monotonicNs(CLOCK_MONOTONIC);
        CHECK_UINT_GE(c, coarseBefore);
        CHECK_UINT_LE(c, coarseAfter);
        CHECK_UINT_LE(c, after);
        CHECK_UINT_GE(f, before);
        CHECK_UINT_LE(f, after);
        CHECK_UINT_GE(s, before);
        CHECK_UINT_LE(s, after);
    }
    memoDestroy(coarse);
    memoDestroy(fine);
    memoDestroy(stamps);
}

/* ------------------------------------------------------------------- main */

int main(void) {
    static const checkTest tests[] = {
        TEST(caseWordsMatchGeneric),         /* unrolled 2/3 words = generic SipHash-1-3 */
        TEST(caseWordsMatchCPython),         /* = CPython's hash of 16 and 24 bytes */
        TEST(caseCacheHashesWithProcessKey), /* every path hashes with the process key */
        TEST(caseCollidingWordKeysSpread),   /* colliding under a known key: spread */
        TEST(caseDefaultClockForTtl),        /* a long TTL reads the coarse clock */
    };
    return checkMain(tests, ARRAY_LEN(tests));
}
