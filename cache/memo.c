/* memo.c -- a memo cache with Python's functools.lru_cache semantics: the
 * operations, the LRU order, TTL, byte bound and owners (memo.h says what;
 * memo_int.h how an entry is laid out; memo_entry.c how one leaves;
 * memo_table.c the slots and table).
 *
 * Every cache starts with no table and no slots: a table of 16 buckets comes
 * with the first put, and both grow as entries come (bounded or not), so that
 * a per-request cache holding a few entries costs a few hundred bytes.
 */
#include "memo.h"
#include "memo_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

/* ------------------------------------------------------------------ types */

/* Buckets an operation moves while the table grows: a put moves more than
 * it adds, so that a move ends before the new table fills. */
#define MEMO_MOVE_PER_GET 1
#define MEMO_MOVE_PER_PUT 2

static atomic_uint_fast64_t memo_epochs = 1; /* owners start at epoch 0: empty */

/* A TTL of at least this many ticks of CLOCK_MONOTONIC_COARSE is read on that
 * clock (CLOCK_MONOTONIC at the kernel's last tick, no TSC read: a TTL hit
 * costs a few ns, not tens). It lags by up to a tick (a little more on a busy
 * machine), so an entry expires within about a tick of its TTL: about 1% of
 * it or less. */
#define MEMO_COARSE_TICKS 100

/* In builds with assertions, a do_ function checks that somebody holds the
 * lock (a default mutex cannot tell whether it is the caller). */
#define memo__assertLocked(m) assert(pthread_mutex_trylock(&(m)->lock) == EBUSY)

/* ---------------------------------------------------------------- private */

static uint64_t memo__monotonic(void *ctx) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t memo__monotonicCoarse(void *ctx) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The default clock for a TTL: the coarse one when its tick is at most 1/
 * MEMO_COARSE_TICKS of the TTL, else CLOCK_MONOTONIC. Both count from the same
 * origin (the coarse one is CLOCK_MONOTONIC at the last tick, never ahead of
 * it), so stamps stay comparable with CLOCK_MONOTONIC readings. */
static memoClock *memo__defaultClock(uint64_t ttl_ns) {
    struct timespec res;
    if (ttl_ns == 0 || clock_getres(CLOCK_MONOTONIC_COARSE, &res) != 0)
        return memo__monotonic;
    uint64_t tick = (uint64_t)res.tv_sec * 1000000000u + (uint64_t)res.tv_nsec;
    return tick > 0 && ttl_ns / MEMO_COARSE_TICKS >= tick ? memo__monotonicCoarse : memo__monotonic;
}

static uint64_t memo__now(memo *m) {
    return m->cfg.clock(m->cfg.ctx);
}

static void memo__countMiss(memo *m) {
    m->misses++;
    if (m->cfg.stats)
        memo__statAdd(&m->cfg.stats->misses, 1);
}

/* Whether memoGet hashes the key before it takes the lock: the
 * cache's own SipHash reads only what never changes after memoCreateWith,
 * so the lock is held for less; a type's hash callback runs with the lock
 * held, as memo.h promises. */
static inline bool memo__hashesUnlocked(const memo *m) {
    return m->key_words != 0 || m->type->hash == NULL;
}

/* A get that found nothing (or an expired entry): keeps the key and its hash
 * for the put that follows a miss, counts the miss. */
__attribute__((noinline, cold)) static bool memo__getMissed(memo *m, const void *key,
                                                            uint64_t hash) {
    if (m->cfg.maxsize != 0) {
        memcpy(m->missed_key, key, m->type->key_size);
        m->missed_hash = hash;
        m->missed_valid = true;
    }
    memo__countMiss(m);
    return false;
}

/* A hit of an entry in a cache with a TTL: expired, it is released with
 * everything stored before it and the get misses. */
__attribute__((noinline)) static bool memo__hitExpired(memo *m, memoEntry *e) {
    uint64_t now = memo__now(m);
    if (!memo__expired(m, e, now))
        return false;
    memo__expire(m, now, SIZE_MAX); /* e and everything stored before it */
    return true;
}

/* do_memoGet with key's hash already known. The hit is the path laid out
 * straight: a move in progress, a TTL and the miss are out of its way. */
