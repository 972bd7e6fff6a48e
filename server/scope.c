/* scope.c -- the four cache scopes and single-flight for the shared one. */
#include "scope.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "heap.h"
#include "rscope.h"

/* ------------------------------------------------------------------ types */

/* global scope: the key names the instance and holds a reference to it. */
typedef struct globalKey {
    adder *ad;
    int64_t a, b;
} globalKey;
/* It is hashed and compared as raw bytes: padding would be bytes no one set. */
_Static_assert(sizeof(globalKey) == sizeof(adder *) + 2 * sizeof(int64_t), "globalKey has padding");

/* local and shared scope. */
typedef struct pairKey {
    int64_t a, b;
} pairKey;

/* A computation in flight in shared scope, with who waits for it. Lives in
 * the flight table, which the shared cache's lock protects. */
typedef struct flight {
    struct flight *next;
    pairKey key;
    scopeWaiter *waiters;
} flight;

#define FLIGHT_BUCKETS 4096 /* power of two; flights <= requests in flight */

static struct {
    scopeKind kind;
    bool redis; /* global and shared live in Redis: rscope.c */
    size_t maxsize;
    size_t instance_bytes;
    memo *cache; /* the process-wide cache (global, shared), else NULL */
    memoStats stats;
    atomic_uint_fast64_t coalesced;
    flight *flights[FLIGHT_BUCKETS];
} S;

/* The cache hashes and compares keys as raw bytes (memoType's defaults):
 * a pair key may have no padding either. */
_Static_assert(sizeof(pairKey) == 2 * sizeof(int64_t), "pairKey has padding");

/* ---------------------------------------------------------------- private */

/* A global key's release drops the entry's reference to its instance. ctx is
 * the cache's (NULL: nobody counts) or, during a clear, the clear's own
 * counter of the instances it freed (memoClearWith). */
static void _globalRelease(void *ctx, void *key) {
    if (adderRelease(((globalKey *)key)->ad) && ctx)
        (*(uint64_t *)ctx)++;
}

static uint64_t _pairHash(const void *key) {
    return memoHashBytes(key, sizeof(pairKey));
}

static bool _pairEqual(const void *k1, const void *k2) {
    const pairKey *x = k1, *y = k2;
    return x->a == y->a && x->b == y->b;
}

static const memoType global_type = {
    .key_size = sizeof(globalKey), .val_size = sizeof(int64_t), .key_release = _globalRelease};
static const memoType pair_type = {.key_size = sizeof(pairKey), .val_size = sizeof(int64_t)};

static flight **_flightSlot(const pairKey *k) {
    flight **slot = &S.flights[_pairHash(k) & (FLIGHT_BUCKETS - 1)];
    while (*slot && !_pairEqual(&(*slot)->key, k))
        slot = &(*slot)->next;
    return slot;
}

/* shared scope: a waiting caller never does its own lookup (it would count
 * a miss), so the flight table is asked first, under the cache's lock. */
static scopeLookupResult _sharedLookup(int64_t a, int64_t b, int64_t *result, scopeWaiter *w,
                                       bool allow_wait) {
    pairKey k = {a, b};
    bool coalesce = allow_wait && S.maxsize != 0; /* maxsize 0 caches nothing */
    scopeLookupResult r;

    memoLock(S.cache);
    flight **slot = coalesce ? _flightSlot(&k) : NULL;
    if (slot && *slot) {
        w->next = (*slot)->waiters;
        (*slot)->waiters = w;
        do_memoCountHit(S.cache);
        atomic_fetch_add_explicit(&S.coalesced, 1, memory_order_relaxed);
        r = SCOPE_WAIT;
    } else if (do_memoGet(S.cache, &k, result)) {
        r = SCOPE_HIT;
    } else {
        r = SCOPE_MISS;
        if (slot) {
            flight *f = calloc(1, sizeof(*f));
            if (f) { /* without it, this miss just does not coalesce */
                f->key = k;
                *slot = f;
            }
        }
    }
    memoUnlock(S.cache);
    return r;
}

static void _sharedStore(int64_t a, int64_t b, int64_t result) {
    pairKey k = {a, b};
    scopeWaiter *waiters = NULL;

    memoLock(S.cache);
    do_memoPut(S.cache, &k, &result);
    flight **slot = _flightSlot(&k);
    flight *f = *slot;
    if (f) {
        *slot = f->next;
        waiters = f->waiters;
        for (scopeWaiter *w = waiters; w; w = w->next) {
            w->outcome = SCOPE_HIT;
            w->result = result;
        }
    }
    memoUnlock(S.cache);
    free(f);

    /* A woken waiter may finish and be freed at once: read next first. */
    while (waiters) {
        scopeWaiter *next = waiters->next;
        waiters->wake(waiters);
        waiters = next;
    }
}

/* -------------------------------------------------------------------- API */

