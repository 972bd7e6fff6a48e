/* scope.h -- where the memo cache of SlowAdder.calculate lives.
 *
 *   global  one process-wide cache keyed by (instance, a, b): every entry
 *           holds a counted reference to its instance (lru_cache on a method).
 *   local   one cache per instance keyed by (a, b), freed with it.
 *   shared  one process-wide cache keyed by (a, b), holding no instance;
 *           concurrent misses of one key wait for the single computation in
 *           flight (single-flight) and count as hits that waited (coalesced).
 *   off     no cache.
 *   weak    one process-wide cache keyed by (instance, a, b) whose entries
 *           hold no reference: when an instance is freed its entries are
 *           removed at once (what a weak reference's callback does).
 *
 * Every cache has the configured bounds: maxsize, maxbytes (in global scope
 * an entry weighs its instance, counted once however many entries name it;
 * elsewhere its own key and value) and ttl_ns. Expired entries of the
 * process-wide cache are released by a sweep on the timer thread, also when
 * no request comes (scopeSweepStart); a local cache lives as long as its
 * request, so only its own lookups expire its entries.
 *
 * A caller looks a call up with scopeLookup. On SCOPE_MISS it must compute
 * the value (after the delay) and hand it to scopeStore, which also wakes
 * every caller that queued behind it. On SCOPE_WAIT its waiter is queued and
 * its wake callback will be called, from the thread that calls scopeStore,
 * with waiter->result set. With the redis backend (backend.h) a lookup of
 * global or shared scope waits for Redis, and its wake may instead say
 * SCOPE_MISS: the caller then computes and stores as after a miss.
 *
 * Thread-safe: every function may be called from any thread after
 * scopeInit and before scopeShutdown.
 */
#ifndef SCOPE_H
#define SCOPE_H

#include <stdbool.h>
#include <stdint.h>

#include "adder.h"
#include "memo.h"
#include "scope_types.h"

/* Sets the scope up (s is copied; its strings must outlive the scope).
 * Returns false when out of memory or when the backend cannot start. */
bool scopeInit(const scopeSettings *s);

/* The name of a scope ("global", ...) and of a backend ("memory", "redis"). */
const char *scopeKindName(scopeKind k);
const char *scopeBackendKindName(backendKind b);

/* The scope in use, and the backend configured (which local, off and weak
 * scope do not use). */
scopeKind scopeKindInUse(void);
backendKind scopeBackendKindInUse(void);

/* Do the process-wide entries live in Redis (global or shared scope with
 * the redis backend)? */
bool scopeUsesRedis(void);

/* Starts the sweep of the process-wide cache on the timer thread (which
 * must be running): every 100 ms it releases the entries whose TTL passed
 * and moves a growing table along, so that both happen without traffic.
 * Returns false if the timer had no slot. Call once, after timerStart. */
bool scopeSweepStart(void);

/* The sweep ends at its next tick (which still runs once). Call it when
 * shutting down, before timerHurry and timerStop: a hurried sweep would
 * otherwise come back at once, again and again. */
void scopeSweepStop(void);

/* Frees every cache and, with them, every instance they hold. */
void scopeShutdown(void);

/* Makes the SlowAdder for one request, with its own cache in local scope.
 * The caller owns the one reference. NULL when out of memory. */
adder *scopeNewAdder(unsigned delay_ms);

/* Looks calculate(a, b) up for ad. waiter is used only when SCOPE_WAIT is
 * returned and must then stay valid until its wake is called. When
 * allow_wait is false the lookup never returns SCOPE_WAIT. */
scopeLookupResult scopeLookup(adder *ad, int64_t a, int64_t b, int64_t *result, scopeWaiter *waiter,
                              bool allow_wait);

/* Stores a value computed after SCOPE_MISS and wakes its waiters. */
void scopeStore(adder *ad, int64_t a, int64_t b, int64_t result);

/* cache_info() of the process-wide cache; in local scope, the sums over the
 * per-instance caches that exist now (hits and misses over all of them); in
 * off scope, zeros with maxsize 0 (there is no cache). */
memoInfo scopeCacheInfo(void);

/* Empties the process-wide cache and sets how many entries and instances it
 * freed (both 0 in local and off scope, which have none). The memory backend
 * clears at once and asks for the freed pages to go back to the kernel
 * (allocReleaseLater: within a second, on the sampler's thread), so that RSS
 * falls with them. With the redis backend the entries are our
 * prefix's keys, removed by SCAN + UNLINK on the backend's own thread: no
 * caller waits on Redis. Returns true when the clear is over now (c is set;
 * done is never called): the memory backend, or a backend that failed at
 * once. Returns false when done(c) will be called exactly once later, from
 * the backend's thread (never from inside this call), with c set; c must
 * stay valid until then. Each step is bounded by the backend's reply
 * timeout: a fault ends the clear (failed, with what it removed before). */
bool scopeCacheClear(scopeClear *c);

/* Shutdown, once requests have had their grace: every clear in flight, and
 * any started from now on, stops at its next step (within one reply
 * timeout) and ends failed ("shutting down") with what it removed so far. */
void scopeClearHurry(void);

scopeCounters scopeGetCounters(void);

/* The process-wide cache's entries whose key names ad, for GET /instances:
 * in global scope those that hold it, in weak scope those that name it
 * without holding it (*holding says which). Copies up to max of them
 * (SCOPE_ENTRIES_MAX at most), newest first, into out, and returns how many
 * name it (which may exceed max); 0 in the other scopes and with the redis
 * backend. The caller holds a reference to ad. Thread-safe: takes the cache's
 * lock (never call it holding the registry's: a release under the cache's
 * lock takes that one). */
size_t scopeEntriesOf(const adder *ad, scopeEntry *out, size_t max, bool *holding);

#endif /* SCOPE_H */
