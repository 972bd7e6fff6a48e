/* fuzz_memo.c -- libFuzzer target: the memo cache (cache/memo.h) against a
 * reference model (memo_model.c).
 *
 * The input is a program. Its first four bytes make two caches (slots, two
 * bytes each) that report into one memoStats group; every following byte is
 * one operation on one slot: get, put, clear, info, count-hit (get and put
 * also through their do_ form under memoLock), delete, drop-owner, sweep,
 * owner-entries, a clock tick, a key bank switch, a fill of 16 keys, or
 * destroy-and-recreate with a new kind. A kind is a maxsize (0, unbounded,
 * 1..8, 40 or 100), a hash (good, constant, two bits, high bits only:
 * collisions on purpose), a key record size (8 bytes, or 300 so that
 * releasing a record the cache did not store goes through the heap), and
 * optionally a TTL (on an injected clock), entry weights with a byte bound,
 * and owners (key k belongs to owner k % 4, whose weight counts once).
 *
 * Keys go up to 127, so that a cache grows past its first table and every
 * operation also runs while the table moves (FUZZ_MEMO_REPORT=1 prints how
 * many operations of each kind ran during a move). After every operation the
 * cache must agree with the model exactly: the value and hit/miss of each
 * get, what each put returns, which records were released and in which
 * order (every put has its own tag), what clear, delete, drop-owner and
 * owner-entries return, cache_info() with every counter, and the group's
 * sums. Any difference aborts with a message. The same file, linked with
 * replay.c instead of libFuzzer, replays the seed corpus under CTest.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memo.h"
#include "memo_model.h"

/* ------------------------------------------------------------------ types */

#define NSLOTS 2
#define MAX_OPS 4096
#define BIG_PAD 292      /* a big key record is 300 bytes */
#define MAX_RELEASES 512 /* records released by one operation at most */
#define TTL_TICKS 40
#define NHASHES 4
#define NOPS 16

#define FUZZ_REQUIRE(cond)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_memo: cache and model disagree at %s:%d: %s\n", __FILE__,        \
                    __LINE__, #cond);                                                              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct keyHead {
    uint32_t k;
    uint32_t tag; /* which put gave this record */
} keyHead;

typedef struct bigKey {
    keyHead head;
    unsigned char pad[BIG_PAD]; /* a pattern of k, checked on release */
} bigKey;

typedef struct value {
    uint64_t tag;
} value;

enum {
    OP_GET,
    OP_DO_GET,
    OP_PUT,
    OP_DO_PUT,
    OP_CLEAR,
    OP_INFO,
    OP_COUNT_HIT,
    OP_RECREATE,
    OP_DELETE,
    OP_DROP_OWNER,
    OP_SWEEP,
    OP_TICK,
    OP_BANK,
    OP_OWNER_ENTRIES,
    OP_FILL,
    OP_DO_DELETE
};

typedef struct slot {
    memo *m;
    model md;
    bool big;
    memoOwner owners[MODEL_OWNERS];
} slot;

static struct {
    memoStats stats;
    slot slots[NSLOTS];
    uint64_t hits, misses, evictions, expirations, removals; /* the group, per the model */
    uint32_t next_tag;
    uint64_t now;
    unsigned bank;
    unsigned long during_move[NOPS];
} F;

/* Releases seen (callbacks) and wanted (model) in one operation: tag * 2
 * for a key record, tag * 2 + 1 for a value. */
static struct {
    uint64_t seen[MAX_RELEASES], want[MAX_RELEASES];
    size_t nseen, nwant;
} R;

static memoType types[2][NHASHES][2][2]; /* big, hash, weights, owners */

/* --------------------------------------------------------- the callbacks */

static uint64_t fuzzHashGood(void *ctx, const void *key) {
    return memoHashBytes(&((const keyHead *)key)->k, sizeof(uint32_t));
}

static uint64_t fuzzHashConstant(void *ctx, const void *key) {
    return 0;
}

static uint64_t fuzzHashTwoBits(void *ctx, const void *key) {
    return ((const keyHead *)key)->k & 3u;
}

static uint64_t fuzzHashHighBits(void *ctx, const void *key) {
    return (uint64_t)((const keyHead *)key)->k << 57;
}

static bool fuzzEqual(void *ctx, const void *k1, const void *k2) {
    return ((const keyHead *)k1)->k == ((const keyHead *)k2)->k;
}

static void fuzzSeen(uint64_t event) {
    FUZZ_REQUIRE(R.nseen < MAX_RELEASES);
    R.seen[R.nseen++] = event;
}

static unsigned char fuzzPadByte(uint32_t k, size_t i) {
    return (unsigned char)(k * 7u + i);
}

