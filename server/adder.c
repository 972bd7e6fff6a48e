/* adder.c -- SlowAdder allocation, reference counting and counters. */
#include "adder.h"

#include <stdlib.h>
#include <string.h>

static atomic_uint_fast64_t next_id = 1;
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
    ad->id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
    ad->delay_ms = delay_ms;
    ad->cache = cache;
    ad->alloc_bytes = bytes;
    ad->payload_bytes = payload_bytes;
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
    memoDestroy(ad->cache);
    atomic_fetch_sub_explicit(&n_live_bytes, ad->alloc_bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&n_freed, 1, memory_order_relaxed);
    free(ad);
    return true;
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
