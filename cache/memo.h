/* memo.h -- a memo cache with Python's functools.lru_cache semantics.
 *
 * A memo cache maps keys to values, both fixed-size byte records whose sizes
 * are chosen when the cache is created (so a key may be a struct of any size).
 * It is one of three kinds, chosen by maxsize exactly as lru_cache does:
 *
 *   maxsize > 0            bounded LRU: a put into a full cache evicts the least
 *                          recently used entry; get and put are O(1).
 *   maxsize == MEMO_UNBOUNDED  never evicts by count; grows without limit.
 *   maxsize == 0           disabled: every get is a miss, nothing is stored.
 *
 * Three bounds may be added (memoCreateWith): a TTL (an entry expires ttl
 * after it was stored, as cachetools' TTLCache: an expired get is a miss),
 * a byte bound (maxbytes: least recently used entries are evicted until the
 * bytes fit; with maxsize too, whichever binds first evicts), and owners (an
 * entry may belong to an owner, whose entries can all be dropped at once, and
 * whose own bytes count once however many entries name it).
 *
 * Costs. Every operation is O(1), or amortised O(1) for what it releases
 * (each entry is released once): get, put, delete; memoDropOwner is
 * O(entries of the owner); memoClear is O(1) under the lock. The table grows
 * incrementally, as redis' dict.c does: while it doubles, the old and the new
 * table live side by side and each operation moves a bounded number of
 * buckets, so no single operation pays for the whole table; memoSweep()
 * finishes a move for a cache that is idle.
 *
 * Memory. Entries live in chunks the cache allocates (one entry is one slot:
 * links, then the key and value records inline); an entry removed by delete,
 * expiry or owner drop goes back to the cache's free slots, reused by the
 * next put, and the chunks are freed by memoClear and memoDestroy. A bounded
 * cache never holds slots for more than maxsize entries. For a 16-byte key and
 * an 8-byte value, a slot is 48 bytes (more with TTL, owners or weights).
 *
 * Ownership. What a key or value refers to (for example a counted reference
 * to an object) is owned by the cache once it is stored, and released through
 * the release callbacks of its memoType exactly once: on eviction, expiry,
 * delete, owner drop, clear and destroy. A put that does not store releases
 * what it was given at once, so the caller never has to ask what happened to
 * it. The callbacks get a pointer to the cache's own copy of the record,
 * aligned to 8 bytes; the caller's records are never written.
 *
 * Statistics. Every cache counts hits, misses, evictions (by maxsize or
 * maxbytes), expirations (by TTL) and removals (delete, owner drop). A cache
 * may also report into a memoStats group shared by many caches: the group's
 * counters are the sums over every cache that exists and has existed, and
 * never go back (clear resets a cache's own counters, as Python's cache_clear
 * resets hits and misses, but not the group's), except currsize and currbytes.
 *
 * Thread safety. Each cache has one mutex. Every function without the do_
 * prefix takes it; a do_ function expects the caller to hold it through
 * memoLock(), so that a caller can make several operations one atomic step.
 * Callbacks run with the lock held (they must not call into the same cache;
 * another cache is fine), except the release callbacks of a clear, which run
 * after the lock is dropped, on the thread that called memoClear. memoStats
 * counters are atomics and may be read from any thread at any time. memoGet
 * hashes the key before it takes the lock when the type has no hash callback
 * (the built-in SipHash reads nothing that changes), so the lock is held for
 * the lookup only.
 */
#ifndef MEMO_H
#define MEMO_H

#include "memo_types.h"

/* -------------------------------------------------------------------- API */

/* lru_cache(maxsize): memoCreateWith() with only maxsize and stats set (no
 * TTL, no byte bound, ctx NULL). */
memo *memoCreate(const memoType *type, size_t maxsize, memoStats *stats);

/* Creates a cache. type must outlive it, and cfg->stats when given; cfg is
 * copied. Allocates no table until the first put. The caller owns the cache
 * and frees it with memoDestroy(). Returns NULL when out of memory or when
 * type or cfg is invalid (no type, a zero record size, maxbytes 0). */
memo *memoCreateWith(const memoType *type, const memoConfig *cfg);

/* Releases every entry (on the calling thread, with the cache's ctx) and
 * frees the cache. The group keeps the cache's counts; its currsize and
 * currbytes drop by what was released. NULL is a no-op. */
void memoDestroy(memo *m);

/* Looks key up. On a hit, copies the value into val_out (val_size bytes),
 * makes the entry the most recently used, counts a hit and returns true.
 * On a miss counts a miss and returns false; val_out is untouched. A disabled
 * cache always misses. With a TTL an expired entry is a miss, and it is
 * released then, with every entry stored before it (counted in expirations).
 * (An unbounded cache keeps insertion order, as lru_cache(maxsize=None) does.)
 * The value copied out is not a new reference: the caller who needs one takes
 * it while holding the lock (memoLock() and do_memoGet()). */
