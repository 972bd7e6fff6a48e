/* duration.c -- request durations per route, as a Prometheus histogram. */
#include "duration.h"

#include <stdatomic.h>
#include <stddef.h>

#include "text.h"

/* Upper bounds in microseconds: a hit takes tens of them, a miss the delay
 * (100 ms by default, up to 10 s a call and 64 calls a batch). */
static const uint64_t bounds_us[] = {100,     250,     500,     1000,     2500,    5000,
                                     10000,   25000,   50000,   100000,   250000,  500000,
                                     1000000, 2500000, 5000000, 10000000, 60000000};
#define DURATION_BOUNDS (sizeof(bounds_us) / sizeof(bounds_us[0]))

typedef struct series {
    const char *route, *cached;                       /* route NULL: unnamed, not written */
    atomic_uint_fast64_t bucket[DURATION_BOUNDS + 1]; /* not cumulative; last is +Inf */
    atomic_uint_fast64_t sum_ns;
} series;

static series S[DURATION_SLOTS];

void durationName(unsigned slot, const char *route, const char *cached) {
    if (slot < DURATION_SLOTS) {
        S[slot].route = route;
        S[slot].cached = cached;
    }
}

void durationObserve(unsigned slot, uint64_t ns) {
    if (slot >= DURATION_SLOTS)
        return;
    uint64_t us = ns / 1000;
    size_t b = 0;
    while (b < DURATION_BOUNDS && us > bounds_us[b])
        b++;
    atomic_fetch_add_explicit(&S[slot].bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&S[slot].sum_ns, ns, memory_order_relaxed);
}

/* {route="/calculate",cached="true" -- without the closing brace. */
static void writeLabels(textBuf *t, const series *s) {
    textf(t, "{route=\"%s\"", s->route);
    if (s->cached)
        textf(t, ",cached=\"%s\"", s->cached);
}

void durationFormat(textBuf *t) {
    TEXT_LIT(t, "# HELP memoscope_request_duration_seconds Time from a request's first "
                "handler call to its completion, per route.\n"
                "# TYPE memoscope_request_duration_seconds histogram\n");
    for (unsigned i = 0; i < DURATION_SLOTS; i++) {
        const series *s = &S[i];
        if (!s->route)
            continue;
        /* Buckets are read one by one while requests go on: the count is the
         * sum of what was read, so the +Inf bucket always equals it. */
        uint64_t cum = 0;
        for (size_t b = 0; b <= DURATION_BOUNDS; b++) {
            cum += atomic_load_explicit(&s->bucket[b], memory_order_relaxed);
            TEXT_LIT(t, "memoscope_request_duration_seconds_bucket");
            writeLabels(t, s);
            if (b < DURATION_BOUNDS)
                textf(t, ",le=\"%g\"} %llu\n", (double)bounds_us[b] / 1e6, (unsigned long long)cum);
            else
                textf(t, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        TEXT_LIT(t, "memoscope_request_duration_seconds_sum");
        writeLabels(t, s);
        textf(t, "} %.6f\n", (double)atomic_load_explicit(&s->sum_ns, memory_order_relaxed) / 1e9);
        TEXT_LIT(t, "memoscope_request_duration_seconds_count");
        writeLabels(t, s);
        textf(t, "} %llu\n", (unsigned long long)cum);
    }
}
