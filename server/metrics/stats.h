/* stats.h -- the figures behind GET /stats and GET /metrics.
 *
 * Request counters live here and are updated where the event happens
 * (atomics: any thread). A snapshot gathers them with the instance and
 * cache counters and the process's memory as the kernel and the allocator
 * see it; formatting writes into the caller's buffer and allocates nothing,
 * so scraping cannot itself make memory grow.
 */
#ifndef STATS_H
#define STATS_H

#include <stddef.h>
#include <stdint.h>

#include "adder.h"
#include "guard.h"
#include "proc.h"
#include "config.h"
#include "redis_client.h"
#include "scope.h"

typedef struct statsSnapshot {
    const config *cfg;
    double uptime_s;
    uint64_t req_total, req_in_flight, req_errors;
    adderCounters instances;
    registryAgeCounts ages; /* live instances by age (registry cursors) */
    guardFigures guard;     /* the cgroup, the limit and the memory guard */
    scopeCounters cache;
    uint64_t rss_bytes;   /* resident set, from /proc/self/statm */
    uint64_t heap_bytes;  /* allocated and not freed: heapBytes() (heap.h), no walk */
    rcliCounters backend; /* meaningful when configUsesRedis(cfg) */
} statsSnapshot;

/* Marks the process start (for uptime); call once before serving. */
void statsInit(void);

/* A POST /calculate began / ended (any outcome). */
void statsRequestBegin(void);
void statsRequestEnd(void);

/* An error answer (status >= 400) was sent, on any route. */
void statsError(void);

/* Reads every figure now. */
void statsTake(statsSnapshot *s, const config *cfg);

/* Format a snapshot into buf (cap bytes). Return the length written, or 0
 * when cap is too small. */
size_t statsFormatJson(const statsSnapshot *s, char *buf, size_t cap);
size_t statsFormatPrometheus(const statsSnapshot *s, char *buf, size_t cap);

/* Big enough for either format. */
#define STATS_BUF_BYTES 65536

#endif /* STATS_H */
