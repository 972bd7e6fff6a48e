/* backend_memory.c -- the process-wide caches in this process: one memo
 * cache for global, shared or weak scope, single-flight for shared scope,
 * and the sweep that releases expired entries with no traffic. */
#include "backend.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "timer.h"

/* ------------------------------------------------------------------ types */

/* global and weak scope: the key names the instance; in global scope it
 * holds a reference to it, in weak scope it does not. */
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

/* The cache hashes and compares keys as raw bytes (memoType's defaults):
 * a pair key may have no padding either. */
_Static_assert(sizeof(pairKey) == 2 * sizeof(int64_t), "pairKey has padding");

/* A computation in flight in shared scope, with who waits for it. Lives in
 * the flight table, which the shared cache's lock protects. */
typedef struct flight {
    struct flight *next;
    pairKey key;
    scopeWaiter *waiters;
} flight;

#define FLIGHT_BUCKETS 4096 /* power of two; flights <= requests in flight */

/* The sweep: every SWEEP_MS the timer thread releases what expired (and
 * moves a table that is growing) in rounds of SWEEP_BUDGET, at most
 * SWEEP_ROUNDS a tick, so that neither the slow calls' timers nor the
 * requests waiting on the cache's lock are held up. Work left waits for the
 * next tick: requests move a growing table along themselves. A round only
 * starts when the lock is free (memoTrySweep: a cache in use does this work
 * itself) and is small, so that a request meets at most one round
 * (docs/design.md, "The cache's growth and clear"). */
#define SWEEP_MS 100
#define SWEEP_BUDGET 64
#define SWEEP_ROUNDS 256

static struct {
    const scopeSettings *settings;
    memo *cache; /* the process-wide cache */
    memoStats stats;
    atomic_uint_fast64_t coalesced;
    flight *flights[FLIGHT_BUCKETS];
    timer sweep;           /* owned here; on the timer's heap while sweeping */
    atomic_bool sweep_on;  /* cleared by sweepStop: the sweep ends */
    atomic_bool sweep_out; /* the sweep timer is pending or running */
} state;

/* ---------------------------------------------------------------- private */

/* A global key's release drops the entry's reference to its instance. ctx is
 * the cache's (NULL: nobody counts) or, during a clear, the clear's own
 * counter of the instances it freed (memoClearWith). */
static void globalRelease(void *ctx, void *key) {
    if (adderRelease(((globalKey *)key)->ad) && ctx)
        (*(uint64_t *)ctx)++;
}

/* The instance a global or weak entry belongs to: in global scope its bytes
 * count once in the cache's currbytes (its weight); in weak scope the entries
 * are dropped through it when it is freed (adderRelease). */
static memoOwner *keyOwner(void *ctx, const void *key) {
    (void)ctx;
    return &((const globalKey *)key)->ad->owner;
}

/* What an entry keeps alive of its own: its key and value records. */
static size_t pairWeight(void *ctx, const void *key, const void *val) {
    (void)ctx, (void)key, (void)val;
    return sizeof(pairKey) + sizeof(int64_t);
}

static size_t weakWeight(void *ctx, const void *key, const void *val) {
    (void)ctx, (void)key, (void)val;
    return sizeof(globalKey) + sizeof(int64_t);
}

static uint64_t pairHash(const void *key) {
    return memoHashBytes(key, sizeof(pairKey));
}

static bool pairEqual(const void *k1, const void *k2) {
    const pairKey *x = k1, *y = k2;
    return x->a == y->a && x->b == y->b;
}

/* A global entry weighs nothing of its own: what it keeps alive is its
 * instance, the owner's weight, counted once however many entries name it. */
static const memoType global_type = {.key_size = sizeof(globalKey),
                                     .val_size = sizeof(int64_t),
                                     .key_release = globalRelease,
                                     .owner = keyOwner};
static const memoType weak_type = {.key_size = sizeof(globalKey),
                                   .val_size = sizeof(int64_t),
                                   .weight = weakWeight,
                                   .owner = keyOwner};
const memoType scope__pair_type = {
    .key_size = sizeof(pairKey), .val_size = sizeof(int64_t), .weight = pairWeight};

