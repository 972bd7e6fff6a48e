/* test_memo_grow.c -- the memo cache's incremental growth, lazy clear and
 * keyed hash (cache/memo.h), specified by example.
 *
 * A move in progress is reached by filling a cache until memoGetInfo says
 * moving, and every case then checks that the operation under test is
 * correct mid-move: every key still found, every record released exactly
 * once. The clear cases check that the release runs after the lock (a
 * release callback of a clear can call into the cache) and, with threads,
 * that gets racing a clear stay correct (the TSan build runs this too).
 * The hash cases pin SipHash-1-3 against CPython and show that keys chosen
 * to collide under one key do not collide under the process's own.
 */
#include "memo.h"

#include "check.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ types */

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_IDS 200000

typedef struct gkey {
    int64_t id;
} gkey;

static struct {
    _Atomic unsigned char released[MAX_IDS]; /* per id: value releases */
    memo *reenter;                           /* a clear's callback calls into it */
    atomic_uint reentered;
    memoOwner owners[2];
} G;

/* ---------------------------------------------------------------- private */

static void valRelease(void *ctx, void *v) {
    int64_t id = *(int64_t *)v;
    if (id >= 0 && id < MAX_IDS)
        atomic_fetch_add(&G.released[id], 1);
    if (G.reenter) { /* would deadlock if a clear released under its lock */
        memoGetInfo(G.reenter);
        atomic_fetch_add(&G.reentered, 1);
    }
}

static memoOwner *oddEvenOwner(void *ctx, const void *k) {
    return &G.owners[((const gkey *)k)->id & 1];
}

static const memoType growType = {
    .key_size = sizeof(gkey), .val_size = sizeof(int64_t), .val_release = valRelease};
static const memoType ownedGrowType = {.key_size = sizeof(gkey),
                                       .val_size = sizeof(int64_t),
                                       .val_release = valRelease,
                                       .owner = oddEvenOwner};

static void reset(void) {
    memset(G.released, 0, sizeof(G.released));
    G.reenter = NULL;
    G.reentered = 0;
    memoOwnerInit(&G.owners[0], 0);
    memoOwnerInit(&G.owners[1], 0);
}

static bool put(memo *m, int64_t id) {
    gkey k = {id};
    return memoPut(m, &k, &id);
}

static bool has(memo *m, int64_t id) {
    gkey k = {id};
    int64_t v = -1;
    bool hit = memoGet(m, &k, &v);
    if (hit)
        CHECK_EQ(v, id);
    return hit;
}

/* Puts ids from *next on until a move is in progress (at least min ids). */
static void fillUntilMoving(memo *m, int64_t *next, int64_t min) {
    while (*next < min || !memoGetInfo(m).moving) {
        REQUIRE_LT(*next, MAX_IDS);
        REQUIRE(put(m, (*next)++));
    }
}

static void checkReleasedOnce(int64_t from, int64_t to) {
    for (int64_t id = from; id < to; id++) {
        checkContext("id %lld", (long long)id);
        CHECK_EQ(G.released[id], 1);
    }
    checkContext(NULL);
}

/* A fresh unbounded cache of growType, filled with ids from 0 until at least
 * min entries and a move in progress; *next is the next id. */
static memo *movingCache(int64_t *next, int64_t min) {
    reset();
    memo *m = memoCreate(&growType, MEMO_UNBOUNDED, NULL);
    REQUIRE_NOT_NULL(m);
    fillUntilMoving(m, next, min);
    return m;
}

/* Every key below n is found; then the cache is destroyed, and each value
 * was released once. */
static void checkAllFoundThenDestroy(memo *m, int64_t n) {
    for (int64_t id = 0; id < n; id++)
        CHECK(has(m, id));
    memoDestroy(m);
    checkReleasedOnce(0, n);
}

/* ------------------------------------------------------------------ cases */

/* Mid-move, gets find every key, puts add, deletes remove, and the sweep
 * finishes the move with a bounded budget per call. */
static void caseMoveGetPutDeleteSweep(void) {
    int64_t n = 0;
    memo *m = movingCache(&n, 1000);
    for (int64_t id = 0; id < n; id += 7)
        CHECK(has(m, id));
    REQUIRE(memoGetInfo(m).moving);
    gkey k = {3};
    CHECK(memoDelete(m, &k));
    CHECK(!has(m, 3));
    int calls = 0;
    while (memoSweep(m, 8))
        calls++;
    CHECK(!memoGetInfo(m).moving);
    CHECK_LE(calls, 2048 / 8); /* the move is of at most 2048 buckets here */
    for (int64_t id = 0; id < n; id++)
        CHECK_EQ(has(m, id), id != 3);
    memoDestroy(m);
    checkReleasedOnce(0, n);
}

