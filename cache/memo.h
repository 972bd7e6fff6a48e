/* memo.h -- a memo cache with Python's functools.lru_cache semantics.
 *
 * A memo cache maps keys to values, both fixed-size byte records whose sizes
 * are chosen when the cache is created (so a key may be a struct of any size).
 * It is one of three kinds, chosen by maxsize exactly as lru_cache does:
 *
 *   maxsize > 0            bounded LRU: a put into a full cache evicts the least
 *                          recently used entry; get and put are O(1).
 *   maxsize == MEMO_UNBOUNDED  never evicts; grows without limit.
 *   maxsize == 0           disabled: every get is a miss, nothing is stored.
 *
 * Ownership. What a key or value refers to (for example a counted reference
 * to an object) is owned by the cache once it is stored, and released through
 * the release callbacks of its memoType exactly once: on eviction, on clear and
 * on destroy. A put that does not store (disabled cache, or key already
 * present) releases what it was given at once, so the caller never has to ask
 * what happened to it. The callbacks get a pointer to the cache's own copy of
 * the record, aligned for any type; the caller's records are never written.
 *
 * Statistics. Every cache counts hits, misses and evictions (cache_info(),
 * plus evictions). A cache may also report into a memoStats group shared by
 * many caches: the group's counters are the sums over every cache that exists
 * and has existed, and never go back (clear resets a cache's own hits and
 * misses, as Python does, but not the group's).
 *
 * Thread safety. Each cache has one mutex. Every function without the do_
 * prefix takes it; a do_ function expects the caller to hold it through
 * memoLock(), so that a caller can make several operations one atomic step.
 * Release callbacks run with the lock held: they must not call into the same
 * cache (calling into another cache is fine). memoStats counters are atomics
 * and may be read from any thread at any time.
 */
#ifndef MEMO_H
#define MEMO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* maxsize for a cache that never evicts (lru_cache(maxsize=None)). */
#define MEMO_UNBOUNDED SIZE_MAX

/* ------------------------------------------------------------------ types */

/* How a cache handles its keys and values. hash and equal are required;
 * either release may be NULL when keys or values own nothing. Each function
 * receives a pointer to the stored record (key_size or val_size bytes). */
typedef struct memoType {
    size_t key_size;
    size_t val_size;
    uint64_t (*hash)(const void *key);
    bool (*equal)(const void *k1, const void *k2);
    void (*key_release)(void *key);
    void (*val_release)(void *val);
} memoType;

/* Counters shared by a group of caches. Initialise with memoStatsInit() or
 * zero it. All fields are monotonic except currsize. */
typedef struct memoStats {
    atomic_uint_fast64_t hits;
    atomic_uint_fast64_t misses;
    atomic_uint_fast64_t evictions;
    atomic_uint_fast64_t currsize; /* entries held now by the group's caches */
} memoStats;

/* Python's cache_info(), plus evictions. maxsize is MEMO_UNBOUNDED for an
 * unbounded cache. */
typedef struct memoInfo {
    uint64_t hits;
    uint64_t misses;
    size_t maxsize;
    size_t currsize;
    uint64_t evictions;
} memoInfo;

typedef struct memo memo; /* opaque */

/* -------------------------------------------------------------------- API */

/* Creates a cache of the given kind. type must outlive the cache. stats may
 * be NULL; when given, it must outlive the cache and the cache adds its
 * counts to it. A bounded cache allocates its hash table for maxsize at once
 * (up to a cap, beyond which it grows as needed); a disabled one allocates
 * nothing more. The caller owns the cache and frees it with memoDestroy().
 * Returns NULL when out of memory or when type is incomplete (NULL, no
 * hash/equal, or a zero key or value size). */
memo *memoCreate(const memoType *type, size_t maxsize, memoStats *stats);

/* Clears the cache (releasing every entry, as memoClear()) and frees it. The
 * group keeps the cache's hits, misses and evictions; its currsize drops by
 * the entries released. NULL is a no-op. */
void memoDestroy(memo *m);

/* Looks key up. On a hit, copies the value into val_out (val_size bytes),
 * makes the entry the most recently used, counts a hit and returns true.
 * On a miss counts a miss and returns false; val_out is untouched. A disabled
 * cache always misses. (An unbounded cache keeps insertion order, as
 * lru_cache(maxsize=None) does: with no eviction, recency decides nothing.)
 * The value copied out is not a new reference: the caller who needs one takes
 * it while holding the lock (memoLock() and do_memoGet()). */
bool memoGet(memo *m, const void *key, void *val_out);

/* Stores key -> val, copying both records, and makes the entry the most
 * recently used; evicts the least recently used entry first when the cache
 * is full (releasing its records and counting an eviction). Counts no hit or
 * miss: memoGet() has counted the lookup that led here.
 *
 * The cache takes ownership of both records in every case: when it does not
 * store them, it releases them before returning. That happens with maxsize 0,
 * and when the key is already present: then nothing in the cache changes,
 * neither the stored value nor its place in the LRU order. This is what
 * CPython's bounded lru_cache does when the same key was stored while the
 * function ran (bounded_lru_cache_wrapper in Modules/_functoolsmodule.c:
 * "the link update is already done", the new result is only returned).
 * lru_cache(maxsize=None) overwrites the value instead; for a memoised pure
 * function the two values are equal, and one rule for every kind keeps the
 * ownership simple.
 *
 * Returns true when the entry was stored, false otherwise; on out of memory
 * the records are released, nothing else changes and false is returned. */
bool memoPut(memo *m, const void *key, const void *val);

/* Counts a hit that was answered without a lookup, e.g. by a caller that
 * waited for the same key's computation already in flight. */
void memoCountHit(memo *m);

/* cache_clear(): releases every entry, least recently used first (insertion
 * order when unbounded), as cache_clear() drops them, and resets hits and
 * misses (and evictions) to zero. The group keeps its counts; its currsize
 * drops by the entries released. An unbounded cache gives back the table it
 * grew. Returns how many entries were released. */
size_t memoClear(memo *m);

/* cache_info(), plus evictions since creation or the last clear. */
memoInfo memoGetInfo(memo *m);

/* Takes and drops the cache's lock, for the do_ functions below. */
void memoLock(memo *m);
void memoUnlock(memo *m);

/* The same operations for a caller that holds the lock. */
bool do_memoGet(memo *m, const void *key, void *val_out);
bool do_memoPut(memo *m, const void *key, const void *val);
void do_memoCountHit(memo *m);
size_t do_memoClear(memo *m);
memoInfo do_memoGetInfo(memo *m);

/* Zeroes a statistics group. */
void memoStatsInit(memoStats *s);

/* A good 64-bit hash of len bytes, for memoType.hash implementations: fast
 * (a few ns for a 24-byte key), every input bit affects every output bit,
 * and the low bits alone are fit for a power-of-two table. Not keyed, so not
 * for keys an attacker chooses to collide. The same bytes hash the same in
 * one process; do not store hashes. data may be NULL when len is 0. */
uint64_t memoHashBytes(const void *data, size_t len);

#endif /* MEMO_H */
