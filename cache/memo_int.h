/* memo_int.h -- what memo.c, memo_entry.c, memo_table.c and memo_hash.c
 * share (not API).
 *
 * An entry is one slot of a chunk: a header (LRU links, hash chain), then the
 * optional parts a cache needs (store time, time-order links, owner links,
 * weight), then the key and value records, all at offsets fixed when the
 * cache is created and aligned to 8 bytes. The LRU list is circular with its
 * sentinel in the cache: lru.next is the least recently used entry, lru.prev
 * the most recently used one (CPython's lru_cache orientation).
 *
 * The hash table is two tables during a move (redis dict.c's scheme): t[0]
 * holds the buckets below `move`, t[1] (twice as many buckets) holds everything
 * else and every new entry; each operation moves a few buckets of t[0], from
 * the last down, and when bucket 0 is moved t[1] becomes t[0]. With no move,
 * `move` is MEMO_NOT_MOVING (SIZE_MAX, above every bucket): a lookup makes
 * one comparison either way.
 */
#ifndef MEMO_INT_H
#define MEMO_INT_H

#include "memo_types.h"

#include <pthread.h>
#include <string.h>

#define MEMO_NOT_MOVING SIZE_MAX

typedef struct memoEntry {
    memoLink lru; /* first member: an LRU link is its entry */
    struct memoEntry *chain;
    /* optional parts, then the key and value records, at memo's offsets */
} memoEntry;

typedef struct memoTable {
    memoEntry **buckets; /* NULL: no table yet */
    size_t mask;         /* buckets - 1 */
} memoTable;

/* A chunk of entry slots; the slots follow the header. */
typedef struct memoChunk {
    struct memoChunk *next;
    size_t cap;
    size_t used;
    max_align_t align[]; /* slots */
} memoChunk;

/* What a clear detaches, released after the lock is dropped. */
typedef struct memoDetached {
    memoLink lru; /* the detached entries, oldest first; empty when none */
    memoChunk *chunks;
    memoEntry **tables[2];
    size_t count;
} memoDetached;

struct memo {
    pthread_mutex_t lock;
    const memoType *type;
    memoConfig cfg;
    uint64_t sip[4];  /* SipHash's state after the process key */
    size_t key_words; /* 2, 3: 16/24-byte keys hashed and compared inline */
    size_t size;      /* entries held now */
    size_t bytes;     /* currbytes */
    memoTable t[2];
    size_t move;        /* t[0]'s buckets below it are still to move; MEMO_NOT_MOVING */
    size_t kept;        /* buckets t[0]'s block holds during a move (it shrinks) */
    size_t max_buckets; /* a bounded cache's table stops growing here */
    memoLink lru;       /* sentinel: next = least, prev = most recently used */
    memoLink by_time;   /* sentinel (TTL): next = oldest store */
    uint64_t epoch;     /* owners with another epoch have no entries here */
    /* entry slots */
    memoChunk *chunks;
    memoEntry *free_slots; /* through chain */
    size_t capacity;       /* slots in every chunk */
    size_t entry_size;
    size_t stamp_off, time_off, owner_off, weight_off, key_off, val_off; /* 0: absent */
    memoEntry **unused_table; /* freed by memoUnlock after the lock */
    uint64_t hits, misses, evictions, expirations, removals;
    /* The last key a get missed, and its hash: the put that follows a miss
     * (a memoised call) reuses it instead of hashing again. */
    bool missed_valid;
    uint64_t missed_hash;
    /* key_size bytes, then (at memo__scratchOff) the scratch record:
     * max(key_size, val_size) bytes where records given but not stored are
     * copied for their release callbacks (under the lock). */
    max_align_t missed_key[];
};

/* Records are aligned to 8 bytes (memo.h). */
#define MEMO_RECORD_ALIGN 8
static inline size_t memo__alignUp(size_t n) {
    return (n + MEMO_RECORD_ALIGN - 1) & ~(size_t)(MEMO_RECORD_ALIGN - 1);
}
#define memo__scratchOff(type) memo__alignUp((type)->key_size)
#define memo__scratch(m) ((void *)((char *)(m)->missed_key + memo__scratchOff((m)->type)))

#define memo__key(m, e) ((void *)((char *)(e) + (m)->key_off))
#define memo__val(m, e) ((void *)((char *)(e) + (m)->val_off))
#define memo__at(m, e, off, T) ((T *)(void *)((char *)(e) + (off)))
/* The entry a list link of the given offset belongs to (container_of). */
#define memo__entryOf(link, off) ((memoEntry *)(void *)((char *)(link) - (off)))