/* A bounded cache evicts in LRU order while its table moves. */
static void caseMoveAcrossEviction(void) {
    reset();
    memo *m = memoCreate(&growType, 70, NULL); /* 65 entries start a move to 128 */
    REQUIRE_NOT_NULL(m);
    int64_t n = 0;
    fillUntilMoving(m, &n, 65);
    CHECK(has(m, 0)); /* 0 becomes the most recent: 1.. go first */
    while (n < 80) {
        put(m, n++);
        CHECK(memoGetInfo(m).moving || n > 80); /* still moving: 2 buckets a put */
    }
    memoInfo info = memoGetInfo(m);
    CHECK_UINT_EQ(info.currsize, 70);
    CHECK_UINT_EQ(info.evictions, 10);
    CHECK(has(m, 0));
    for (int64_t id = 1; id <= 10; id++) {
        CHECK(!has(m, id)); /* each miss leaves the cache as it was */
        CHECK_EQ(G.released[id], 1);
    }
    for (int64_t id = 11; id < 80; id++)
        CHECK(has(m, id));
    memoDestroy(m);
    checkReleasedOnce(0, 80);
}

/* A clear mid-move detaches both tables; the cache grows again after. */
static void caseMoveAcrossClear(void) {
    int64_t n = 0;
    memo *m = movingCache(&n, 5000);
    CHECK_UINT_EQ(memoClear(m), (size_t)n);
    memoInfo info = memoGetInfo(m);
    CHECK(!info.moving);
    CHECK_UINT_EQ(info.currsize, 0);
    checkReleasedOnce(0, n);
    int64_t again = n;
    fillUntilMoving(m, &again, n + 100);
    CHECK(has(m, n));
    CHECK(!has(m, 0));
    memoDestroy(m);
    checkReleasedOnce(n, again);
}

/* Dropping an owner mid-move removes its entries from whichever table. */
static void caseMoveAcrossOwnerDrop(void) {
    reset();
    memoConfig cfg = {.maxsize = MEMO_UNBOUNDED, .maxbytes = MEMO_UNBOUNDED};
    memo *m = memoCreateWith(&ownedGrowType, &cfg);
    REQUIRE_NOT_NULL(m);
    int64_t n = 0;
    fillUntilMoving(m, &n, 2000);
    size_t odd = (size_t)(n / 2);
    CHECK_UINT_EQ(memoDropOwner(m, &G.owners[1]), odd);
    CHECK(memoGetInfo(m).moving || n < 0);
    for (int64_t id = 0; id < n; id++)
        CHECK_EQ(has(m, id), id % 2 == 0);
    for (int64_t id = 1; id < n; id += 2)
        CHECK_EQ(G.released[id], 1);
    memoDestroy(m);
    checkReleasedOnce(0, n);
}

/* Holds a cache's lock until told to let go (the busy cache of
 * caseTrySweepLeavesBusyCache). */
typedef struct holder {
    memo *m;
    atomic_bool holding, release;
} holder;

static void *holdLock(void *arg) {
    holder *h = arg;
    memoLock(h->m);
    atomic_store(&h->holding, true);
    while (!atomic_load(&h->release))
        ;
    memoUnlock(h->m);
    return NULL;
}

/* memoTrySweep leaves a cache whose lock another thread holds as it is (and
 * says no work is left, so that a timer stops until its next tick); with
 * the lock free it finishes a move as memoSweep does. */
static void caseTrySweepLeavesBusyCache(void) {
    int64_t n = 0;
    memo *m = movingCache(&n, 1000);
    memoInfo before = memoGetInfo(m);
    holder h = {.m = m};
    pthread_t th;
    REQUIRE_EQ(pthread_create(&th, NULL, holdLock, &h), 0);
    while (!atomic_load(&h.holding))
        ;
    CHECK(!memoTrySweep(m, SIZE_MAX)); /* would finish the move if it ran */
    atomic_store(&h.release, true);
    REQUIRE_EQ(pthread_join(th, NULL), 0);
    memoInfo busy = memoGetInfo(m);
    CHECK(busy.moving);
    CHECK_UINT_EQ(busy.table_bytes, before.table_bytes);
    int calls = 0;
    while (memoTrySweep(m, 8))
        calls++;
    CHECK(!memoGetInfo(m).moving);
    CHECK_LE(calls, 2048 / 8);
    checkAllFoundThenDestroy(m, n);
}

/* A big old table (1 MiB of buckets and more) is given back as the move
 * leaves it behind: the bytes of the two tables fall 64 KiB at a time from
 * old + new to new, never rise, and every key is found before and after the
 * move ends. */
