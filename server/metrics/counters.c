/* counters.c -- the request counters (counters.h). */
#include "counters.h"

#include <stdatomic.h>

static atomic_uint_fast64_t total;
static atomic_uint_fast64_t in_flight;
static atomic_uint_fast64_t errors;

void countersRequestBegin(void) {
    atomic_fetch_add_explicit(&total, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&in_flight, 1, memory_order_relaxed);
}

void countersRequestEnd(void) {
    atomic_fetch_sub_explicit(&in_flight, 1, memory_order_relaxed);
}

void countersError(void) {
    atomic_fetch_add_explicit(&errors, 1, memory_order_relaxed);
}

requestCounters countersRead(void) {
    return (requestCounters){
        .total = atomic_load_explicit(&total, memory_order_relaxed),
        .in_flight = atomic_load_explicit(&in_flight, memory_order_relaxed),
        .errors = atomic_load_explicit(&errors, memory_order_relaxed),
    };
}
