/* memo.c -- a memo cache with Python's functools.lru_cache semantics.
 *
 * Layout. Every entry is one allocation: a header (LRU links, hash chain,
 * cached hash) followed by the key record and the value record, each aligned
 * for any type. Entries sit in a power-of-two table of singly linked hash
 * chains, and on one circular doubly linked LRU list whose sentinel lives in
 * the cache: sentinel.next is the least recently used entry, sentinel.prev the
 * most recently used one (the same orientation as CPython's lru_cache, so the
 * code can be read side by side with Modules/_functoolsmodule.c).
 *
 * A bounded cache sizes its table for maxsize up front (up to a cap, so that
 * a huge maxsize does not allocate a huge empty table) and, once full, reuses
 * the evicted entry's allocation for the new one: a miss in a full cache does
 * not touch the allocator. An unbounded cache starts small and doubles its
 * table as it grows. A disabled cache (maxsize 0) has no table at all.
 */
#include "memo.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ types */

/* Table sizing: at most 3 entries per 4 buckets before the table doubles. */
#define MEMO_LOAD_NUM 3
#define MEMO_LOAD_DEN 4
#define MEMO_MIN_BUCKETS 16
/* A cache starts with buckets for at most this many entries and grows by
 * doubling beyond it, bounded or not: a per-request cache (memoscope's local
 * scope) that holds a few entries must not zero a table sized for maxsize on
 * every request (2 KiB at maxsize 128, measured by bench_ceiling.sh). */
#define MEMO_PREALLOC_MAX_ENTRIES ((size_t)8)
/* Records inside an entry are aligned for any type, so that the callbacks
 * may cast the record pointer to the caller's struct. */
#define MEMO_RECORD_ALIGN _Alignof(max_align_t)
/* Records up to this size are copied on the stack to be released. */
#define MEMO_RELEASE_STACK_BYTES 256

/* The hash: a multiply-fold mix (the 128-bit product of two 64-bit words,
 * high half xored into low half) over 16-byte blocks, with the length folded
 * in up front and one more mix at the end for avalanche. Constants are the
 * fractional parts of square roots of primes (SHA-512's initial values):
 * odd, dense, and nothing up the sleeve. Fast, not DoS-resistant. */
#define MEMO_HASH_K0 0xbb67ae8584caa73bULL
#define MEMO_HASH_K1 0x3c6ef372fe94f82bULL
#define MEMO_HASH_K2 0xa54ff53a5f1d36f1ULL
#define MEMO_HASH_K3 0x510e527fade682d1ULL
#define MEMO_HASH_K4 0x9b05688c2b3e6c1fULL
#define MEMO_HASH_K5 0x1f83d9abfb41bd6bULL
#define MEMO_HASH_BLOCK 16

typedef struct memoLink {
    struct memoLink *prev;
    struct memoLink *next;
} memoLink;

typedef struct memoEntry {
    memoLink lru; /* first member: a memoLink of an entry is the entry */
    struct memoEntry *chain;
    uint64_t hash;
    /* key record at memo.key_off, value record at memo.val_off */
} memoEntry;

struct memo {
    pthread_mutex_t lock;
    const memoType *type;
    memoStats *stats; /* may be NULL */
    size_t maxsize;   /* 0, n, or MEMO_UNBOUNDED */
    size_t size;      /* entries held now */
    memoEntry **buckets;
    size_t nbuckets; /* power of two, or 0 when disabled */
    size_t min_buckets;
    size_t grow_at; /* size above which the table doubles */
    memoLink lru;   /* sentinel: next = least, prev = most recently used */
    size_t key_off;
    size_t val_off;
    size_t entry_size;
    uint64_t hits;
    uint64_t misses;
    uint64_t evictions;
};

/* ----------------------------------------------------- private prototypes */

static size_t _memoAlignUp(size_t n, size_t align);
static size_t _memoBucketsFor(size_t entries);
static bool _memoSetTable(memo *m, size_t nbuckets);
static void _memoGrow(memo *m);
static memoEntry *_memoFind(memo *m, const void *key, uint64_t hash);
static void _memoChainRemove(memo *m, memoEntry *e);
static void _memoLinkAppend(memo *m, memoLink *l);
static void _memoLinkRemove(memoLink *l);
static void _memoReleaseRecords(memo *m, memoEntry *e);
static void _memoReleaseGiven(memo *m, const void *key, const void *val);
static void _memoStatAdd(atomic_uint_fast64_t *c, uint64_t n);
static void _memoStatSub(atomic_uint_fast64_t *c, uint64_t n);
static inline uint64_t _memoMix(uint64_t a, uint64_t b);
static inline uint64_t _memoRead64(const unsigned char *p);
static inline uint64_t _memoRead32(const unsigned char *p);