static void caseBigMoveShrinksOldTable(void) {
    int64_t n = 0;
    memo *m = movingCache(&n, 131073); /* the move from 2^17 buckets (1 MiB) to 2^18 */
    const size_t old = (size_t)1 << 20, new = (size_t)2 << 20, span = 64 * 1024;
    size_t bytes = memoGetInfo(m).table_bytes, shrinks = 0;
    CHECK_UINT_EQ(bytes, old + new);
    while (memoGetInfo(m).moving && n < 190000) {
        REQUIRE(put(m, n++));
        size_t now = memoGetInfo(m).table_bytes;
        CHECK_UINT_LE(now, bytes);
        if (now < bytes) {
            CHECK_UINT_GE(bytes - now, span); /* a span at a time, not a page */
            shrinks++;
        }
        if (n % 4096 == 0) {
            for (int64_t id = 0; id < n; id += 97)
                CHECK(has(m, id));
        }
        bytes = now;
    }
    CHECK_UINT_GE(shrinks, old / span - 1); /* the last span is freed with the block */
    REQUIRE(!memoGetInfo(m).moving);
    CHECK_UINT_EQ(memoGetInfo(m).table_bytes, new);
    checkAllFoundThenDestroy(m, n);
}

/* Destroy mid-move releases everything once (ASan and valgrind: no leak). */
static void caseMoveAcrossDestroy(void) {
    int64_t n = 0;
    memo *m = movingCache(&n, 300);
    memoDestroy(m);
    checkReleasedOnce(0, n);
}

/* A clear releases after its lock: a callback of the clear may call into
 * the same cache (under the lock it would deadlock), and the group's
 * currsize has already dropped when the first release runs. */
static void caseClearReleasesOutsideLock(void) {
    reset();
    memoStats g;
    memoStatsInit(&g);
    memo *m = memoCreate(&growType, MEMO_UNBOUNDED, &g);
    REQUIRE_NOT_NULL(m);
    for (int64_t id = 0; id < 1000; id++)
        put(m, id);
    G.reenter = m;
    CHECK_UINT_EQ(memoClear(m), 1000);
    CHECK_UINT_EQ(G.reentered, 1000);
    CHECK_UINT_EQ(atomic_load(&g.currsize), 0);
    G.reenter = NULL;
    memoDestroy(m);
    checkReleasedOnce(0, 1000);
}

/* Threads get and put while another clears a big cache again and again. */
#define RACE_THREADS 3
#define RACE_OPS 30000
#define RACE_BIG 20000

typedef struct race {
    memo *m;
    atomic_uint_fast64_t puts, stored, wrong;
} race;

static void raceRelease(void *ctx, void *v) {
    atomic_fetch_add((atomic_uint_fast64_t *)ctx, 1);
}

static void *raceWorker(void *arg) {
    race *r = arg;
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
    for (int i = 0; i < RACE_OPS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        gkey k = {(int64_t)(x % (RACE_BIG * 2))};
        int64_t v;
        if (memoGet(r->m, &k, &v)) {
            if (v != k.id)
                atomic_fetch_add(&r->wrong, 1);
        } else {
            atomic_fetch_add(&r->puts, 1);
            atomic_fetch_add(&r->stored, memoPut(r->m, &k, &k.id));
        }
    }
    return NULL;
}

static void caseClearRacesGets(void) {
    static const memoType type = {
        .key_size = sizeof(gkey), .val_size = sizeof(int64_t), .val_release = raceRelease};
    atomic_uint_fast64_t released = 0;
    race r = {0};
    memoConfig cfg = {.maxsize = MEMO_UNBOUNDED, .maxbytes = MEMO_UNBOUNDED, .ctx = &released};
    r.m = memoCreateWith(&type, &cfg);
    REQUIRE_NOT_NULL(r.m);
    for (int64_t id = 0; id < RACE_BIG; id++)
        memoPut(r.m, &(gkey){id}, &id);
    pthread_t th[RACE_THREADS];
    for (int t = 0; t < RACE_THREADS; t++)
        REQUIRE_EQ(pthread_create(&th[t], NULL, raceWorker, &r), 0);
    uint64_t cleared = 0;
    for (int c = 0; c < 20; c++)
        cleared += memoClear(r.m);
    for (int t = 0; t < RACE_THREADS; t++)
        pthread_join(th[t], NULL);
    CHECK_UINT_EQ(r.wrong, 0);
    size_t left = memoGetInfo(r.m).currsize;
    CHECK_UINT_EQ(cleared + left, RACE_BIG + r.stored);
    /* Released: what the clears detached, and each put that did not store
     * (another thread stored the key between its get and put). */
    CHECK_UINT_EQ(released, cleared + (r.puts - r.stored));
    memoDestroy(r.m);
    CHECK_UINT_EQ(released, RACE_BIG + r.puts); /* every record once */
}