__attribute__((always_inline)) static inline bool memo__getHashed(memo *m, const void *key,
                                                                  uint64_t hash, void *val_out) {
    if (__builtin_expect(m->move != MEMO_NOT_MOVING, 0))
        memo__moveStep(m, MEMO_MOVE_PER_GET);
    memoEntry *e;
    if (__builtin_expect(m->cfg.maxsize == 0, 0))
        e = NULL;
    else if (m->key_words == 3)
        e = memo__findWords(m, key, hash, 3);
    else if (m->key_words == 2)
        e = memo__findWords(m, key, hash, 2);
    else
        e = memo__find(m, key, hash);
    if (__builtin_expect(e == NULL, 0) ||
        (__builtin_expect(m->cfg.ttl_ns != 0, 0) && memo__hitExpired(m, e)))
        return memo__getMissed(m, key, hash);
    /* An unbounded cache keeps insertion order, as lru_cache(maxsize=None)
     * keeps its dict's: recency decides nothing there (unless bytes do). */
    if (m->cfg.maxsize != MEMO_UNBOUNDED || m->cfg.maxbytes != MEMO_UNBOUNDED) {
        memo__linkRemove(&e->lru);
        memo__linkAppend(&m->lru, &e->lru);
    }
    memo__copyVal(m, val_out, memo__val(m, e));
    m->hits++;
    if (m->cfg.stats)
        memo__statAdd(&m->cfg.stats->hits, 1);
    return true;
}

/* do_memoPut of a cache that is not disabled, with key's hash known. */
static bool memo__putHashed(memo *m, const void *key, const void *val, uint64_t hash) {
    const memoType *t = m->type;
    if (__builtin_expect(m->move != MEMO_NOT_MOVING, 0))
        memo__moveStep(m, MEMO_MOVE_PER_PUT);
    uint64_t now = m->stamp_off ? memo__now(m) : 0;
    if (m->cfg.ttl_ns)
        memo__expire(m, now, SIZE_MAX);
    if (memo__find(m, key, hash) != NULL) {
        /* As lru_cache when the key was added while the function ran: the
         * stored entry and its recency are left alone. */
        memo__releaseGiven(m, key, val);
        return false;
    }
    size_t w = t->weight ? t->weight(m->cfg.ctx, key, val) : 0;
    memoOwner *o = t->owner ? t->owner(m->cfg.ctx, key) : NULL;
    if (o)
        memo__ownerSync(m, o);
    size_t ow = o ? o->weight : 0; /* what it weighs alone, as the last entry left */
    if (m->cfg.maxbytes != MEMO_UNBOUNDED && (w > m->cfg.maxbytes || ow > m->cfg.maxbytes - w)) {
        memo__releaseGiven(m, key, val); /* cachetools: "value too large" */
        return false;
    }
    if (m->size >= m->cfg.maxsize)
        memo__remove(m, (memoEntry *)m->lru.next, MEMO_EVICTED);
    memoEntry *e = memo__slotAlloc(m);
    if (e == NULL || !memo__insert(m, e, hash)) {
        if (e)
            memo__slotFree(m, e);
        memo__releaseGiven(m, key, val);
        return false;
    }
    memcpy(memo__key(m, e), key, t->key_size);
    memcpy(memo__val(m, e), val, t->val_size);
    memo__linkAppend(&m->lru, &e->lru);
    if (m->stamp_off)
        *memo__at(m, e, m->stamp_off, uint64_t) = now;
    if (m->time_off)
        memo__linkAppend(&m->by_time, memo__at(m, e, m->time_off, memoLink));
    if (o) {
        memo__linkAppend(&o->entries, memo__at(m, e, m->owner_off, memoLink));
        if (o->count++ == 0)
            memo__addBytes(m, o->weight, true);
    }
    if (m->weight_off) {
        *memo__at(m, e, m->weight_off, size_t) = w;
        memo__addBytes(m, w, true);
    }
    m->size++;
    if (m->cfg.stats)
        memo__statAdd(&m->cfg.stats->currsize, 1);
    /* The new entry fits alone (checked above), and it is the most recent:
     * the loop stops before it. */
    while (m->bytes > m->cfg.maxbytes && m->lru.next != &e->lru)
        memo__remove(m, (memoEntry *)m->lru.next, MEMO_EVICTED);
    return true;
}

/* -------------------------------------------------------------------- API */

memo *memoCreate(const memoType *type, size_t maxsize, memoStats *stats) {
    memoConfig cfg = {.maxsize = maxsize, .maxbytes = MEMO_UNBOUNDED, .stats = stats};
    return memoCreateWith(type, &cfg);
}

