/* fuzz_memo.c -- libFuzzer target: the memo cache (cache/memo.h) against a
 * reference model.
 *
 * The input is a program. Its first two bytes make two caches (slots) that
 * report into one memoStats group; every following byte is one operation on
 * one slot: get, put, clear, info, count-hit (each also through its do_
 * form under memoLock), or destroy-and-recreate with a new kind. A kind is a
 * maxsize (0, unbounded, or 1..8), a hash (good, constant, two bits, high
 * bits only: collisions on purpose) and a key record size (8 bytes, or 300
 * so that releasing a record the cache did not store goes through the heap).
 *
 * The model is an array per slot in LRU order (least recent first), the
 * plainest LRU there is. After every operation the cache must agree with it
 * exactly: the value and hit/miss of each get, what each put returns, which
 * records were released and in which order (every put has its own tag, so a
 * release names the put it came from), what clear returns, cache_info() with
 * evictions, and the group's sums. Any difference aborts with a message.
 * The same file, linked with replay.c instead of libFuzzer, replays the seed
 * corpus under CTest in every build.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memo.h"

/* ------------------------------------------------------------------ types */

#define NKEYS 16        /* keys are 0..15: small, so that they collide */
#define NSLOTS 2        /* caches alive at once, in one statistics group */
#define MAX_BOUNDED 8   /* bounded caches hold 1..MAX_BOUNDED entries */
#define MAX_OPS 4096    /* operations per input at most */
#define BIG_PAD 292     /* a big key record is 300 bytes */
#define MAX_RELEASES 64 /* records released by one operation at most */

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_memo: cache and model disagree at %s:%d: %s\n", __FILE__,        \
                    __LINE__, #cond);                                                              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Both key records start with the same head; equal and hash read only k. */
typedef struct keyHead {
    uint32_t k;
    uint32_t tag; /* which put gave this record */
} keyHead;

typedef struct bigKey {
    keyHead head;
    unsigned char pad[BIG_PAD]; /* a pattern of k, checked on release */
} bigKey;

typedef struct value {
    uint64_t tag; /* the same put's tag */
} value;

typedef enum op {
    OP_GET,
    OP_DO_GET,
    OP_PUT,
    OP_DO_PUT,
    OP_CLEAR,
    OP_INFO,
    OP_COUNT_HIT,
    OP_RECREATE
} op;

typedef struct model {
    size_t maxsize;
    size_t n;
    uint32_t keys[NKEYS]; /* LRU order: [0] is the least recently used */
    uint32_t tags[NKEYS];
    uint64_t hits, misses, evictions;
} model;

typedef struct slot {
    memo *m;
    model md;
} slot;

/* Releases seen (from the callbacks) and expected (from the model) during
 * one operation: tag * 2 for a key record, tag * 2 + 1 for a value. */
static struct {
    uint64_t seen[MAX_RELEASES], want[MAX_RELEASES];
    size_t nseen, nwant;
} R;

/* --------------------------------------------------------- the callbacks */

static uint64_t _hashGood(const void *key) {
    return memoHashBytes(&((const keyHead *)key)->k, sizeof(uint32_t));
}

static uint64_t _hashConstant(const void *key) {
    (void)key;
    return 0;
}

static uint64_t _hashTwoBits(const void *key) {
    return ((const keyHead *)key)->k & 3u;
}

static uint64_t _hashHighBits(const void *key) {
    return (uint64_t)((const keyHead *)key)->k << 60;
}

static bool _equal(const void *k1, const void *k2) {
    return ((const keyHead *)k1)->k == ((const keyHead *)k2)->k;
}

static void _seen(uint64_t event) {
    REQUIRE(R.nseen < MAX_RELEASES);
    R.seen[R.nseen++] = event;
}

static unsigned char _padByte(uint32_t k, size_t i) {
    return (unsigned char)(k * 7u + i);
}

static void _keyRelease(void *key) {
    _seen((uint64_t)((keyHead *)key)->tag * 2);
}

static void _bigKeyRelease(void *key) {
    bigKey *bk = key;
    for (size_t i = 0; i < BIG_PAD; i++)
        REQUIRE(bk->pad[i] == _padByte(bk->head.k, i));
    _keyRelease(key);
}

static void _valRelease(void *val) {
    _seen(((value *)val)->tag * 2 + 1);
}

#define NHASHES 4