/* SipHash-1-3 as CPython's: hash(b"...") with PYTHONHASHSEED=0, whose key is
 * 16 zero bytes (Python 3.11.7 printed these, masked to 64 bits). */
static void caseSipHashMatchesCPython(void) {
    static const unsigned char zero[16] = {0};
    CHECK_UINT_EQ(memoHashBytesKeyed(zero, "hello", 5), 16350172494705860510ull);
    CHECK_UINT_EQ(memoHashBytesKeyed(zero, "memoscope: a 24-byte key", 24), 5479758014597903284ull);
    unsigned char key[16];
    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)i;
    CHECK_UINT_NE(memoHashBytesKeyed(key, "hello", 5), memoHashBytesKeyed(zero, "hello", 5));
}

/* Keys found to share a bucket under a known key (what an attacker does
 * against an unkeyed hash) spread over the buckets under the process's
 * random key: 64 keys in one of 1024 buckets fall in at least 48 (the
 * chance of fewer is below 1e-12 for a random function). */
static void caseCollidingKeysSpread(void) {
    enum { BUCKETS = 1024, WANT = 64 };
    static const unsigned char known[16] = {1, 2, 3};
    int64_t keys[WANT];
    size_t found = 0;
    for (int64_t k = 0; found < WANT && k < 10000000; k++)
        if ((memoHashBytesKeyed(known, &k, sizeof(k)) & (BUCKETS - 1)) == 5)
            keys[found++] = k;
    REQUIRE_UINT_EQ(found, WANT);
    static unsigned char used[BUCKETS];
    memset(used, 0, sizeof(used));
    size_t distinct = 0;
    for (size_t i = 0; i < WANT; i++) {
        uint64_t b = memoHashBytes(&keys[i], sizeof(keys[i])) & (BUCKETS - 1);
        distinct += !used[b];
        used[b] = 1;
    }
    CHECK_UINT_GE(distinct, 48);
    /* And the cache itself hashes with the process key by default: these
     * keys all hit, with short chains (no timing here: correctness only). */
    memo *m = memoCreate(&growType, MEMO_UNBOUNDED, NULL);
    REQUIRE_NOT_NULL(m);
    reset();
    for (size_t i = 0; i < WANT; i++)
        CHECK(memoPut(m, &(gkey){keys[i]}, &(int64_t){-1}));
    CHECK_UINT_EQ(memoGetInfo(m).currsize, WANT);
    memoDestroy(m);
}

/* The key is drawn per process: another run of this program hashes the
 * same bytes differently. */
static void caseKeyDiffersPerProcess(void) {
    char self[4096], cmd[4200];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    REQUIRE_GT(n, 0);
    self[n] = '\0';
    snprintf(cmd, sizeof(cmd), "'%s' --print-hash", self);
    FILE *p = popen(cmd, "r");
    REQUIRE_NOT_NULL(p);
    unsigned long long theirs = 0;
    int got = fscanf(p, "%llu", &theirs);
    pclose(p);
    REQUIRE_EQ(got, 1);
    CHECK_UINT_NE(theirs, memoHashBytes("memoscope", 9));
}

/* ------------------------------------------------------------------- main */

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--print-hash") == 0) {
        printf("%llu\n", (unsigned long long)memoHashBytes("memoscope", 9));
        return 0;
    }
    static const checkTest tests[] = {
        TEST(caseMoveGetPutDeleteSweep),    /* mid-move: get, put, delete; sweep finishes */
        TEST(caseTrySweepLeavesBusyCache),  /* the timer's sweep never waits for the lock */
        TEST(caseMoveAcrossEviction),       /* mid-move: LRU eviction */
        TEST(caseMoveAcrossClear),          /* mid-move: clear, then grow again */
        TEST(caseMoveAcrossOwnerDrop),      /* mid-move: drop an owner */
        TEST(caseMoveAcrossDestroy),        /* mid-move: destroy */
        TEST(caseBigMoveShrinksOldTable),   /* a big move gives the old table back */
        TEST(caseClearReleasesOutsideLock), /* a clear's releases run after its lock */
        TEST(caseClearRacesGets),           /* threads get/put while clears run */
        TEST(caseSipHashMatchesCPython),    /* SipHash-1-3 = CPython's bytes hash */
        TEST(caseCollidingKeysSpread),      /* colliding under a known key: spread */
        TEST(caseKeyDiffersPerProcess),     /* a random key per process */
    };
    return checkMain(tests, ARRAY_LEN(tests));
}