memo *memoCreateWith(const memoType *type, const memoConfig *cfg) {
    if (type == NULL || cfg == NULL || type->key_size == 0 || type->val_size == 0 ||
        cfg->maxbytes == 0 || type->key_size > SIZE_MAX / 4 || type->val_size > SIZE_MAX / 4)
        return NULL;
    size_t scratch = type->key_size > type->val_size ? type->key_size : type->val_size;
    memo *m = calloc(1, sizeof(*m) + memo__scratchOff(type) + scratch);
    if (m == NULL)
        return NULL;
    m->type = type;
    m->cfg = *cfg;
    if (m->cfg.clock == NULL)
        m->cfg.clock = memo__defaultClock(cfg->ttl_ns);
    size_t off = sizeof(memoEntry);
    if (cfg->ttl_ns || cfg->stamp) {
        m->stamp_off = off;
        off += sizeof(uint64_t);
    }
    if (cfg->ttl_ns) {
        m->time_off = off;
        off += sizeof(memoLink);
    }
    if (type->owner) {
        m->owner_off = off;
        off += sizeof(memoLink);
    }
    if (type->weight) {
        m->weight_off = off;
        off += sizeof(size_t);
    }
    m->key_off = off;
    m->val_off = memo__alignUp(off + type->key_size);
    m->entry_size = memo__alignUp(m->val_off + type->val_size);
    m->max_buckets = (size_t)1 << (sizeof(size_t) * 8 - 5);
    if (cfg->maxsize != MEMO_UNBOUNDED) {
        size_t n = 1;
        while (n < cfg->maxsize && n < m->max_buckets)
            n <<= 1;
        m->max_buckets = n;
    }
    m->move = MEMO_NOT_MOVING;
    memo__linkInit(&m->lru);
    memo__linkInit(&m->by_time);
    m->epoch = atomic_fetch_add(&memo_epochs, 1);
    unsigned char key[16];
    memo__hashKey(key);
    memo__sipInit(key, m->sip);
    if (type->hash == NULL && type->equal == NULL &&
        (type->key_size == 2 * sizeof(uint64_t) || type->key_size == 3 * sizeof(uint64_t)))
        m->key_words = type->key_size / sizeof(uint64_t);
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void memoDestroy(memo *m) {
    if (m == NULL)
        return;
    memoClear(m);
    free(m->unused_table);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

bool memoGet(memo *m, const void *key, void *val_out) {
    if (!memo__hashesUnlocked(m)) {
        memoLock(m);
        bool hit = do_memoGet(m, key, val_out);
        memoUnlock(m);
        return hit;
    }
    uint64_t hash = memo__hash(m, key);
    memoLock(m);
    bool hit = memo__getHashed(m, key, hash, val_out);
    memoUnlock(m);
    return hit;
}

bool memoPut(memo *m, const void *key, const void *val) {
    /* Hashed under the lock: the put that follows a miss reuses its hash. */
    memoLock(m);
    bool stored = do_memoPut(m, key, val);
    memoUnlock(m);
    return stored;
}

void memoCountHit(memo *m) {
    memoLock(m);
    do_memoCountHit(m);
    memoUnlock(m);
}

bool memoDelete(memo *m, const void *key) {
    memoLock(m);
    bool found = do_memoDelete(m, key);
    memoUnlock(m);
    return found;
}

size_t memoDropOwner(memo *m, memoOwner *o) {
    memoLock(m);
    size_t n = do_memoDropOwner(m, o);
    memoUnlock(m);
    return n;
}

size_t memoClear(memo *m) {
    return memoClearWith(m, m->cfg.ctx);
}

size_t memoClearWith(memo *m, void *release_ctx) {
    memoDetached d;
    memoLock(m);
    memo__detach(m, &d);
    if (m->cfg.stats) {
        memo__statSub(&m->cfg.stats->currsize, m->size);
        memo__statSub(&m->cfg.stats->currbytes, m->bytes);
    }
    m->size = m->bytes = 0;
    m->epoch = atomic_fetch_add(&memo_epochs, 1); /* every owner is empty now */
    m->hits = m->misses = m->evictions = m->expirations = m->removals = 0;
    memoUnlock(m);
    return memo__release(m, &d, release_ctx);
}

bool memoSweep(memo *m, size_t budget) {
    memoLock(m);
    bool more = do_memoSweep(m, budget);
    memoUnlock(m);
    return more;
}

bool memoTrySweep(memo *m, size_t budget) {
    if (pthread_mutex_trylock(&m->lock) != 0)
        return false;
    bool more = do_memoSweep(m, budget);
    memoUnlock(m);
    return more;
}

memoInfo memoGetInfo(memo *m) {
    memoLock(m);
    memoInfo info = do_memoGetInfo(m);
    memoUnlock(m);
    return info;
}

void memoLock(memo *m) {
    int rc = pthread_mutex_lock(&m->lock);
    assert(rc == 0);
    (void)rc;
}

void memoUnlock(memo *m) {
    memoEntry **unused = m->unused_table;
    if (unused)
        m->unused_table = NULL;
    int rc = pthread_mutex_unlock(&m->lock);
    assert(rc == 0);
    (void)rc;
    if (unused)
        free(unused);
}

bool do_memoGet(memo *m, const void *key, void *val_out) {
    memo__assertLocked(m);
    return memo__getHashed(m, key, memo__hash(m, key), val_out);
}

bool do_memoPut(memo *m, const void *key, const void *val) {
    memo__assertLocked(m);
    if (m->cfg.maxsize == 0) {
        memo__releaseGiven(m, key, val);
        return false;
    }
    uint64_t hash = m->missed_valid && memo__keysEqual(m, m->missed_key, key) ? m->missed_hash
                                                                              : memo__hash(m, key);
    return memo__putHashed(m, key, val, hash);
}

void do_memoCountHit(memo *m) {
    memo__assertLocked(m);
    m->hits++;
    if (m->cfg.stats)
        memo__statAdd(&m->cfg.stats->hits, 1);
}

bool do_memoDelete(memo *m, const void *key) {
    memo__assertLocked(m);
    if (m->move != MEMO_NOT_MOVING)
        memo__moveStep(m, MEMO_MOVE_PER_GET);
    memoEntry *e = memo__find(m, key, memo__hash(m, key));
    if (e == NULL)
        return false;
    memo__remove(m, e, MEMO_REMOVED);
    return true;
}

size_t do_memoDropOwner(memo *m, memoOwner *o) {
    memo__assertLocked(m);
    if (o->epoch != m->epoch)
        return 0;
    size_t n = 0;
    while (o->entries.next != &o->entries) {
        memo__remove(m, memo__entryOf(o->entries.next, m->owner_off), MEMO_REMOVED);
        n++;
    }
    return n;
}

bool do_memoSweep(memo *m, size_t budget) {
    memo__assertLocked(m);
    memo__moveStep(m, budget);
    bool more = m->move != MEMO_NOT_MOVING;
    if (m->cfg.ttl_ns && m->by_time.next != &m->by_time) {
        uint64_t now = memo__now(m);
        memo__expire(m, now, budget);
        more = more || (m->by_time.next != &m->by_time &&
                        memo__expired(m, memo__entryOf(m->by_time.next, m->time_off), now));
    }
    return more;
}

memoInfo do_memoGetInfo(memo *m) {
    memo__assertLocked(m);
    memoInfo info = {
        .hits = m->hits,
        .misses = m->misses,
        .maxsize = m->cfg.maxsize,
        .currsize = m->size,
        .evictions = m->evictions,
        .expirations = m->expirations,
        .removals = m->removals,
        .maxbytes = m->cfg.maxbytes,
        .currbytes = m->bytes,
        .moving = m->move != MEMO_NOT_MOVING,
        .table_bytes = memo__tableBytes(m),
    };
    return info;
}

size_t do_memoOwnerEntries(memo *m, const memoOwner *o, memoEntryView *out, size_t max) {
    memo__assertLocked(m);
    if (o->epoch != m->epoch)
        return 0;
    size_t i = 0;
    for (memoLink *l = o->entries.prev; l != &o->entries && i < max; l = l->prev, i++) {
        memoEntry *e = memo__entryOf(l, m->owner_off);
        out[i].key = memo__key(m, e);
        out[i].val = memo__val(m, e);
        out[i].stored_ns = m->stamp_off ? *memo__at(m, e, m->stamp_off, uint64_t) : 0;
    }
    return o->count;
}

void memoOwnerInit(memoOwner *o, size_t weight) {
    memo__linkInit(&o->entries);
    o->epoch = 0;
    o->count = 0;
    o->weight = weight;
}

void memoStatsInit(memoStats *s) {
    atomic_init(&s->hits, 0);
    atomic_init(&s->misses, 0);
    atomic_init(&s->evictions, 0);
    atomic_init(&s->expirations, 0);
    atomic_init(&s->removals, 0);
    atomic_init(&s->currsize, 0);
    atomic_init(&s->currbytes, 0);
}