static void fuzzKeyRelease(void *ctx, void *key) {
    fuzzSeen((uint64_t)((keyHead *)key)->tag * 2);
}

static void fuzzBigKeyRelease(void *ctx, void *key) {
    bigKey *bk = key;
    for (size_t i = 0; i < BIG_PAD; i++)
        FUZZ_REQUIRE(bk->pad[i] == fuzzPadByte(bk->head.k, i));
    fuzzKeyRelease(ctx, key);
}

static void fuzzValRelease(void *ctx, void *val) {
    fuzzSeen(((value *)val)->tag * 2 + 1);
}

static size_t fuzzWeight(void *ctx, const void *key, const void *val) {
    return modelWeightOf(((const keyHead *)key)->k);
}

/* ctx is the slot: its owners. */
static memoOwner *fuzzOwner(void *ctx, const void *key) {
    return &((slot *)ctx)->owners[((const keyHead *)key)->k % MODEL_OWNERS];
}

static uint64_t fuzzClock(void *ctx) {
    return F.now;
}

static void fuzzTypesInit(void) {
    uint64_t (*hashes[NHASHES])(void *, const void *) = {fuzzHashGood, fuzzHashConstant,
                                                         fuzzHashTwoBits, fuzzHashHighBits};
    for (int big = 0; big < 2; big++)
        for (int h = 0; h < NHASHES; h++)
            for (int w = 0; w < 2; w++)
                for (int o = 0; o < 2; o++)
                    types[big][h][w][o] = (memoType){
                        .key_size = big ? sizeof(bigKey) : sizeof(keyHead),
                        .val_size = sizeof(value),
                        .hash = hashes[h],
                        .equal = fuzzEqual,
                        .key_release = big ? fuzzBigKeyRelease : fuzzKeyRelease,
                        .val_release = fuzzValRelease,
                        .weight = w ? fuzzWeight : NULL,
                        .owner = o ? fuzzOwner : NULL,
                    };
}

/* ------------------------------------------------------------- the runner */

void modelWant(uint32_t tag) {
    FUZZ_REQUIRE(R.nwant + 2 <= MAX_RELEASES);
    R.want[R.nwant++] = (uint64_t)tag * 2;
    R.want[R.nwant++] = (uint64_t)tag * 2 + 1;
}

static void fuzzCreate(size_t i, uint8_t kind, uint8_t bounds) {
    static const size_t maxbytes[3] = {MEMO_UNBOUNDED, 12, 30};
    unsigned sel = kind % 12, hash = (kind / 12) % NHASHES, big = (kind / 48) % 2;
    size_t maxsize = sel == 0    ? 0
                     : sel == 1  ? MEMO_UNBOUNDED
                     : sel < 10  ? sel - 1u
                     : sel == 10 ? 40
                                 : 100;
    bool ttl = bounds & 1u, weights = bounds & 2u, owners = bounds & 4u;
    slot *s = &F.slots[i];
    s->big = big;
    for (unsigned o = 0; o < MODEL_OWNERS; o++)
        memoOwnerInit(&s->owners[o], modelOwnerWeight(o));
    memoConfig cfg = {
        .maxsize = maxsize,
        .maxbytes = maxbytes[(bounds >> 3) % 3],
        .ttl_ns = ttl ? TTL_TICKS : 0,
        .stats = &F.stats,
        .ctx = s,
        .clock = fuzzClock,
    };
    modelInit(&s->md, cfg.maxsize, cfg.maxbytes, cfg.ttl_ns, weights, owners);
    s->m = memoCreateWith(&types[big][hash][weights][owners], &cfg);
    FUZZ_REQUIRE(s->m != NULL);
}

static void fuzzDestroy(size_t i) {
    slot *s = &F.slots[i];
    modelClear(&s->md);
    memoDestroy(s->m);
    s->m = NULL;
}

static void fuzzKey(size_t i, uint32_t k, uint32_t tag, bigKey *out) {
    out->head.k = k;
    out->head.tag = tag;
    if (F.slots[i].big)
        for (size_t j = 0; j < BIG_PAD; j++)
            out->pad[j] = fuzzPadByte(k, j);
}

static void fuzzCheckReleases(void) {
    FUZZ_REQUIRE(R.nseen == R.nwant);
    for (size_t i = 0; i < R.nseen; i++)
        FUZZ_REQUIRE(R.seen[i] == R.want[i]);
    R.nseen = R.nwant = 0;
}