/* A circular list with a sentinel: append makes l the last (newest). */
static inline void memo__linkInit(memoLink *s) {
    s->prev = s->next = s;
}

static inline void memo__linkAppend(memoLink *s, memoLink *l) {
    memoLink *last = s->prev;
    last->next = l;
    l->prev = last;
    l->next = s;
    s->prev = l;
}

static inline void memo__linkRemove(memoLink *l) {
    l->prev->next = l->next;
    l->next->prev = l->prev;
}

static inline void memo__statAdd(atomic_uint_fast64_t *c, uint64_t n) {
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline void memo__statSub(atomic_uint_fast64_t *c, uint64_t n) {
    atomic_fetch_sub_explicit(c, n, memory_order_relaxed);
}

/* memo_entry.c (caller holds the lock) */
typedef enum memoRemoval { MEMO_EVICTED, MEMO_EXPIRED, MEMO_REMOVED } memoRemoval;
bool memo__expired(memo *m, memoEntry *e, uint64_t now);
memoOwner *memo__ownerOf(memo *m, memoEntry *e);
void memo__addBytes(memo *m, size_t n, bool add);
void memo__releaseGiven(memo *m, const void *key, const void *val);
void memo__remove(memo *m, memoEntry *e, memoRemoval why);
size_t memo__expire(memo *m, uint64_t now, size_t max);
void memo__ownerSync(memo *m, memoOwner *o);

/* memo_hash.c */
void memo__hashKey(unsigned char key[16]);

/* memo_table.c: slots */
memoEntry *memo__slotAlloc(memo *m);
void memo__slotFree(memo *m, memoEntry *e);

/* memo_table.c: the table (caller holds the lock) */
bool memo__insert(memo *m, memoEntry *e, uint64_t hash);
void memo__unchain(memo *m, memoEntry *e, uint64_t hash);
void memo__moveStep(memo *m, size_t buckets);
size_t memo__tableBytes(const memo *m);
void memo__detach(memo *m, memoDetached *d);
size_t memo__release(const memo *m, memoDetached *d, void *ctx);

/* SipHash-1-3 (memo_hash.c says more), inline for the hot path. */
#define MEMO_SIP_C0 0x736f6d6570736575ULL /* "somepseu" */
#define MEMO_SIP_C1 0x646f72616e646f6dULL /* "dorandom" */
#define MEMO_SIP_C2 0x6c7967656e657261ULL /* "lygenera" */
#define MEMO_SIP_C3 0x7465646279746573ULL /* "tedbytes" */

#define memo__rotl(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define MEMO_SIP_ROUND                                                                             \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = memo__rotl(v1, 13);                                                                   \
        v1 ^= v0;                                                                                  \
        v0 = memo__rotl(v0, 32);                                                                   \
        v2 += v3;                                                                                  \
        v3 = memo__rotl(v3, 16);                                                                   \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = memo__rotl(v3, 21);                                                                   \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = memo__rotl(v1, 17);                                                                   \
        v1 ^= v2;                                                                                  \
        v2 = memo__rotl(v2, 32);                                                                   \
    } while (0)

static inline uint64_t memo__le64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* SipHash's four words after the key is mixed in: what every hash of one
 * key starts from, worked out once per cache (memoCreateWith). */
static inline void memo__sipInit(const unsigned char key[16], uint64_t v[4]) {
    uint64_t k0 = memo__le64(key), k1 = memo__le64(key + 8);
    v[0] = k0 ^ MEMO_SIP_C0;
    v[1] = k1 ^ MEMO_SIP_C1;
    v[2] = k0 ^ MEMO_SIP_C2;
    v[3] = k1 ^ MEMO_SIP_C3;
}

/* SipHash-1-3 of len bytes from a state of memo__sipInit. */
static inline uint64_t memo__sip13From(const uint64_t init[4], const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t v0 = init[0], v1 = init[1], v2 = init[2], v3 = init[3];
    size_t n = len;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w = memo__le64(p);
        v3 ^= w;
        MEMO_SIP_ROUND;
        v0 ^= w;
    }
    uint64_t last = (uint64_t)len << 56;
    for (size_t i = 0; i < n; i++)
        last |= (uint64_t)p[i] << (8 * i);
    v3 ^= last;
    MEMO_SIP_ROUND;
    v0 ^= last;
    v2 ^= 0xff;
    MEMO_SIP_ROUND;
    MEMO_SIP_ROUND;
    MEMO_SIP_ROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static inline uint64_t memo__sip13(const unsigned char key[16], const void *data, size_t len) {
    uint64_t v[4];
    memo__sipInit(key, v);
    return memo__sip13From(v, data, len);
}

