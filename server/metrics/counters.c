/* counters.c -- the request counters (counters.h). */
#include "counters.h"

#include <stdatomic.h>

static atomic_uint_fast64_t total;
static atomic_uint_fast64_t in_flight;
static atomic_uint_fast64_t errors;
static atomic_uint_fast64_t busy_refused;
static atomic_uint_fast64_t waits_expired;
static void (*_Atomic read_connections)(connectionCounters *c);

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

void countersBusyRefused(void) {
    atomic_fetch_add_explicit(&busy_refused, 1, memory_order_relaxed);
}

void countersWaitExpired(void) {
    atomic_fetch_add_explicit(&waits_expired, 1, memory_order_relaxed);
}

void countersConnectionsFrom(void (*read)(connectionCounters *c)) {
    atomic_store(&read_connections, read);
}

connectionCounters countersConnections(void) {
    connectionCounters c = {0};
    void (*read)(connectionCounters *) = atomic_load(&read_connections);
    if (read)
        read(&c);
    c.refused_busy = atomic_load_explicit(&busy_refused, memory_order_relaxed);
    c.waits_expired = atomic_load_explicit(&waits_expired, memory_order_relaxed);
    return c;
}

requestCounters countersRead(void) {
    return (requestCounters){
        .total = atomic_load_explicit(&total, memory_order_relaxed),
        .in_flight = atomic_load_explicit(&in_flight, memory_order_relaxed),
        .errors = atomic_load_explicit(&errors, memory_order_relaxed),
    };
}