bool memoGet(memo *m, const void *key, void *val_out);

/* Stores key -> val, copying both records, as the most recently used entry.
 * Before: with a TTL, releases every expired entry (as cachetools' TTLCache
 * does on a store); with maxsize, evicts the least recently used entry when
 * the cache is full. After: with maxbytes, evicts least recently used entries
 * until currbytes <= maxbytes. Counts no hit or miss.
 *
 * The cache takes ownership of both records in every case: when it does not
 * store them, it releases them before returning. That happens with maxsize 0;
 * when the key is already present (then nothing in the cache changes: this is
 * what CPython's bounded lru_cache does when the same key was stored while the
 * function ran; for a memoised pure function both values are equal); when the
 * entry alone weighs more than maxbytes (its weight plus its owner's, what it
 * would weigh as the last entry left: cachetools raises "value too large");
 * and when out of memory. Returns true when the entry was stored, false otherwise. */
bool memoPut(memo *m, const void *key, const void *val);

/* Counts a hit that was answered without a lookup, e.g. by a caller that
 * waited for the same key's computation already in flight. */
void memoCountHit(memo *m);

/* Removes key's entry if there is one, releasing it (a removal). Returns
 * whether there was one. */
bool memoDelete(memo *m, const void *key);

/* Removes every entry whose owner is o, oldest first, releasing each (with
 * the lock held) and counting removals; O(entries of o). Returns how many.
 * For a weak reference's callback: call it before o's object is freed, and
 * never from a release callback of the same cache. */
size_t memoDropOwner(memo *m, memoOwner *o);

/* cache_clear(). Detaches every entry and table in O(1) under the lock and
 * resets the cache's counters (hits, misses, evictions, expirations,
 * removals); the group's currsize and currbytes drop at once by what was
 * detached. Then, with the lock dropped, releases the detached entries on the
 * calling thread, least recently used first (insertion order when unbounded),
 * and frees their memory. Other threads use the emptied cache meanwhile, so a
 * reader of the group sees currsize without the detached entries while the
 * objects they own are still being released; when memoClear returns, every
 * one of them has been released. Returns how many entries were released.
 * memoClearWith gives release_ctx instead of the cache's ctx to the release
 * callbacks of this clear (to count what this clear freed). */
size_t memoClear(memo *m);
size_t memoClearWith(memo *m, void *release_ctx);

/* Background work, for a timer: moves up to budget buckets of a table move
 * in progress and releases up to budget expired entries. Returns true when
 * work is left (call again), false when the cache is idle. O(budget).
 * memoTrySweep does the same if the lock is free, and nothing (returning
 * false) if another thread holds it: a cache in use moves its table and
 * expires its entries through its own operations, and a timer that waited
 * for the lock would make them wait in turn, once per round. */
bool memoSweep(memo *m, size_t budget);
bool memoTrySweep(memo *m, size_t budget);

/* cache_info(), plus the other counters since creation or the last clear. */
memoInfo memoGetInfo(memo *m);

/* Takes and drops the cache's lock, for the do_ functions below. memoUnlock
 * frees, after dropping the lock, a table a move has finished with. */
void memoLock(memo *m);
void memoUnlock(memo *m);

/* The same operations for a caller that holds the lock (no do_ clear: a
 * clear releases outside the lock by design). */
bool do_memoGet(memo *m, const void *key, void *val_out);
bool do_memoPut(memo *m, const void *key, const void *val);
void do_memoCountHit(memo *m);
bool do_memoDelete(memo *m, const void *key);
size_t do_memoDropOwner(memo *m, memoOwner *o);
bool do_memoSweep(memo *m, size_t budget);
memoInfo do_memoGetInfo(memo *m);

/* Shows up to max entries of o, newest first, in out. Returns how many
 * entries o has in this cache (which may exceed max). */
size_t do_memoOwnerEntries(memo *m, const memoOwner *o, memoEntryView *out, size_t max);

/* Makes o an owner with no entries and the given weight. Never fails. */
void memoOwnerInit(memoOwner *o, size_t weight);

/* Zeroes a statistics group. */
void memoStatsInit(memoStats *s);

/* SipHash-1-3 (the hash of CPython's str and bytes) of len bytes under a
 * per-process random 128-bit key (from getrandom() on first use), for
 * memoType.hash implementations: keys an attacker chooses do not collide
 * more than chance allows. Not stable across processes: do not store hashes.
 * data may be NULL when len is 0. Thread-safe. */
uint64_t memoHashBytes(const void *data, size_t len);

/* The same under an explicit 16-byte key (for tests and reproducible runs). */
uint64_t memoHashBytesKeyed(const unsigned char key[16], const void *data, size_t len);

#endif /* MEMO_H */