#define _memoKey(m, e) ((void *)((char *)(e) + (m)->key_off))
#define _memoVal(m, e) ((void *)((char *)(e) + (m)->val_off))

/* In builds with assertions, a do_ function checks that somebody holds the
 * lock (a default mutex cannot tell whether it is the caller). */
#define _memoAssertLocked(m) assert(pthread_mutex_trylock(&(m)->lock) == EBUSY)

/* -------------------------------------------------------------------- API */

memo *memoCreate(const memoType *type, size_t maxsize, memoStats *stats) {
    if (type == NULL || type->hash == NULL || type->equal == NULL || type->key_size == 0 ||
        type->val_size == 0)
        return NULL;
    size_t key_off = _memoAlignUp(sizeof(memoEntry), MEMO_RECORD_ALIGN);
    size_t val_off = _memoAlignUp(key_off + type->key_size, MEMO_RECORD_ALIGN);
    if (val_off < key_off || val_off + type->val_size < val_off)
        return NULL; /* record sizes overflow size_t */

    memo *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->type = type;
    m->stats = stats;
    m->maxsize = maxsize;
    m->key_off = key_off;
    m->val_off = val_off;
    m->entry_size = val_off + type->val_size;
    m->lru.next = m->lru.prev = &m->lru;
    if (maxsize != 0) {
        size_t want = maxsize == MEMO_UNBOUNDED ? 0 : maxsize;
        if (want > MEMO_PREALLOC_MAX_ENTRIES)
            want = MEMO_PREALLOC_MAX_ENTRIES;
        m->min_buckets = _memoBucketsFor(want);
        if (!_memoSetTable(m, m->min_buckets)) {
            free(m);
            return NULL;
        }
    }
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m->buckets);
        free(m);
        return NULL;
    }
    return m;
}

void memoDestroy(memo *m) {
    if (m == NULL)
        return;
    memoLock(m);
    do_memoClear(m);
    memoUnlock(m);
    pthread_mutex_destroy(&m->lock);
    free(m->buckets);
    free(m);
}

bool memoGet(memo *m, const void *key, void *val_out) {
    memoLock(m);
    bool hit = do_memoGet(m, key, val_out);
    memoUnlock(m);
    return hit;
}