bool scopeInit(const config *cfg) {
    memset(&S, 0, sizeof(S));
    memoStatsInit(&S.stats);
    S.kind = cfg->scope;
    S.maxsize = cfg->maxsize;
    S.instance_bytes = cfg->instance_bytes;
    S.redis = configUsesRedis(cfg);
    if (S.redis)
        return rscopeInit(cfg);
    if (S.kind == SCOPE_GLOBAL)
        S.cache = memoCreate(&global_type, S.maxsize, &S.stats);
    else if (S.kind == SCOPE_SHARED)
        S.cache = memoCreate(&pair_type, S.maxsize, &S.stats);
    return S.cache || S.kind == SCOPE_LOCAL || S.kind == SCOPE_OFF;
}

void scopeShutdown(void) {
    if (S.redis)
        rscopeShutdown();
    memoDestroy(S.cache);
    S.cache = NULL;
    for (size_t i = 0; i < FLIGHT_BUCKETS; i++) {
        while (S.flights[i]) { /* none are left after a drain; be tidy anyway */
            flight *f = S.flights[i];
            S.flights[i] = f->next;
            free(f);
        }
    }
}

adder *scopeNewAdder(unsigned delay_ms) {
    memo *own = NULL;
    if (S.kind == SCOPE_LOCAL) {
        own = memoCreate(&pair_type, S.maxsize, &S.stats);
        if (!own)
            return NULL;
    }
    return adderCreate(S.instance_bytes, delay_ms, own);
}

scopeLookupResult scopeLookup(adder *ad, int64_t a, int64_t b, int64_t *result, scopeWaiter *waiter,
                              bool allow_wait) {
    if (S.redis)
        return rscopeLookup(ad, a, b, result, waiter, allow_wait);
    switch (S.kind) {
    case SCOPE_GLOBAL: {
        globalKey k = {ad, a, b};
        return memoGet(S.cache, &k, result) ? SCOPE_HIT : SCOPE_MISS;
    }
    case SCOPE_LOCAL: {
        pairKey k = {a, b};
        return memoGet(ad->cache, &k, result) ? SCOPE_HIT : SCOPE_MISS;
    }
    case SCOPE_SHARED:
        return _sharedLookup(a, b, result, waiter, allow_wait);
    case SCOPE_OFF:
        break;
    }
    return SCOPE_MISS;
}

void scopeStore(adder *ad, int64_t a, int64_t b, int64_t result) {
    if (S.redis) {
        rscopeStore(ad, a, b, result);
        return;
    }
    switch (S.kind) {
    case SCOPE_GLOBAL: {
        globalKey k = {ad, a, b};
        adderRetain(ad); /* the entry's reference; memoPut owns it from here */
        memoPut(S.cache, &k, &result);
        break;
    }
    case SCOPE_LOCAL: {
        pairKey k = {a, b};
        memoPut(ad->cache, &k, &result);
        break;
    }
    case SCOPE_SHARED:
        _sharedStore(a, b, result);
        break;
    case SCOPE_OFF:
        break;
    }
}

memoInfo scopeCacheInfo(void) {
    if (S.redis) {
        scopeCounters c = rscopeGetCounters();
        memoInfo info = {0};
        info.hits = c.hits;
        info.misses = c.misses;
        info.currsize = c.currsize;
        info.maxsize = S.maxsize;
        return info;
    }
    if (S.cache)
        return memoGetInfo(S.cache);
    memoInfo info = {0};
    info.maxsize = S.kind == SCOPE_OFF ? 0 : S.maxsize; /* off has no cache: it holds nothing */
    if (S.kind == SCOPE_LOCAL) {
        info.hits = atomic_load_explicit(&S.stats.hits, memory_order_relaxed);
        info.misses = atomic_load_explicit(&S.stats.misses, memory_order_relaxed);
        info.currsize = atomic_load_explicit(&S.stats.currsize, memory_order_relaxed);
        info.evictions = atomic_load_explicit(&S.stats.evictions, memory_order_relaxed);
    }
    return info;
}

bool scopeCacheClear(uint64_t *entries_freed, uint64_t *instances_freed) {
    *entries_freed = 0;
    *instances_freed = 0;
    if (S.redis) { /* Redis holds no instance of ours */
        long long n = rscopeClear();
        *entries_freed = n > 0 ? (uint64_t)n : 0;
        return n >= 0;
    }
    if (!S.cache)
        return true;
    uint64_t instances = 0;
    *entries_freed = memoClearWith(S.cache, &instances);
    *instances_freed = instances;
    /* Hand the freed pages back to the kernel, so that RSS falls with the
     * instances, as a person watching the live page expects. */
    if (*entries_freed > 0)
        heapRelease();
    return true;
}

scopeCounters scopeGetCounters(void) {
    if (S.redis)
        return rscopeGetCounters();
    scopeCounters c;
    c.hits = atomic_load_explicit(&S.stats.hits, memory_order_relaxed);
    c.misses = atomic_load_explicit(&S.stats.misses, memory_order_relaxed);
    c.coalesced = atomic_load_explicit(&S.coalesced, memory_order_relaxed);
    c.currsize = atomic_load_explicit(&S.stats.currsize, memory_order_relaxed);
    c.evictions = atomic_load_explicit(&S.stats.evictions, memory_order_relaxed);
    return c;
}