/* Every kind of record and hash: memoType must outlive its caches. */
static const memoType types[2][NHASHES] = {
    {
        {sizeof(keyHead), sizeof(value), _hashGood, _equal, _keyRelease, _valRelease},
        {sizeof(keyHead), sizeof(value), _hashConstant, _equal, _keyRelease, _valRelease},
        {sizeof(keyHead), sizeof(value), _hashTwoBits, _equal, _keyRelease, _valRelease},
        {sizeof(keyHead), sizeof(value), _hashHighBits, _equal, _keyRelease, _valRelease},
    },
    {
        {sizeof(bigKey), sizeof(value), _hashGood, _equal, _bigKeyRelease, _valRelease},
        {sizeof(bigKey), sizeof(value), _hashConstant, _equal, _bigKeyRelease, _valRelease},
        {sizeof(bigKey), sizeof(value), _hashTwoBits, _equal, _bigKeyRelease, _valRelease},
        {sizeof(bigKey), sizeof(value), _hashHighBits, _equal, _bigKeyRelease, _valRelease},
    },
};

/* ------------------------------------------------------------- the model */

static void _want(uint32_t tag) {
    REQUIRE(R.nwant + 2 <= MAX_RELEASES);
    R.want[R.nwant++] = (uint64_t)tag * 2;
    R.want[R.nwant++] = (uint64_t)tag * 2 + 1;
}

/* Index of k in the model, or -1. */
static int _modelFind(const model *md, uint32_t k) {
    for (size_t i = 0; i < md->n; i++)
        if (md->keys[i] == k)
            return (int)i;
    return -1;
}

static void _modelRemoveAt(model *md, size_t i) {
    memmove(&md->keys[i], &md->keys[i + 1], (md->n - i - 1) * sizeof(md->keys[0]));
    memmove(&md->tags[i], &md->tags[i + 1], (md->n - i - 1) * sizeof(md->tags[0]));
    md->n--;
}

static void _modelAppend(model *md, uint32_t k, uint32_t tag) {
    REQUIRE(md->n < NKEYS);
    md->keys[md->n] = k;
    md->tags[md->n] = tag;
    md->n++;
}

/* get: returns the tag stored for k, or -1 on a miss. */
static long _modelGet(model *md, uint32_t k, uint64_t *group_hits, uint64_t *group_misses) {
    int i = md->maxsize == 0 ? -1 : _modelFind(md, k);
    if (i < 0) {
        md->misses++;
        (*group_misses)++;
        return -1;
    }
    uint32_t tag = md->tags[i];
    if (md->maxsize != MEMO_UNBOUNDED) { /* unbounded keeps insertion order */
        _modelRemoveAt(md, (size_t)i);
        _modelAppend(md, k, tag);
    }
    md->hits++;
    (*group_hits)++;
    return tag;
}

/* put: returns whether the entry is stored; expects the releases. */
static bool _modelPut(model *md, uint32_t k, uint32_t tag, uint64_t *group_evictions) {
    if (md->maxsize == 0 || _modelFind(md, k) >= 0) {
        _want(tag); /* not stored: the given records go back at once */
        return false;
    }
    if (md->maxsize != MEMO_UNBOUNDED && md->n >= md->maxsize) {
        _want(md->tags[0]);
        _modelRemoveAt(md, 0);
        md->evictions++;
        (*group_evictions)++;
    }
    _modelAppend(md, k, tag);
    return true;
}

/* clear: releases least recently used first and resets the counts. */
static size_t _modelClear(model *md) {
    size_t n = md->n;
    for (size_t i = 0; i < n; i++)
        _want(md->tags[i]);
    md->n = 0;
    md->hits = md->misses = md->evictions = 0;
    return n;
}

/* ------------------------------------------------------------- the runner */

static struct {
    memoStats stats;
    slot slots[NSLOTS];
    uint64_t hits, misses, evictions; /* the group, as the model counts it */
    uint32_t next_tag;
    bool big[NSLOTS];
} F;

static size_t _maxsizeOf(unsigned sel) {
    return sel == 0 ? 0 : sel == 1 ? MEMO_UNBOUNDED : (size_t)(sel - 2) % MAX_BOUNDED + 1;
}

static void _create(size_t i, uint8_t kind) {
    unsigned sel = kind % 10, hash = (kind / 10) % NHASHES, big = (kind / 40) % 2;
    slot *s = &F.slots[i];
    memset(&s->md, 0, sizeof(s->md));
    s->md.maxsize = _maxsizeOf(sel);
    F.big[i] = big;
    s->m = memoCreate(&types[big][hash], s->md.maxsize, &F.stats);
    REQUIRE(s->m != NULL);
}

static void _destroy(size_t i) {
    slot *s = &F.slots[i];
    _modelClear(&s->md);
    memoDestroy(s->m);
    s->m = NULL;
}

/* Builds the key record a put or get hands the cache. */
static void _key(size_t i, uint32_t k, uint32_t tag, bigKey *out) {
    out->head.k = k;
    out->head.tag = tag;
    if (F.big[i])
        for (size_t j = 0; j < BIG_PAD; j++)
            out->pad[j] = _padByte(k, j);
}

