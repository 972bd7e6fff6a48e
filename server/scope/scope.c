/* scope.c -- the cache scopes, single-flight for the shared one, and the
 * sweep that releases expired entries with no traffic. */
#include "scope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "allocator.h"
#include "backend_redis.h"
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
 * SWEEP_ROUNDS a tick (16,384 entries or buckets, 164k a second) so that
 * neither the slow calls' timers nor the requests waiting on the cache's
 * lock are held up. Work left waits for the next tick: requests move a
 * growing table along themselves, and coming back at once kept a core busy
 * on the lock for the whole of a large move. A round only starts when the
 * lock is free (memoTrySweep: a cache in use does this work itself) and is
 * small, so that a request meets at most one round: at 10 million entries
 * a round of 1024 buckets held the lock about 200 us, and waiting rounds
 * made the slowest put of bench_grow's fill 3-5 ms of wall time. */
#define SWEEP_MS 100
#define SWEEP_BUDGET 64
#define SWEEP_ROUNDS 256

static struct {
    scopeKind kind;
    bool redis; /* global and shared live in Redis: rscope.c */
    size_t maxsize;
    size_t instance_bytes;
    size_t maxbytes; /* MEMO_UNBOUNDED for none */
    uint64_t ttl_ns; /* 0 for none */
    memo *cache;     /* the process-wide cache (global, shared, weak), else NULL */
    memoStats stats;
    atomic_uint_fast64_t coalesced;
    flight *flights[FLIGHT_BUCKETS];
    timer sweep;           /* owned here; on the timer's heap while sweeping */
    atomic_bool sweep_on;  /* cleared by scopeSweepStop: the sweep ends */
    atomic_bool sweep_out; /* the sweep timer is pending or running */
} S;

/* The cache hashes and compares keys as raw bytes (memoType's defaults):
 * a pair key may have no padding either. */
_Static_assert(sizeof(pairKey) == 2 * sizeof(int64_t), "pairKey has padding");

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
static const memoType pair_type = {
    .key_size = sizeof(pairKey), .val_size = sizeof(int64_t), .weight = pairWeight};

/* Every cache of the scope has the same bounds and reports into S.stats. */
static memo *newCache(const memoType *type) {
    memoConfig c = {
        .maxsize = S.maxsize, .maxbytes = S.maxbytes, .ttl_ns = S.ttl_ns, .stats = &S.stats};
    /* GET /instances shows each entry's age: keep its store time (the
     * cache's clock is CLOCK_MONOTONIC, timerNow's, or with a long TTL its
     * coarse reading, never ahead of it: ages read up to a tick long). */
    c.stamp = type == &global_type || type == &weak_type;
    return memoCreateWith(type, &c);
}

/* Runs on the timer thread. */
static void sweepTick(timer *t) {
    for (int i = 0; i < SWEEP_ROUNDS && memoTrySweep(S.cache, SWEEP_BUDGET); i++)
        ;
    if (atomic_load(&S.sweep_on) && timerAdd(t, SWEEP_MS, sweepTick))
        return;
    /* timerAdd cannot fail while connections + TIMER_SPARE slots exist for
     * at most one timer per connection; say so if it ever does. */
    if (atomic_load(&S.sweep_on))
        fprintf(stderr, "memoscope: the cache sweep stopped: no timer slot left\n");
    atomic_store(&S.sweep_out, false);
}

static flight **flightSlot(const pairKey *k) {
    flight **slot = &S.flights[pairHash(k) & (FLIGHT_BUCKETS - 1)];
    while (*slot && !pairEqual(&(*slot)->key, k))
        slot = &(*slot)->next;
    return slot;
}

/* shared scope: a waiting caller never does its own lookup (it would count
 * a miss), so the flight table is asked first, under the cache's lock. */
static scopeLookupResult sharedLookup(int64_t a, int64_t b, int64_t *result, scopeWaiter *w,
                                      bool allow_wait) {
    pairKey k = {a, b};
    bool coalesce = allow_wait && S.maxsize != 0; /* maxsize 0 caches nothing */
    scopeLookupResult r;

    memoLock(S.cache);
    flight **slot = coalesce ? flightSlot(&k) : NULL;
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

static void sharedStore(int64_t a, int64_t b, int64_t result) {
    pairKey k = {a, b};
    scopeWaiter *waiters = NULL;

    memoLock(S.cache);
    do_memoPut(S.cache, &k, &result);
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
    S.maxbytes = cfg->maxbytes == CONFIG_MAXBYTES_NONE ? MEMO_UNBOUNDED : cfg->maxbytes;
    S.ttl_ns = cfg->ttl_ns;
    S.redis = configUsesRedis(cfg);
    if (S.redis)
        return rscopeInit(cfg);
    if (S.kind == SCOPE_GLOBAL)
        S.cache = newCache(&global_type);
    else if (S.kind == SCOPE_SHARED)
        S.cache = newCache(&pair_type);
    else if (S.kind == SCOPE_WEAK)
        S.cache = newCache(&weak_type);
    return S.cache || S.kind == SCOPE_LOCAL || S.kind == SCOPE_OFF;
}

bool scopeSweepStart(void) {
    if (!S.cache || atomic_load(&S.sweep_out))
        return true; /* nothing to sweep (local caches die with their request), or sweeping */
    atomic_store(&S.sweep_on, true);
    atomic_store(&S.sweep_out, true);
    if (timerAdd(&S.sweep, SWEEP_MS, sweepTick))
        return true;
    atomic_store(&S.sweep_on, false);
    atomic_store(&S.sweep_out, false);
    return false;
}

void scopeSweepStop(void) {
    atomic_store(&S.sweep_on, false);
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
        own = newCache(&pair_type);
        if (!own)
            return NULL;
    }
    adder *ad = adderCreate(S.instance_bytes, delay_ms, own);
    if (ad && S.kind == SCOPE_GLOBAL)
        ad->owner.weight = ad->alloc_bytes; /* what its entries keep alive */
    if (ad && S.kind == SCOPE_WEAK)
        ad->weak_cache = S.cache; /* its entries leave with it */
    return ad;
}

