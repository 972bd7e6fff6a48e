/* backend.h -- where the process-wide caches keep their entries: one small
 * table of functions per backend, which the scopes call (scope.c).
 *
 * The scope decides the key (scope.h): global and weak scope name the
 * instance, shared scope does not, local scope keeps a cache in each
 * instance. A backend decides where the process-wide entries live: in this
 * process (backend_memory.c) or in Redis, shared by every replica
 * (backend_redis.c). A third backend is one more file that fills this table
 * and one more line in scope.c's choice of backend.
 *
 * Every function may be called from any thread between init and shutdown,
 * and does what the scope.h function of the same name says it does.
 */
#ifndef BACKEND_H
#define BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adder.h"
#include "memo.h"
#include "scope_types.h"

typedef struct scopeBackend {
    const char *name;
    /* s stays valid until shutdown. False: the backend cannot start. */
    bool (*init)(const scopeSettings *s);
    void (*shutdown)(void);
    /* A new instance of the scope, before any lookup names it; NULL when
     * the backend needs nothing of it. */
    void (*adopt)(adder *ad);
    scopeLookupResult (*lookup)(adder *ad, int64_t a, int64_t b, int64_t *result,
                                scopeWaiter *waiter, bool allow_wait);
    void (*store)(adder *ad, int64_t a, int64_t b, int64_t result);
    memoInfo (*info)(void);
    scopeCounters (*counters)(void);
    bool (*clear)(scopeClear *c);
    void (*clear_hurry)(void); /* NULL: a clear never waits */
    size_t (*entries_of)(const adder *ad, scopeEntry *out, size_t max, bool *holding);
    bool (*sweep_start)(void); /* NULL: nothing to sweep here */
    void (*sweep_stop)(void);
} scopeBackend;

extern const scopeBackend scope_backend_memory;
extern const scopeBackend scope_backend_redis;

/* ------------------------------------------------ inside the scope layer */

/* A memo cache with the settings' bounds, reporting into stats: the memory
 * backend's process-wide cache, or a local scope's cache of one instance
 * (scope__pair_type: keyed by (a, b)). NULL when out of memory. */
extern const memoType scope__pair_type;
memo *scope__newCache(const memoType *type, const scopeSettings *s, memoStats *stats);

#endif /* BACKEND_H */