/* Runs on the timer thread. */
static void sweepTick(timer *t) {
    for (int i = 0; i < SWEEP_ROUNDS && memoTrySweep(state.cache, SWEEP_BUDGET); i++)
        ;
    if (atomic_load(&state.sweep_on) && timerAdd(t, SWEEP_MS, sweepTick))
        return;
    /* timerAdd cannot fail while connections + TIMER_SPARE slots exist for
     * at most one timer per connection; say so if it ever does. */
    if (atomic_load(&state.sweep_on))
        fprintf(stderr, "memoscope: the cache sweep stopped: no timer slot left\n");
    atomic_store(&state.sweep_out, false);
}

static flight **flightSlot(const pairKey *k) {
    flight **slot = &state.flights[pairHash(k) & (FLIGHT_BUCKETS - 1)];
    while (*slot && !pairEqual(&(*slot)->key, k))
        slot = &(*slot)->next;
    return slot;
}

/* shared scope: a waiting caller never does its own lookup (it would count
 * a miss), so the flight table is asked first, under the cache's lock. */
static scopeLookupResult sharedLookup(int64_t a, int64_t b, int64_t *result, scopeWaiter *w,
                                      bool allow_wait) {
    pairKey k = {a, b};
    bool coalesce = allow_wait && state.settings->maxsize != 0; /* maxsize 0 caches nothing */
    scopeLookupResult r;
    memoLock(state.cache);
    flight **slot = coalesce ? flightSlot(&k) : NULL;
    if (slot && *slot) {
        w->next = (*slot)->waiters;
        (*slot)->waiters = w;
        do_memoCountHit(state.cache);
        atomic_fetch_add_explicit(&state.coalesced, 1, memory_order_relaxed);
        r = SCOPE_WAIT;
    } else if (do_memoGet(state.cache, &k, result)) {
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
    memoUnlock(state.cache);
    return r;
}

static void sharedStore(int64_t a, int64_t b, int64_t result) {
    pairKey k = {a, b};
    scopeWaiter *waiters = NULL;
    memoLock(state.cache);
    do_memoPut(state.cache, &k, &result);
    flight **slot = flightSlot(&k);
    flight *f = *slot;
    if (f) {
        *slot = f->next;
        waiters = f->waiters;
        for (scopeWaiter *w = waiters; w; w = w->next) {
            w->outcome = SCOPE_HIT;
            w->result = result;
        }
    }
    memoUnlock(state.cache);
    free(f);
    /* A woken waiter may finish and be freed at once: read next first. */
    while (waiters) {
        scopeWaiter *next = waiters->next;
        waiters->wake(waiters);
        waiters = next;
    }
}

/* ---------------------------------------------------------------- backend */

memo *scope__newCache(const memoType *type, const scopeSettings *s, memoStats *stats) {
    memoConfig c = {
        .maxsize = s->maxsize, .maxbytes = s->maxbytes, .ttl_ns = s->ttl_ns, .stats = stats};
    /* GET /instances shows each entry's age: keep its store time (the
     * cache's clock is CLOCK_MONOTONIC, clockNow's, or with a long TTL its
     * coarse reading, never ahead of it: ages read up to a tick long). */
    c.stamp = type == &global_type || type == &weak_type;
    return memoCreateWith(type, &c);
}

static bool memoryInit(const scopeSettings *s) {
    memset(&state, 0, sizeof(state));
    memoStatsInit(&state.stats);
    state.settings = s;
    const memoType *type = s->kind == SCOPE_GLOBAL   ? &global_type
                           : s->kind == SCOPE_WEAK   ? &weak_type
                           : s->kind == SCOPE_SHARED ? &scope__pair_type
                                                     : NULL;
    state.cache = type ? scope__newCache(type, s, &state.stats) : NULL;
    return state.cache != NULL;
}

static void memoryShutdown(void) {
    memoDestroy(state.cache);
    state.cache = NULL;
    for (size_t i = 0; i < FLIGHT_BUCKETS; i++) {
        while (state.flights[i]) { /* none are left after a drain; be tidy anyway */
            flight *f = state.flights[i];
            state.flights[i] = f->next;
            free(f);
        }
    }
}

static void memoryAdopt(adder *ad) {
    if (state.settings->kind == SCOPE_GLOBAL)
        ad->owner.weight = ad->alloc_bytes; /* what its entries keep alive */
    else if (state.settings->kind == SCOPE_WEAK)
        ad->weak_cache = state.cache; /* its entries leave with it */
}

static scopeLookupResult memoryLookup(adder *ad, int64_t a, int64_t b, int64_t *result,
                                      scopeWaiter *waiter, bool allow_wait) {
    if (state.settings->kind == SCOPE_SHARED)
        return sharedLookup(a, b, result, waiter, allow_wait);
    globalKey k = {ad, a, b};
    return memoGet(state.cache, &k, result) ? SCOPE_HIT : SCOPE_MISS;
}

static void memoryStore(adder *ad, int64_t a, int64_t b, int64_t result) {
    if (state.settings->kind == SCOPE_SHARED) {
        sharedStore(a, b, result);
        return;
    }
    globalKey k = {ad, a, b};
    if (state.settings->kind == SCOPE_GLOBAL)
        adderRetain(ad); /* the entry's reference; memoPut owns it from here */
    /* weak: no reference, the instance drops its entries when freed */
    memoPut(state.cache, &k, &result);
}

static memoInfo memoryInfo(void) {
    return memoGetInfo(state.cache);
}

static scopeCounters memoryCounters(void) {
    scopeCounters c;
    c.hits = atomic_load_explicit(&state.stats.hits, memory_order_relaxed);
    c.misses = atomic_load_explicit(&state.stats.misses, memory_order_relaxed);
    c.coalesced = atomic_load_explicit(&state.coalesced, memory_order_relaxed);
    c.currsize = atomic_load_explicit(&state.stats.currsize, memory_order_relaxed);
    c.evictions = atomic_load_explicit(&state.stats.evictions, memory_order_relaxed);
    c.expirations = atomic_load_explicit(&state.stats.expirations, memory_order_relaxed);
    c.currbytes = atomic_load_explicit(&state.stats.currbytes, memory_order_relaxed);
    /* Only weak scope drops entries by owner, and nothing here deletes a key. */
    c.left_with_instance = atomic_load_explicit(&state.stats.removals, memory_order_relaxed);
    return c;
}

static bool memoryClear(scopeClear *c) {
    uint64_t instances = 0;
    c->entries_freed = memoClearWith(state.cache, &instances);
    c->instances_freed = instances;
    /* Hand the freed pages back to the kernel, so that RSS falls with the
     * instances, as a person watching the live page expects: soon, on the
     * sampler's thread, not on this request's (allocReleaseLater). */
    if (c->entries_freed > 0)
        allocReleaseLater();
    return true;
}

static size_t memoryEntriesOf(const adder *ad, scopeEntry *out, size_t max, bool *holding) {
    *holding = state.settings->kind == SCOPE_GLOBAL;
    if (state.settings->kind == SCOPE_SHARED)
        return 0;
    memoEntryView views[SCOPE_ENTRIES_MAX];
    if (max > SCOPE_ENTRIES_MAX)
        max = SCOPE_ENTRIES_MAX;
    memoLock(state.cache);
    size_t n = do_memoOwnerEntries(state.cache, &ad->owner, views, max);
    uint64_t now = clockNow();
    size_t shown = n < max ? n : max;
    for (size_t i = 0; i < shown; i++) {
        const globalKey *k = views[i].key;
        out[i].a = k->a;
        out[i].b = k->b;
        out[i].age_ns =
            views[i].stored_ns && now > views[i].stored_ns ? now - views[i].stored_ns : 0;
    }
    memoUnlock(state.cache);
    return n;
}

static bool memorySweepStart(void) {
    if (atomic_load(&state.sweep_out))
        return true; /* sweeping already */
    atomic_store(&state.sweep_on, true);
    atomic_store(&state.sweep_out, true);
    if (timerAdd(&state.sweep, SWEEP_MS, sweepTick))
        return true;
    atomic_store(&state.sweep_on, false);
    atomic_store(&state.sweep_out, false);
    return false;
}

static void memorySweepStop(void) {
    atomic_store(&state.sweep_on, false);
}

const scopeBackend scope_backend_memory = {
    .name = "memory",
    .init = memoryInit,
    .shutdown = memoryShutdown,
    .adopt = memoryAdopt,
    .lookup = memoryLookup,
    .store = memoryStore,
    .info = memoryInfo,
    .counters = memoryCounters,
    .clear = memoryClear,
    .clear_hurry = NULL,
    .entries_of = memoryEntriesOf,
    .sweep_start = memorySweepStart,
    .sweep_stop = memorySweepStop,
};
