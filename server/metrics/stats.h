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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adder.h"
#include "counters.h"
#include "guard.h"
#include "proc.h"
#include "redis_client.h"
#include "scope.h"

typedef struct statsSnapshot {
    double uptime_s;
    uint64_t req_total, req_in_flight, req_errors;
    adderCounters instances;
    registryAgeCounts ages; /* live instances by age (registry cursors) */
    guardFigures guard;     /* the cgroup, the limit and the memory guard */
    scopeCounters cache;
    uint64_t rss_bytes;  /* resident set, from /proc/self/statm */
    uint64_t heap_bytes; /* allocated and not freed: allocBytes() (allocator.h), no walk */
    bool redis;          /* the process-wide entries live in Redis: backend is read */
    rcliCounters backend;
    connectionCounters conns; /* the connection table and its work slots */
} statsSnapshot;

/* What the running configuration says of itself, written by the layer that
 * knows the settings (registered, so that this one knows none of them).
 * Each writes into t and is called with ctx, from any scrape's thread. */
struct textBuf;
typedef struct statsSettingsWriter {
    void *ctx;
    /* /stats' first fields, without braces: "version":"...",...,"threads":N */
    void (*json)(void *ctx, struct textBuf *t);
    /* the backend object's settings, without braces: "kind":"memory" or
     * "kind":"redis","url":"...",... (the figures follow when redis is used) */
    void (*backend_json)(void *ctx, struct textBuf *t);
    /* memoscope_info's labels, without braces: version="...",... */
    void (*info_labels)(void *ctx, struct textBuf *t);
} statsSettingsWriter;

/* Marks the process start (for uptime) and takes the writer (copied; its
 * ctx must outlive every scrape). Call once before serving. */
void statsInit(const statsSettingsWriter *writer);

/* Reads every figure now. */
void statsTake(statsSnapshot *s);

/* Format a snapshot into buf (cap bytes). Return the length written, or 0
 * when cap is too small. */
size_t statsFormatJson(const statsSnapshot *s, char *buf, size_t cap);
size_t statsFormatPrometheus(const statsSnapshot *s, char *buf, size_t cap);

/* Big enough for either format. */
#define STATS_BUF_BYTES 65536

#endif /* STATS_H */
