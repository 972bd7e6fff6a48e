/* rscope.h -- the global and shared scopes with their entries in Redis.
 *
 * The scope decides the key; Redis holds the entry (rcli.h talks to it):
 *   shared  <prefix>shared:<a>:<b>: a hit for every replica. The first miss
 *           of a key in this process leads a flight that the others join;
 *           across replicas the leader takes <prefix>lock:shared:<a>:<b>
 *           with SET NX PX, and a leader that finds it taken polls for the
 *           value (a timer, no thread) and counts as coalesced.
 *   global  <prefix>global:<replica>:<id>:<a>:<b>: the instance in the key,
 *           so never a hit across requests and one more key per request.
 *           The entry holds no memory of this process: Redis grows.
 *
 * Every lookup that asks Redis returns SCOPE_WAIT; the waiter's wake is
 * called later from rcli's loop (or the timer) thread with outcome
 * SCOPE_HIT (result set) or SCOPE_MISS (compute, then rscopeStore). When
 * Redis is down or fails, the outcome is SCOPE_MISS and the value is
 * computed without the cache: nothing waits beyond the reply timeout
 * (--redis-timeout-ms).
 *
 * Thread-safe: any thread between rscopeInit and rscopeShutdown.
 */
#ifndef RSCOPE_H
#define RSCOPE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "scope.h"

/* Starts the Redis connection (in the background: Redis may be down). cfg
 * must outlive the scope. Returns false if its thread cannot start. */
bool rscopeInit(const config *cfg);

/* Stops the connection; every command pending fails (their requests
 * compute without the cache) and every flight is freed. */
void rscopeShutdown(void);

/* As scopeLookup and scopeStore (scope.h). */
scopeLookupResult rscopeLookup(adder *ad, int64_t a, int64_t b, int64_t *result, scopeWaiter *w,
                               bool allow_wait);
void rscopeStore(adder *ad, int64_t a, int64_t b, int64_t result);

/* Counters of this process's lookups; currsize is the sampled key count. */
scopeCounters rscopeGetCounters(void);

/* scopeCacheClear with the redis backend: our prefix's keys, removed on
 * the client.s loop thread (rcliClearStart); c->done is called from there. Same
 * contract as scopeCacheClear (c's counts zeroed by the caller). */
bool rscopeClear(scopeClear *c);

/* scopeClearHurry with the redis backend (rcliClearHurry). */
void rscopeClearHurry(void);

#endif /* RSCOPE_H */