static void _checkReleases(void) {
    REQUIRE(R.nseen == R.nwant);
    for (size_t i = 0; i < R.nseen; i++)
        REQUIRE(R.seen[i] == R.want[i]);
    R.nseen = R.nwant = 0;
}

static void _checkGroup(void) {
    uint64_t currsize = 0;
    for (size_t i = 0; i < NSLOTS; i++)
        currsize += F.slots[i].m ? F.slots[i].md.n : 0;
    REQUIRE(atomic_load(&F.stats.hits) == F.hits);
    REQUIRE(atomic_load(&F.stats.misses) == F.misses);
    REQUIRE(atomic_load(&F.stats.evictions) == F.evictions);
    REQUIRE(atomic_load(&F.stats.currsize) == currsize);
}

static void _checkInfo(const memoInfo *info, const model *md) {
    REQUIRE(info->hits == md->hits);
    REQUIRE(info->misses == md->misses);
    REQUIRE(info->maxsize == md->maxsize);
    REQUIRE(info->currsize == md->n);
    REQUIRE(info->evictions == md->evictions);
}

static void _step(uint8_t b, const uint8_t **next, const uint8_t *end) {
    op o = (op)(b & 7u);
    size_t i = (b >> 3) & 1u;
    uint32_t k = b >> 4;
    slot *s = &F.slots[i];
    bigKey key;
    value val;

    switch (o) {
    case OP_GET:
    case OP_DO_GET: {
        _key(i, k, 0, &key);
        val.tag = UINT64_MAX;
        bool hit;
        if (o == OP_GET) {
            hit = memoGet(s->m, &key, &val);
        } else {
            memoLock(s->m);
            hit = do_memoGet(s->m, &key, &val);
            memoUnlock(s->m);
        }
        long want = _modelGet(&s->md, k, &F.hits, &F.misses);
        REQUIRE(hit == (want >= 0));
        REQUIRE(hit ? val.tag == (uint64_t)want : val.tag == UINT64_MAX);
        break;
    }
    case OP_PUT:
    case OP_DO_PUT: {
        uint32_t tag = ++F.next_tag;
        _key(i, k, tag, &key);
        val.tag = tag;
        bool stored;
        if (o == OP_PUT) {
            stored = memoPut(s->m, &key, &val);
        } else {
            memoLock(s->m);
            stored = do_memoPut(s->m, &key, &val);
            memoUnlock(s->m);
        }
        REQUIRE(stored == _modelPut(&s->md, k, tag, &F.evictions));
        break;
    }
    case OP_CLEAR: {
        size_t n;
        if (k & 1u) {
            memoLock(s->m);
            n = do_memoClear(s->m);
            memoUnlock(s->m);
        } else {
            n = memoClear(s->m);
        }
        REQUIRE(n == _modelClear(&s->md));
        break;
    }
    case OP_INFO: {
        memoInfo info;
        if (k & 1u) {
            memoLock(s->m);
            info = do_memoGetInfo(s->m);
            memoUnlock(s->m);
        } else {
            info = memoGetInfo(s->m);
        }
        _checkInfo(&info, &s->md);
        break;
    }
    case OP_COUNT_HIT:
        if (k & 1u) {
            memoLock(s->m);
            do_memoCountHit(s->m);
            memoUnlock(s->m);
        } else {
            memoCountHit(s->m);
        }
        s->md.hits++;
        F.hits++;
        break;
    case OP_RECREATE:
        _destroy(i);
        _checkReleases();
        _create(i, *next < end ? *(*next)++ : 0);
        break;
    }
    _checkReleases();
    _checkGroup();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    memset(&F, 0, sizeof(F));
    memset(&R, 0, sizeof(R));
    memoStatsInit(&F.stats);

    /* Incomplete types are refused. */
    static const memoType no_hash = {sizeof(keyHead), sizeof(value), NULL, _equal, NULL, NULL};
    REQUIRE(memoCreate(NULL, 1, NULL) == NULL);
    REQUIRE(memoCreate(&no_hash, 1, NULL) == NULL);

    const uint8_t *p = data, *end = data + size;
    for (size_t i = 0; i < NSLOTS; i++)
        _create(i, p < end ? *p++ : 0);
    for (size_t n = 0; p < end && n < MAX_OPS; n++) {
        uint8_t b = *p++;
        _step(b, &p, end);
    }
    for (size_t i = 0; i < NSLOTS; i++) {
        _destroy(i);
        _checkReleases();
    }
    _checkGroup();
    REQUIRE(atomic_load(&F.stats.currsize) == 0);
    return 0;
}
