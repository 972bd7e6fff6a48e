/* adder.h -- the SlowAdder: the per-request object whose lifetime is the point.
 *
 * One SlowAdder is made per POST /calculate. It is reference counted: the
 * request holds one reference, and in global scope every cache entry whose
 * key names it holds one more. It is freed when the last reference goes.
 * It carries a payload of instance_bytes that is really allocated and
 * written, so its memory is resident, as a real per-request object's is.
 *
 * Process-wide counters (created, freed, live bytes) are atomics updated
 * where the event happens; every function here is thread-safe.
 */
#ifndef ADDER_H
#define ADDER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memo.h"
#include "registry.h"

typedef struct adder {
    atomic_uint refs;
    atomic_bool in_request; /* the request that made it still holds its reference */
    uint64_t id;            /* unique over the life of the process, from 1 (node.id) */
    registryNode node;      /* in the process-wide registry while alive */
    unsigned delay_ms;      /* how long a miss of calculate() takes */
    memo *cache;            /* local scope: this instance's own cache, else NULL */
    memo *weak_cache;       /* weak scope: the cache whose entries name it without holding
                               it; they are dropped (memoDropOwner) when it is freed */
    memoOwner owner;        /* its entries in the global or weak cache (the cache's) */
    size_t alloc_bytes;     /* the size of this allocation: header + payload */
    size_t payload_bytes;
    unsigned char payload[];
} adder;

/* Process-wide instance counters, as /stats reports them. */
typedef struct adderCounters {
    uint64_t created;
    uint64_t freed;
    uint64_t live;
    uint64_t live_bytes; /* exact sum of alloc_bytes over live instances */
} adderCounters;

/* Makes a SlowAdder with one reference (the caller's), a fresh id and a
 * payload of payload_bytes, all written. cache may be NULL; the adder owns
 * it from now on and destroys it when freed. Returns NULL when out of
 * memory (cache is then destroyed too). Its owner starts with no entries and
 * weight 0, and weak_cache is NULL: the scope sets them. */
adder *adderCreate(size_t payload_bytes, unsigned delay_ms, memo *cache);

/* Takes one more reference. */
void adderRetain(adder *ad);

/* Drops one reference; frees the adder (and its cache) when it was the last,
 * after dropping its entries from weak_cache (so the caller must not hold
 * that cache's lock). Returns true when this call freed it. NULL is a no-op. */
bool adderRelease(adder *ad);

/* The request that made ad drops its reference (and says so for held_by). */
bool adderReleaseRequest(adder *ad);

/* What GET /instances tells of one live instance. ad holds one more
 * reference, taken for the caller, who drops it with adderRelease. */
typedef struct adderView {
    adder *ad;
    uint64_t id;
    uint64_t age_ns;
    size_t bytes;
    bool in_request;
    unsigned other_refs; /* references besides the request's and the view's */
} adderView;

typedef enum adderLookup { ADDER_LIVE, ADDER_FREED, ADDER_NEVER_ISSUED } adderLookup;

/* Looks a live instance up by id in O(1). On ADDER_LIVE fills *out (with a
 * reference); ADDER_FREED when the id was issued and its instance is gone
 * (or going); ADDER_NEVER_ISSUED otherwise. Thread-safe. */
adderLookup adderFind(uint64_t id, adderView *out);

/* The up to max oldest live instances, oldest first, each with a reference
 * the caller drops (adderRelease). O(max) whatever the live count. Returns
 * how many were filled in. Thread-safe. */
size_t adderOldest(adderView *out, size_t max);

/* Live instances by age (counts older than each REGISTRY_AGES threshold,
 * the oldest's age), in time that does not grow with the live count. */
registryAgeCounts adderAges(void);

/* Frees what the registry allocated; call after every instance is freed. */
void adderShutdown(void);

/* calculate(a, b) without the wait: the caller does the waiting. Exact for
 * |a|, |b| <= 2^53 - 1. */
int64_t adderCompute(const adder *ad, int64_t a, int64_t b);

/* The bytes one adder with this payload takes (its alloc_bytes). */
size_t adderAllocBytes(size_t payload_bytes);

/* A consistent-enough snapshot of the counters: live never reads negative. */
adderCounters adderGetCounters(void);

#endif /* ADDER_H */
