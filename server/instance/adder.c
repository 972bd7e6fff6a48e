/* adder.c -- SlowAdder allocation, reference counting and counters. */
#include "adder.h"

#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "clock.h"

/* Every live instance, by id and by age. Statically initialised, so that
 * any module (and any test) may make adders without an init call. */
static registry instances = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .clock = clockNow,
    .t = {{.b = instances.inline_b, .mask = REGISTRY_INLINE_BUCKETS - 1}},
};
static atomic_uint_fast64_t n_created;
static atomic_uint_fast64_t n_freed;
static atomic_uint_fast64_t n_live_bytes;

size_t adderAllocBytes(size_t payload_bytes) {
    return sizeof(adder) + payload_bytes;
}

adder *adderCreate(size_t payload_bytes, unsigned delay_ms, memo *cache) {
    size_t bytes = adderAllocBytes(payload_bytes);
    adder *ad = malloc(bytes);
    if (!ad) {
        memoDestroy(cache);
        return NULL;
    }
    atomic_init(&ad->refs, 1);
    atomic_init(&ad->in_request, true);
    ad->delay_ms = delay_ms;
    ad->cache = cache;
    ad->weak_cache = NULL;
    memoOwnerInit(&ad->owner, 0);
    ad->alloc_bytes = bytes;
    ad->payload_bytes = payload_bytes;
    /* Published last: an inspector may read what is above from now on (it
     * reads node.id, not id, which is written after). */
    registryAdd(&instances, &ad->node); /* issues the id, in age order */
    ad->id = ad->node.id;
    /* Write every byte so the pages are resident, not just reserved. */
    memset(ad->payload, (int)(ad->id & 0xff) | 1, payload_bytes);
    atomic_fetch_add_explicit(&n_live_bytes, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&n_created, 1, memory_order_relaxed);
    return ad;
}

void adderRetain(adder *ad) {
    atomic_fetch_add_explicit(&ad->refs, 1, memory_order_relaxed);
}

bool adderRelease(adder *ad) {
    if (!ad)
        return false;
    /* acq_rel: every use of the adder by other holders happens before the
     * free by the last one. */
    if (atomic_fetch_sub_explicit(&ad->refs, 1, memory_order_acq_rel) != 1)
        return false;
    if (ad->weak_cache)
        memoDropOwner(ad->weak_cache, &ad->owner);
    memoDestroy(ad->cache);
    registryRemove(&instances, &ad->node);
    atomic_fetch_sub_explicit(&n_live_bytes, ad->alloc_bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&n_freed, 1, memory_order_relaxed);
    free(ad);
    return true;
}

bool adderReleaseRequest(adder *ad) {
    if (!ad)
        return false;
    atomic_store_explicit(&ad->in_request, false, memory_order_relaxed);
    return adderRelease(ad);
}

/* A reference for an inspector, unless the last one is already gone (the
 * instance is being freed). Called with the registry's lock held, which
 * keeps the memory valid: a free unlinks under that lock before free(). */
static bool tryRetain(adder *ad) {
    unsigned r = atomic_load_explicit(&ad->refs, memory_order_relaxed);
    while (r > 0)
        if (atomic_compare_exchange_weak_explicit(&ad->refs, &r, r + 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    return false;
}

/* Fills v for ad, which the caller has retained, at time now. */
static void viewOf(adder *ad, uint64_t now, adderView *v) {
    v->ad = ad;
    v->id = ad->node.id;
    v->age_ns = now > ad->node.born_ns ? now - ad->node.born_ns : 0;
    v->bytes = ad->alloc_bytes;
    v->in_request = atomic_load_explicit(&ad->in_request, memory_order_relaxed);
    unsigned refs = atomic_load_explicit(&ad->refs, memory_order_relaxed);
    unsigned mine = 1 + (v->in_request ? 1 : 0);
    v->other_refs = refs > mine ? refs - mine : 0;
}

adderLookup adderFind(uint64_t id, adderView *out) {
    adderLookup found = ADDER_NEVER_ISSUED;
    registryLock(&instances);
    if (id >= 1 && id <= do_registryLastId(&instances)) {
        found = ADDER_FREED;
        registryNode *n = do_registryFind(&instances, id);
        if (n) {
            adder *ad = container_of(n, adder, node);
            if (tryRetain(ad)) {
                viewOf(ad, do_registryNow(&instances), out);
                found = ADDER_LIVE;
            }
        }
    }
    registryUnlock(&instances);
    return found;
}

size_t adderOldest(adderView *out, size_t max) {
    size_t n = 0;
    registryLock(&instances);
    uint64_t now = do_registryNow(&instances);
    for (registryNode *node = do_registryOldest(&instances); node && n < max; node = node->next) {
        adder *ad = container_of(node, adder, node);
        if (tryRetain(ad))
            viewOf(ad, now, &out[n++]);
    }
    registryUnlock(&instances);
    return n;
}

registryAgeCounts adderAges(void) {
    return registryAges(&instances);
}

void adderShutdown(void) {
    registryDestroy(&instances);
    registryInit(&instances, clockNow);
}

int64_t adderCompute(const adder *ad, int64_t a, int64_t b) {
    (void)ad;
    return a + b;
}

adderCounters adderGetCounters(void) {
    adderCounters c;
    /* freed first: a free that lands between the two reads makes live read
     * one high for an instant, never negative. */
    c.freed = atomic_load_explicit(&n_freed, memory_order_relaxed);
    c.live_bytes = atomic_load_explicit(&n_live_bytes, memory_order_relaxed);
    c.created = atomic_load_explicit(&n_created, memory_order_relaxed);
    c.live = c.created - c.freed;
    return c;
}
