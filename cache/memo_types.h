/* memo_types.h -- the types of the memo cache's API (memo.h), apart from its
 * functions, so that the cache's own files can share them without including
 * the API: memo.h includes this header, and so does memo_int.h.
 */
#ifndef MEMO_TYPES_H
#define MEMO_TYPES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* maxsize (or maxbytes) for no bound (lru_cache(maxsize=None)). */
#define MEMO_UNBOUNDED SIZE_MAX

/* ------------------------------------------------------------------ types */

/* A link of a circular doubly linked list (public only because memoOwner
 * embeds one). */
typedef struct memoLink {
    struct memoLink *prev;
    struct memoLink *next;
} memoLink;

/* An owner of entries, embedded by the caller in the object its entries name
 * (memoType.owner finds it from a key). The cache keeps the owner's entries on
 * a list inside it, so that memoDropOwner costs O(entries of the owner) with
 * no allocation. Fields are the cache's except weight. An owner is used with
 * one cache only, is protected by that cache's lock, and must stay valid while
 * it has entries there (it has none after memoDropOwner or a clear). */
typedef struct memoOwner {
    memoLink entries; /* the cache's: its entries, oldest first */
    uint64_t epoch;   /* the cache's: the clear generation the list belongs to */
    size_t count;     /* the cache's: entries held now */
    /* Bytes the owner itself keeps alive (say, an instance's), counted once in
     * the cache's currbytes while it has at least one entry. Set before its
     * first entry; do not change it while it has entries. */
    size_t weight;
} memoOwner;

/* How a cache handles its keys and values. Every callback receives the
 * cache's ctx (memoConfig.ctx) first, as redis' dictType callbacks receive
 * their dict. key_size and val_size are required, every callback is optional:
 *   hash    NULL: memoHashBytes() of the key record (keyed: the safe default)
 *   equal   NULL: the key records' bytes are compared (memcmp)
 *   key_release, val_release  NULL: the record owns nothing
 *   weight  the entry's own bytes, asked once when it is stored; NULL: 0
 *   owner   the owner the entry belongs to, from its key; NULL (or a NULL
 *           answer): no owner. The answer for a stored key must not change.
 * Each receives a pointer to the stored record (key_size or val_size bytes). */
typedef struct memoType {
    size_t key_size;
    size_t val_size;
    uint64_t (*hash)(void *ctx, const void *key);
    bool (*equal)(void *ctx, const void *k1, const void *k2);
    void (*key_release)(void *ctx, void *key);
    void (*val_release)(void *ctx, void *val);
    size_t (*weight)(void *ctx, const void *key, const void *val);
    memoOwner *(*owner)(void *ctx, const void *key);
} memoType;

/* A monotonic clock in nanoseconds (injectable for tests). */
typedef uint64_t memoClock(void *ctx);

/* Counters shared by a group of caches. Initialise with memoStatsInit() or
 * zero it. All fields are monotonic except currsize and currbytes. */
typedef struct memoStats {
    atomic_uint_fast64_t hits;
    atomic_uint_fast64_t misses;
    atomic_uint_fast64_t evictions;   /* by maxsize or maxbytes */
    atomic_uint_fast64_t expirations; /* by the TTL */
    atomic_uint_fast64_t removals;    /* by memoDelete or memoDropOwner */
    atomic_uint_fast64_t currsize;    /* entries held now by the group's caches */
    atomic_uint_fast64_t currbytes;   /* their weights, each owner's once */
} memoStats;

/* Python's cache_info(), plus the other counters since creation or the last
 * clear. maxsize and maxbytes are MEMO_UNBOUNDED when there is no bound. */
typedef struct memoInfo {
    uint64_t hits;
    uint64_t misses;
    size_t maxsize;
    size_t currsize;
    uint64_t evictions;
    uint64_t expirations;
    uint64_t removals;
    size_t maxbytes;
    size_t currbytes;
    bool moving;        /* an incremental table move is in progress */
    size_t table_bytes; /* the hash table's blocks now (both tables mid-move) */
} memoInfo;

/* What a cache is made with (memoCreateWith). Zero it, then set what you use;
 * maxsize and maxbytes must be set (MEMO_UNBOUNDED for no bound). */
typedef struct memoConfig {
    size_t maxsize;   /* entries: n, MEMO_UNBOUNDED, or 0 = disabled */
    size_t maxbytes;  /* bytes: n or MEMO_UNBOUNDED */
    uint64_t ttl_ns;  /* 0: no TTL; else an entry expires ttl_ns after its store */
    bool stamp;       /* keep each entry's store time even without a TTL */
    memoStats *stats; /* may be NULL; else it must outlive the cache */
    void *ctx;        /* given to every callback and to clock */
    /* NULL: CLOCK_MONOTONIC; with a TTL of 100 ticks of CLOCK_MONOTONIC_COARSE
     * or more (400 ms at 250 Hz), that clock: cheaper to read, never ahead of
     * CLOCK_MONOTONIC, behind it by up to about a tick, so an entry expires
     * within about a tick (about 1% of the TTL or less) of its TTL. */
    memoClock *clock;
} memoConfig;

/* One entry as do_memoOwnerEntries shows it: key and val point into the
 * cache and are valid while the caller holds the lock; stored_ns is when it
 * was stored on the cache's clock (0 unless the cache has a TTL or stamps). */
typedef struct memoEntryView {
    const void *key;
    const void *val;
    uint64_t stored_ns;
} memoEntryView;

typedef struct memo memo; /* opaque */

#endif /* MEMO_TYPES_H */