bool memoPut(memo *m, const void *key, const void *val) {
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

size_t memoClear(memo *m) {
    memoLock(m);
    size_t n = do_memoClear(m);
    memoUnlock(m);
    return n;
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
    int rc = pthread_mutex_unlock(&m->lock);
    assert(rc == 0);
    (void)rc;
}

bool do_memoGet(memo *m, const void *key, void *val_out) {
    _memoAssertLocked(m);
    memoEntry *e = m->maxsize == 0 ? NULL : _memoFind(m, key, m->type->hash(key));
    if (e == NULL) {
        m->misses++;
        if (m->stats)
            _memoStatAdd(&m->stats->misses, 1);
        return false;
    }
    /* An unbounded cache keeps insertion order, as lru_cache(maxsize=None)
     * keeps its dict's: recency decides nothing there. */
    if (m->maxsize != MEMO_UNBOUNDED) {
        _memoLinkRemove(&e->lru);
        _memoLinkAppend(m, &e->lru);
    }
    memcpy(val_out, _memoVal(m, e), m->type->val_size);
    m->hits++;
    if (m->stats)
        _memoStatAdd(&m->stats->hits, 1);
    return true;
}

bool do_memoPut(memo *m, const void *key, const void *val) {
    _memoAssertLocked(m);
    if (m->maxsize == 0) {
        _memoReleaseGiven(m, key, val);
        return false;
    }
    uint64_t hash = m->type->hash(key);
    if (_memoFind(m, key, hash) != NULL) {
        /* As lru_cache when the key was added while the function ran: the
         * stored entry and its recency are left alone. */
        _memoReleaseGiven(m, key, val);
        return false;
    }

    memoEntry *e;
    if (m->size >= m->maxsize) {
        /* Full: evict the least recently used entry and reuse its memory.
         * size and the group's currsize are unchanged (one out, one in). */
        e = (memoEntry *)m->lru.next;
        assert(&e->lru != &m->lru);
        _memoLinkRemove(&e->lru);
        _memoChainRemove(m, e);
        _memoReleaseRecords(m, e);
        m->evictions++;
        if (m->stats)
            _memoStatAdd(&m->stats->evictions, 1);
    } else {
        e = malloc(m->entry_size);
        if (e == NULL) {
            _memoReleaseGiven(m, key, val);
            return false;
        }
        m->size++;
        if (m->stats)
            _memoStatAdd(&m->stats->currsize, 1);
    }
    memcpy(_memoKey(m, e), key, m->type->key_size);
    memcpy(_memoVal(m, e), val, m->type->val_size);
    e->hash = hash;
    size_t idx = hash & (m->nbuckets - 1);
    e->chain = m->buckets[idx];
    m->buckets[idx] = e;
    _memoLinkAppend(m, &e->lru);
    if (m->size > m->grow_at)
        _memoGrow(m);
    return true;
}

void do_memoCountHit(memo *m) {
    _memoAssertLocked(m);
    m->hits++;
    if (m->stats)
        _memoStatAdd(&m->stats->hits, 1);
}

size_t do_memoClear(memo *m) {
    _memoAssertLocked(m);
    size_t n = m->size;
    /* Oldest first, as lru_cache's cache_clear() drops its links. */
    memoLink *l = m->lru.next;
    m->lru.next = m->lru.prev = &m->lru;
    while (l != &m->lru) {
        memoLink *next = l->next;
        _memoReleaseRecords(m, (memoEntry *)l);
        free(l);
        l = next;
    }
    m->size = 0;
    if (m->stats && n > 0)
        _memoStatSub(&m->stats->currsize, n);
    /* Give back what an unbounded cache grew to; when the smaller table
     * cannot be had, keep the old one, emptied. */
    memoEntry **old = m->buckets;
    if (m->nbuckets > m->min_buckets && _memoSetTable(m, m->min_buckets))
        free(old);
    else if (m->buckets)
        memset(m->buckets, 0, m->nbuckets * sizeof(*m->buckets));
    m->hits = m->misses = m->evictions = 0;
    return n;
}

memoInfo do_memoGetInfo(memo *m) {
    _memoAssertLocked(m);
    memoInfo info = {
        .hits = m->hits,
        .misses = m->misses,
        .maxsize = m->maxsize,
        .currsize = m->size,
        .evictions = m->evictions,
    };
    return info;
}

void memoStatsInit(memoStats *s) {
    atomic_init(&s->hits, 0);
    atomic_init(&s->misses, 0);
    atomic_init(&s->evictions, 0);
    atomic_init(&s->currsize, 0);
}

uint64_t memoHashBytes(const void *data, size_t len) {
    const unsigned char *p = data;
    size_t n = len;
    uint64_t h = _memoMix((uint64_t)len ^ MEMO_HASH_K0, MEMO_HASH_K1);

    while (n > MEMO_HASH_BLOCK) {
        h = _memoMix(_memoRead64(p) ^ MEMO_HASH_K2, _memoRead64(p + 8) ^ h);
        p += MEMO_HASH_BLOCK;
        n -= MEMO_HASH_BLOCK;
    }
    /* 0 to 16 bytes left: two words that may overlap cover them all. */
    uint64_t a = 0, b = 0;
    if (n >= 8) {
        a = _memoRead64(p);
        b = _memoRead64(p + n - 8);
    } else if (n >= 4) {
        a = _memoRead32(p);
        b = _memoRead32(p + n - 4);
    } else if (n > 0) {
        a = ((uint64_t)p[0] << 16) | ((uint64_t)p[n >> 1] << 8) | p[n - 1];
    }
    h = _memoMix(a ^ MEMO_HASH_K3, b ^ h);
    return _memoMix(h ^ MEMO_HASH_K4, (h >> 32) ^ MEMO_HASH_K5);
}

/* ---------------------------------------------------------------- private */

static inline uint64_t _memoMix(uint64_t a, uint64_t b) {
#ifdef __SIZEOF_INT128__
    __extension__ typedef unsigned __int128 memoU128;
    memoU128 r = (memoU128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
#else
    uint64_t alo = (uint32_t)a, ahi = a >> 32, blo = (uint32_t)b, bhi = b >> 32;
    uint64_t ll = alo * blo, lh = alo * bhi, hl = ahi * blo, hh = ahi * bhi;
    uint64_t mid = (ll >> 32) + (uint32_t)lh + (uint32_t)hl;
    uint64_t lo = (mid << 32) | (uint32_t)ll;
    uint64_t hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
    return lo ^ hi;
#endif
}

static inline uint64_t _memoRead64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint64_t _memoRead32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static size_t _memoAlignUp(size_t n, size_t align) {
    return (n + align - 1) & ~(align - 1);
}

/* Smallest power-of-two bucket count, at least MEMO_MIN_BUCKETS, that holds
 * entries within the load limit. */
static size_t _memoBucketsFor(size_t entries) {
    size_t n = MEMO_MIN_BUCKETS;
    while (n / MEMO_LOAD_DEN * MEMO_LOAD_NUM < entries)
        n <<= 1;
    return n;
}

/* Installs an empty table of nbuckets; on out of memory returns false and
 * changes nothing. The caller rehashes or frees the previous table. */
static bool _memoSetTable(memo *m, size_t nbuckets) {
    memoEntry **b = calloc(nbuckets, sizeof(*b));
    if (b == NULL)
        return false;
    m->buckets = b;
    m->nbuckets = nbuckets;
    m->grow_at = nbuckets / MEMO_LOAD_DEN * MEMO_LOAD_NUM;
    return true;
}

/* Doubles the table. Out of memory is not an error: the cache stays correct
 * with longer chains, and the next insert tries again. */
static void _memoGrow(memo *m) {
    memoEntry **old = m->buckets;
    size_t oldn = m->nbuckets;
    if (oldn > SIZE_MAX / 2 / sizeof(*old) || !_memoSetTable(m, oldn * 2))
        return;
    for (size_t i = 0; i < oldn; i++) {
        memoEntry *e = old[i];
        while (e) {
            memoEntry *next = e->chain;
            size_t idx = e->hash & (m->nbuckets - 1);
            e->chain = m->buckets[idx];
            m->buckets[idx] = e;
            e = next;
        }
    }
    free(old);
}

static memoEntry *_memoFind(memo *m, const void *key, uint64_t hash) {
    memoEntry *e = m->buckets[hash & (m->nbuckets - 1)];
    while (e) {
        if (e->hash == hash && m->type->equal(_memoKey(m, e), key))
            return e;
        e = e->chain;
    }
    return NULL;
}

static void _memoChainRemove(memo *m, memoEntry *e) {
    memoEntry **pp = &m->buckets[e->hash & (m->nbuckets - 1)];
    while (*pp != e) {
        assert(*pp != NULL);
        pp = &(*pp)->chain;
    }
    *pp = e->chain;
}

/* Makes l the most recently used. */
static void _memoLinkAppend(memo *m, memoLink *l) {
    memoLink *last = m->lru.prev;
    last->next = l;
    l->prev = last;
    l->next = &m->lru;
    m->lru.prev = l;
}

static void _memoLinkRemove(memoLink *l) {
    l->prev->next = l->next;
    l->next->prev = l->prev;
}

static void _memoReleaseRecords(memo *m, memoEntry *e) {
    if (m->type->key_release)
        m->type->key_release(_memoKey(m, e));
    if (m->type->val_release)
        m->type->val_release(_memoVal(m, e));
}

/* Releases records the caller gave us but did not store. The callbacks take
 * a mutable pointer to a record of ours, so they get an aligned copy, not the
 * caller's const record: on the stack when small (the usual case), else on
 * the heap. */
static void _memoReleaseGiven(memo *m, const void *key, const void *val) {
    const memoType *t = m->type;
    if (t->key_release == NULL && t->val_release == NULL)
        return;
    union {
        max_align_t align;
        unsigned char bytes[MEMO_RELEASE_STACK_BYTES];
    } local;
    size_t need = t->key_size > t->val_size ? t->key_size : t->val_size;
    void *copy = need <= sizeof(local) ? (void *)&local : malloc(need);
    if (copy == NULL) {
        /* Out of memory: still release exactly once, in place. */
        if (t->key_release)
            t->key_release((void *)key);
        if (t->val_release)
            t->val_release((void *)val);
        return;
    }
    if (t->key_release) {
        memcpy(copy, key, t->key_size);
        t->key_release(copy);
    }
    if (t->val_release) {
        memcpy(copy, val, t->val_size);
        t->val_release(copy);
    }
    if (copy != (void *)&local)
        free(copy);
}

static void _memoStatAdd(atomic_uint_fast64_t *c, uint64_t n) {
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void _memoStatSub(atomic_uint_fast64_t *c, uint64_t n) {
    atomic_fetch_sub_explicit(c, n, memory_order_relaxed);
}
