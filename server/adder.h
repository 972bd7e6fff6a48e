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

typedef struct adder {
    atomic_uint refs;
    uint64_t id;        /* unique over the life of the process, from 1 */
    unsigned delay_ms;  /* how long a miss of calculate() takes */
    memo *cache;        /* local scope: this instance's own cache, else NULL */
    size_t alloc_bytes; /* the size of this allocation: header + payload */
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
 * memory (cache is then destroyed too). */
adder *adderCreate(size_t payload_bytes, unsigned delay_ms, memo *cache);

/* Takes one more reference. */
void adderRetain(adder *ad);

/* Drops one reference; frees the adder (and its cache) when it was the last.
 * Returns true when this call freed it. NULL is a no-op. */
bool adderRelease(adder *ad);

/* calculate(a, b) without the wait: the caller does the waiting. Exact for
 * |a|, |b| <= 2^53 - 1. */
int64_t adderCompute(const adder *ad, int64_t a, int64_t b);

/* The bytes one adder with this payload takes (its alloc_bytes). */
size_t adderAllocBytes(size_t payload_bytes);

/* A consistent-enough snapshot of the counters: live never reads negative. */
adderCounters adderGetCounters(void);

#endif /* ADDER_H */