scopeLookupResult scopeLookup(adder *ad, int64_t a, int64_t b, int64_t *result, scopeWaiter *waiter,
                              bool allow_wait) {
    if (S.redis)
        return rscopeLookup(ad, a, b, result, waiter, allow_wait);
    switch (S.kind) {
    case SCOPE_GLOBAL:
    case SCOPE_WEAK: {
        globalKey k = {ad, a, b};
        return memoGet(S.cache, &k, result) ? SCOPE_HIT : SCOPE_MISS;
    }
    case SCOPE_LOCAL: {
        pairKey k = {a, b};
        return memoGet(ad->cache, &k, result) ? SCOPE_HIT : SCOPE_MISS;
    }
    case SCOPE_SHARED:
        return sharedLookup(a, b, result, waiter, allow_wait);
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
    case SCOPE_WEAK: {
        globalKey k = {ad, a, b}; /* no reference: the instance drops it when freed */
        memoPut(S.cache, &k, &result);
        break;
    }
    case SCOPE_LOCAL: {
        pairKey k = {a, b};
        memoPut(ad->cache, &k, &result);
        break;
    }
    case SCOPE_SHARED:
        sharedStore(a, b, result);
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
    info.maxbytes = S.maxbytes;
    if (S.kind == SCOPE_LOCAL) {
        info.hits = atomic_load_explicit(&S.stats.hits, memory_order_relaxed);
        info.misses = atomic_load_explicit(&S.stats.misses, memory_order_relaxed);
        info.currsize = atomic_load_explicit(&S.stats.currsize, memory_order_relaxed);
        info.evictions = atomic_load_explicit(&S.stats.evictions, memory_order_relaxed);
        info.expirations = atomic_load_explicit(&S.stats.expirations, memory_order_relaxed);
        info.currbytes = atomic_load_explicit(&S.stats.currbytes, memory_order_relaxed);
    }
    return info;
}

bool scopeCacheClear(scopeClear *c) {
    c->entries_freed = 0;
    c->instances_freed = 0;
    c->failed = false;
    c->error[0] = '\0';
    if (S.redis) /* Redis holds no instance of ours */
        return rscopeClear(c);
    if (!S.cache)
        return true;
    uint64_t instances = 0;
    c->entries_freed = memoClearWith(S.cache, &instances);
    c->instances_freed = instances;
    /* Hand the freed pages back to the kernel, so that RSS falls with the
     * instances, as a person watching the live page expects. */
    if (c->entries_freed > 0)
        heapRelease();
    return true;
}

void scopeClearHurry(void) {
    if (S.redis)
        rscopeClearHurry();
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
    c.expirations = atomic_load_explicit(&S.stats.expirations, memory_order_relaxed);
    c.currbytes = atomic_load_explicit(&S.stats.currbytes, memory_order_relaxed);
    /* Only weak scope drops entries by owner, and nothing here deletes a key. */
    c.left_with_instance = atomic_load_explicit(&S.stats.removals, memory_order_relaxed);
    return c;
}

size_t scopeEntriesOf(const adder *ad, scopeEntry *out, size_t max, bool *holding) {
    *holding = S.kind == SCOPE_GLOBAL;
    if (!S.cache || (S.kind != SCOPE_GLOBAL && S.kind != SCOPE_WEAK))
        return 0;
    memoEntryView views[SCOPE_ENTRIES_MAX];
    if (max > SCOPE_ENTRIES_MAX)
        max = SCOPE_ENTRIES_MAX;
    memoLock(S.cache);
    size_t n = do_memoOwnerEntries(S.cache, &ad->owner, views, max);
    uint64_t now = timerNow();
    size_t shown = n < max ? n : max;
    for (size_t i = 0; i < shown; i++) {
        const globalKey *k = views[i].key;
        out[i].a = k->a;
        out[i].b = k->b;
        out[i].age_ns =
            views[i].stored_ns && now > views[i].stored_ns ? now - views[i].stored_ns : 0;
    }
    memoUnlock(S.cache);
    return n;
}