/* The group's sums move with the model's counters (never back): catch up. */
static void fuzzCheckGroup(const model *before, const model *after) {
#define FUZZ_GREW(f) (after->f >= before->f ? after->f - before->f : 0) /* a clear resets */
    F.hits += FUZZ_GREW(hits);
    F.misses += FUZZ_GREW(misses);
    F.evictions += FUZZ_GREW(evictions);
    F.expirations += FUZZ_GREW(expirations);
    F.removals += FUZZ_GREW(removals);
#undef FUZZ_GREW
    uint64_t currsize = 0, currbytes = 0;
    for (size_t i = 0; i < NSLOTS; i++) {
        currsize += F.slots[i].m ? F.slots[i].md.n : 0;
        currbytes += F.slots[i].m ? F.slots[i].md.bytes : 0;
    }
    FUZZ_REQUIRE(atomic_load(&F.stats.hits) == F.hits);
    FUZZ_REQUIRE(atomic_load(&F.stats.misses) == F.misses);
    FUZZ_REQUIRE(atomic_load(&F.stats.evictions) == F.evictions);
    FUZZ_REQUIRE(atomic_load(&F.stats.expirations) == F.expirations);
    FUZZ_REQUIRE(atomic_load(&F.stats.removals) == F.removals);
    FUZZ_REQUIRE(atomic_load(&F.stats.currsize) == currsize);
    FUZZ_REQUIRE(atomic_load(&F.stats.currbytes) == currbytes);
}

static void fuzzCheckInfo(const memoInfo *info, const model *md) {
    FUZZ_REQUIRE(info->hits == md->hits);
    FUZZ_REQUIRE(info->misses == md->misses);
    FUZZ_REQUIRE(info->maxsize == md->maxsize);
    FUZZ_REQUIRE(info->currsize == md->n);
    FUZZ_REQUIRE(info->evictions == md->evictions);
    FUZZ_REQUIRE(info->expirations == md->expirations);
    FUZZ_REQUIRE(info->removals == md->removals);
    FUZZ_REQUIRE(info->maxbytes == md->maxbytes);
    FUZZ_REQUIRE(info->currbytes == md->bytes);
}

static void fuzzPut(size_t i, uint32_t k, bool locked) {
    slot *s = &F.slots[i];
    uint32_t tag = ++F.next_tag;
    bigKey key;
    value val = {tag};
    fuzzKey(i, k, tag, &key);
    bool stored;
    if (locked) {
        memoLock(s->m);
        stored = do_memoPut(s->m, &key, &val);
        memoUnlock(s->m);
    } else {
        stored = memoPut(s->m, &key, &val);
    }
    FUZZ_REQUIRE(stored == modelPut(&s->md, k, tag, F.now));
}

static void fuzzOwnerEntries(slot *s, unsigned o) {
    memoEntryView views[8];
    uint32_t want[8];
    size_t max = o * 2 + 1; /* 1, 3, 5 or 7: fewer than held, sometimes */
    memoLock(s->m);
    size_t n = do_memoOwnerEntries(s->m, &s->owners[o], views, max);
    size_t wn = modelOwnerKeys(&s->md, o, want, max);
    FUZZ_REQUIRE(n == wn);
    for (size_t j = 0; j < n && j < max; j++) {
        FUZZ_REQUIRE(((const keyHead *)views[j].key)->k == want[j]);
        FUZZ_REQUIRE(views[j].stored_ns <= F.now);
    }
    memoUnlock(s->m);
}