/* SipHash-1-3 of exactly `words` 8-byte words (2 or 3: 16- or 24-byte keys):
 * the same value as memo__sip13From of words * 8 bytes (test_memo_hash checks
 * it), unrolled, with no tail (the length block is a constant). Always
 * inlined with a constant `words`, so that the loop disappears. */
__attribute__((always_inline)) static inline uint64_t
memo__sip13Words(const uint64_t init[4], const unsigned char *p, size_t words) {
    uint64_t v0 = init[0], v1 = init[1], v2 = init[2], v3 = init[3];
    for (size_t i = 0; i < words; i++) {
        uint64_t w = memo__le64(p + 8 * i);
        v3 ^= w;
        MEMO_SIP_ROUND;
        v0 ^= w;
    }
    uint64_t last = (uint64_t)(words * 8) << 56;
    v3 ^= last;
    MEMO_SIP_ROUND;
    v0 ^= last;
    v2 ^= 0xff;
    MEMO_SIP_ROUND;
    MEMO_SIP_ROUND;
    MEMO_SIP_ROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* Key equality of exactly `words` 8-byte words, always inlined (constant
 * `words`): the words xored and or-ed, one branch. */
__attribute__((always_inline)) static inline bool
memo__wordsEqual(const unsigned char *a, const unsigned char *b, size_t words) {
    uint64_t diff = 0;
    for (size_t i = 0; i < words; i++)
        diff |= memo__le64(a + 8 * i) ^ memo__le64(b + 8 * i);
    return diff == 0;
}

/* The hot path, inline: hash, bucket, lookup. A cache whose type has no hash
 * and no equal, with a 16- or 24-byte key, has key_words 2 or 3: its keys
 * are hashed and compared as words inline (memo__findWords); every other
 * cache goes through the type's callbacks or the byte loops. */

/* Key equality: the type's, else the bytes. */
static inline bool memo__keysEqual(memo *m, const void *stored, const void *key) {
    switch (m->key_words) {
    case 2:
        return memo__wordsEqual(stored, key, 2);
    case 3:
        return memo__wordsEqual(stored, key, 3);
    default:
        if (m->type->equal)
            return m->type->equal(m->cfg.ctx, stored, key);
        return memcmp(stored, key, m->type->key_size) == 0;
    }
}

/* The hash of a key: the type's, else SipHash-1-3 of its bytes under the
 * process key (from the cache's precomputed state). */
__attribute__((always_inline)) static inline uint64_t memo__hash(memo *m, const void *key) {
    switch (m->key_words) {
    case 2:
        return memo__sip13Words(m->sip, key, 2);
    case 3:
        return memo__sip13Words(m->sip, key, 3);
    default:
        if (m->type->hash)
            return m->type->hash(m->cfg.ctx, key);
        return memo__sip13From(m->sip, key, m->type->key_size);
    }
}

/* Copies a value record out (8 bytes without a call). */
static inline void memo__copyVal(memo *m, void *out, const void *val) {
    if (m->type->val_size == 8)
        memcpy(out, val, 8);
    else
        memcpy(out, val, m->type->val_size);
}

/* The bucket where hash lives now: in t[1] for the buckets of t[0] already
 * moved (at and above move; none when there is no move), else in t[0]. */
static inline memoEntry **memo__bucketOf(memo *m, uint64_t hash) {
    size_t i = (size_t)hash & m->t[0].mask;
    if (__builtin_expect(i >= m->move, 0))
        return &m->t[1].buckets[(size_t)hash & m->t[1].mask];
    return &m->t[0].buckets[i];
}

/* The entry of key in the chain of hash, or NULL. */
static inline memoEntry *memo__find(memo *m, const void *key, uint64_t hash) {
    if (__builtin_expect(m->t[0].buckets == NULL, 0))
        return NULL;
    for (memoEntry *e = *memo__bucketOf(m, hash); e; e = e->chain) {
        if (memo__keysEqual(m, memo__key(m, e), key))
            return e;
    }
    return NULL;
}

/* memo__find for a cache of key_words == words (a constant where inlined). */
__attribute__((always_inline)) static inline memoEntry *
memo__findWords(memo *m, const void *key, uint64_t hash, size_t words) {
    if (__builtin_expect(m->t[0].buckets == NULL, 0))
        return NULL;
    size_t key_off = m->key_off;
    for (memoEntry *e = *memo__bucketOf(m, hash); e; e = e->chain) {
        if (memo__wordsEqual((const unsigned char *)e + key_off, key, words))
            return e;
    }
    return NULL;
}

#endif /* MEMO_INT_H */
