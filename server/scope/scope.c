/* scope.c -- the cache scopes: which key a call is cached under, and where.
 * local scope keeps a cache in each instance; off keeps none; global, shared
 * and weak scope ask the backend that holds the process-wide entries
 * (backend.h). */
#include "scope.h"

#include <stdatomic.h>
#include <string.h>

#include "backend.h"

static struct {
    scopeSettings settings;
    const scopeBackend *backend; /* global, shared and weak scope's; NULL in local and off */
    memoStats local_stats;       /* every local cache reports here */
} state;

/* local scope: the instance's own cache, keyed by (a, b). */
typedef struct localKey {
    int64_t a, b;
} localKey;

/* The sums over every local cache (all zero in off scope). */
static scopeCounters localCounters(void) {
    const memoStats *s = &state.local_stats;
    scopeCounters c = {0};
    c.hits = atomic_load_explicit(&s->hits, memory_order_relaxed);
    c.misses = atomic_load_explicit(&s->misses, memory_order_relaxed);
    c.currsize = atomic_load_explicit(&s->currsize, memory_order_relaxed);
    c.evictions = atomic_load_explicit(&s->evictions, memory_order_relaxed);
    c.expirations = atomic_load_explicit(&s->expirations, memory_order_relaxed);
    c.currbytes = atomic_load_explicit(&s->currbytes, memory_order_relaxed);
    return c;
}

/* -------------------------------------------------------------------- API */

bool scopeInit(const scopeSettings *s) {
    memset(&state, 0, sizeof(state));
    state.settings = *s;
    memoStatsInit(&state.local_stats);
    switch (s->kind) {
    case SCOPE_LOCAL:
    case SCOPE_OFF:
        return true;
    case SCOPE_GLOBAL:
    case SCOPE_SHARED:
        state.backend = s->backend == BACKEND_REDIS ? &scope_backend_redis : &scope_backend_memory;
        break;
    case SCOPE_WEAK: /* its entries leave with their instance: only in this process */
        state.backend = &scope_backend_memory;
        break;
    }
    if (state.backend->init(&state.settings))
        return true;
    state.backend = NULL;
    return false;
}

bool scopeSweepStart(void) {
    return !state.backend || !state.backend->sweep_start || state.backend->sweep_start();
}

void scopeSweepStop(void) {
    if (state.backend && state.backend->sweep_stop)
        state.backend->sweep_stop();
}

void scopeShutdown(void) {
    if (state.backend)
        state.backend->shutdown();
    state.backend = NULL;
}

const char *scopeKindName(scopeKind k) {
    static const char *const names[] = {[SCOPE_GLOBAL] = "global",
                                        [SCOPE_LOCAL] = "local",
                                        [SCOPE_SHARED] = "shared",
                                        [SCOPE_OFF] = "off",
                                        [SCOPE_WEAK] = "weak"};
    return names[k];
}

const char *scopeBackendKindName(backendKind b) {
    return b == BACKEND_REDIS ? scope_backend_redis.name : scope_backend_memory.name;
}

scopeKind scopeKindInUse(void) {
    return state.settings.kind;
}

backendKind scopeBackendKindInUse(void) {
    return state.settings.backend;
}

bool scopeUsesRedis(void) {
    return state.backend == &scope_backend_redis;
}

adder *scopeNewAdder(unsigned delay_ms) {
    memo *own = NULL;
    if (state.settings.kind == SCOPE_LOCAL) {
        own = scope__newCache(&scope__pair_type, &state.settings, &state.local_stats);
        if (!own)
            return NULL;
    }
    adder *ad = adderCreate(state.settings.instance_bytes, delay_ms, own);
    if (ad && state.backend && state.backend->adopt)
        state.backend->adopt(ad);
    return ad;
}

scopeLookupResult scopeLookup(adder *ad, int64_t a, int64_t b, int64_t *result, scopeWaiter *waiter,
                              bool allow_wait) {
    if (state.backend)
        return state.backend->lookup(ad, a, b, result, waiter, allow_wait);
    if (state.settings.kind == SCOPE_LOCAL) {
        localKey k = {a, b};
        return memoGet(ad->cache, &k, result) ? SCOPE_HIT : SCOPE_MISS;
    }
    return SCOPE_MISS; /* off */
}

void scopeStore(adder *ad, int64_t a, int64_t b, int64_t result) {
    if (state.backend) {
        state.backend->store(ad, a, b, result);
    } else if (state.settings.kind == SCOPE_LOCAL) {
        localKey k = {a, b};
        memoPut(ad->cache, &k, &result);
    }
}

memoInfo scopeCacheInfo(void) {
    if (state.backend)
        return state.backend->info();
    memoInfo info = {0};
    /* off has no cache: it holds nothing */
    info.maxsize = state.settings.kind == SCOPE_OFF ? 0 : state.settings.maxsize;
    info.maxbytes = state.settings.maxbytes;
    if (state.settings.kind == SCOPE_LOCAL) {
        scopeCounters l = localCounters();
        info.hits = l.hits;
        info.misses = l.misses;
        info.currsize = l.currsize;
        info.evictions = l.evictions;
        info.expirations = l.expirations;
        info.currbytes = l.currbytes;
    }
    return info;
}

bool scopeCacheClear(scopeClear *c) {
    c->entries_freed = 0;
    c->instances_freed = 0;
    c->failed = false;
    c->error[0] = '\0';
    return !state.backend || state.backend->clear(c);
}

void scopeClearHurry(void) {
    if (state.backend && state.backend->clear_hurry)
        state.backend->clear_hurry();
}

scopeCounters scopeGetCounters(void) {
    return state.backend ? state.backend->counters() : localCounters();
}

size_t scopeEntriesOf(const adder *ad, scopeEntry *out, size_t max, bool *holding) {
    *holding = state.settings.kind == SCOPE_GLOBAL;
    if (!state.backend)
        return 0;
    return state.backend->entries_of(ad, out, max, holding);
}