static void fuzzStep(uint8_t b, const uint8_t **next, const uint8_t *end) {
    unsigned o = b & 15u, arg = b >> 5;
    size_t i = (b >> 4) & 1u;
    uint32_t k = F.bank * 8 + arg;
    slot *s = &F.slots[i];
    model before = s->md;
    bigKey key;
    value val;
    if (memoGetInfo(s->m).moving)
        F.during_move[o]++;

    switch (o) {
    case OP_GET:
    case OP_DO_GET: {
        fuzzKey(i, k, 0, &key);
        val.tag = UINT64_MAX;
        bool hit;
        if (o == OP_GET) {
            hit = memoGet(s->m, &key, &val);
        } else {
            memoLock(s->m);
            hit = do_memoGet(s->m, &key, &val);
            memoUnlock(s->m);
        }
        long want = modelGet(&s->md, k, F.now);
        FUZZ_REQUIRE(hit == (want >= 0));
        FUZZ_REQUIRE(hit ? val.tag == (uint64_t)want : val.tag == UINT64_MAX);
        break;
    }
    case OP_PUT:
    case OP_DO_PUT:
        fuzzPut(i, k, o == OP_DO_PUT);
        break;
    case OP_FILL:
        for (uint32_t j = 0; j < 16; j++)
            fuzzPut(i, (arg * 16 + j) % MODEL_KEYS, j & 1u);
        break;
    case OP_CLEAR: {
        static int release_ctx;
        size_t n = arg & 1u ? memoClearWith(s->m, &release_ctx) : memoClear(s->m);
        FUZZ_REQUIRE(n == modelClear(&s->md));
        break;
    }
    case OP_INFO:
        break; /* checked after every operation */
    case OP_COUNT_HIT:
        if (arg & 1u) {
            memoLock(s->m);
            do_memoCountHit(s->m);
            memoUnlock(s->m);
        } else {
            memoCountHit(s->m);
        }
        s->md.hits++;
        break;
    case OP_RECREATE: {
        fuzzDestroy(i);
        fuzzCheckReleases();
        fuzzCheckGroup(&before, &s->md);
        uint8_t kind = *next < end ? *(*next)++ : 0;
        fuzzCreate(i, kind, *next < end ? *(*next)++ : 0);
        before = s->md;
        break;
    }
    case OP_DELETE:
    case OP_DO_DELETE: {
        fuzzKey(i, k, 0, &key);
        bool found;
        if (o == OP_DELETE) {
            found = memoDelete(s->m, &key);
        } else {
            memoLock(s->m);
            found = do_memoDelete(s->m, &key);
            memoUnlock(s->m);
        }
        FUZZ_REQUIRE(found == modelDelete(&s->md, k));
        break;
    }
    case OP_DROP_OWNER: {
        unsigned ow = arg % MODEL_OWNERS;
        FUZZ_REQUIRE(memoDropOwner(s->m, &s->owners[ow]) == modelDropOwner(&s->md, ow));
        break;
    }
    case OP_SWEEP: {
        size_t budget = arg + 1u;
        bool more = memoSweep(s->m, budget);
        modelExpire(&s->md, F.now, budget);
        if (!more)
            FUZZ_REQUIRE(!memoGetInfo(s->m).moving);
        break;
    }
    case OP_TICK:
        F.now += (uint64_t)arg * arg;
        break;
    case OP_BANK:
        F.bank = arg | (unsigned)(i << 3);
        break;
    case OP_OWNER_ENTRIES:
        fuzzOwnerEntries(s, arg % MODEL_OWNERS);
        break;
    }
    fuzzCheckReleases();
    fuzzCheckGroup(&before, &s->md);
    memoInfo info;
    if (o == OP_INFO && (arg & 1u)) {
        memoLock(s->m);
        info = do_memoGetInfo(s->m);
        memoUnlock(s->m);
    } else {
        info = memoGetInfo(s->m);
    }
    fuzzCheckInfo(&info, &s->md);
}

static void fuzzReport(void) {
    static const char *names[NOPS] = {"get",    "do_get",        "put",       "do_put",
                                      "clear",  "info",          "count_hit", "recreate",
                                      "delete", "drop_owner",    "sweep",     "tick",
                                      "bank",   "owner_entries", "fill",      "do_delete"};
    fprintf(stderr, "fuzz_memo: operations run during a move:");
    for (int o = 0; o < NOPS; o++)
        fprintf(stderr, " %s=%lu", names[o], F.during_move[o]);
    fprintf(stderr, "\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool ready;
    if (!ready) {
        fuzzTypesInit();
        ready = true;
    }
    unsigned long during_move[NOPS];
    memcpy(during_move, F.during_move, sizeof(during_move));
    memset(&F, 0, sizeof(F));
    memcpy(F.during_move, during_move, sizeof(during_move));
    memset(&R, 0, sizeof(R));
    memoStatsInit(&F.stats);

    static const memoType no_size = {.key_size = 0, .val_size = sizeof(value)};
    memoConfig zero_bytes = {.maxsize = 1, .maxbytes = 0};
    FUZZ_REQUIRE(memoCreate(NULL, 1, NULL) == NULL);
    FUZZ_REQUIRE(memoCreate(&no_size, 1, NULL) == NULL);
    FUZZ_REQUIRE(memoCreateWith(&types[0][0][0][0], &zero_bytes) == NULL);

    const uint8_t *p = data, *end = data + size;
    for (size_t i = 0; i < NSLOTS; i++) {
        uint8_t kind = p < end ? *p++ : 0;
        fuzzCreate(i, kind, p < end ? *p++ : 0);
    }
    for (size_t n = 0; p < end && n < MAX_OPS; n++) {
        uint8_t b = *p++;
        fuzzStep(b, &p, end);
    }
    for (size_t i = 0; i < NSLOTS; i++) {
        model before = F.slots[i].md;
        fuzzDestroy(i);
        fuzzCheckReleases();
        fuzzCheckGroup(&before, &F.slots[i].md);
    }
    FUZZ_REQUIRE(atomic_load(&F.stats.currsize) == 0);
    FUZZ_REQUIRE(atomic_load(&F.stats.currbytes) == 0);
    if (getenv("FUZZ_MEMO_REPORT"))
        fuzzReport();
    return 0;
}
