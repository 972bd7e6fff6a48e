/* stats.c -- counters, memory readings and their two text formats. */
#include "stats.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "allocator.h"
#include "counters.h"
#include "duration.h"
#include "text.h"
#include "clock.h"

static struct {
    uint64_t start_ns;
    statsSettingsWriter writer;
} state;

/* ---------------------------------------------------------------- private */

/* Resident pages from /proc/self/statm, read without stdio (no allocation). */
static uint64_t rssBytes(void) {
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = buf;
    strtoull(p, &p, 10); /* size */
    unsigned long long resident = strtoull(p, NULL, 10);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* -------------------------------------------------------------------- API */

void statsInit(const statsSettingsWriter *writer) {
    state.start_ns = clockNow();
    state.writer = *writer;
}

void statsTake(statsSnapshot *s) {
    s->uptime_s = (double)(clockNow() - state.start_ns) / 1e9;
    requestCounters r = countersRead();
    s->req_total = r.total;
    s->req_in_flight = r.in_flight;
    s->req_errors = r.errors;
    s->instances = adderGetCounters();
    s->ages = adderAges();
    s->cache = scopeGetCounters();
    s->rss_bytes = rssBytes();
    s->heap_bytes = allocBytes();
    s->guard = guardRead();
    s->conns = countersConnections();
    s->redis = scopeUsesRedis();
    if (s->redis)
        s->backend = rcliGetCounters();
}

/* A sampled figure: null (JSON) until the first sample. */
static void writeSampled(textBuf *t, const char *name, int64_t v) {
    if (v < 0)
        textf(t, ",\"%s\":null", name);
    else
        textf(t, ",\"%s\":%lld", name, (long long)v);
}

/* The backend object of /stats: where the process-wide caches live. */
static void backendJson(const statsSnapshot *s, textBuf *t) {
    TEXT_LIT(t, ",\"backend\":{");
    state.writer.backend_json(state.writer.ctx, t);
    if (!s->redis) {
        TEXT_LIT(t, "}");
        return;
    }
    const rcliCounters *b = &s->backend;
    textf(t,
          ",\"connected\":%s,\"commands\":%llu,\"round_trips\":%llu,\"errors\":%llu,"
          "\"reconnects\":%llu",
          b->connected ? "true" : "false", (unsigned long long)b->commands,
          (unsigned long long)b->round_trips, (unsigned long long)b->errors,
          (unsigned long long)b->reconnects);
    writeSampled(t, "keys", b->keys);
    writeSampled(t, "used_memory_bytes", b->used_memory);
    textf(t, "}");
}

/* The backend's figures in /metrics, when global and shared use Redis. */
static void backendPrometheus(const statsSnapshot *s, textBuf *t) {
    const rcliCounters *b = &s->backend;
    const struct {
        const char *name, *type, *help;
        long long v;
    } redis[] = {
        {"backend_connected", "gauge", "1 while the Redis connection is up.", b->connected},
        {"backend_commands_total", "counter", "Commands sent to Redis.", (long long)b->commands},
        {"backend_round_trips_total", "counter",
         "Writes to Redis, each a pipeline of the commands queued meanwhile.",
         (long long)b->round_trips},
        {"backend_errors_total", "counter", "Redis commands failed, timed out or refused.",
         (long long)b->errors},
        {"backend_reconnects_total", "counter", "Connections to Redis made after the first.",
         (long long)b->reconnects},
        {"backend_keys", "gauge", "Keys under our prefix (sampled; -1 before the first).", b->keys},
        {"backend_used_memory_bytes", "gauge",
         "Redis's used_memory (sampled; -1 before the first).", b->used_memory},
    };
    for (size_t i = 0; i < sizeof(redis) / sizeof(redis[0]); i++)
        textf(t, "# HELP memoscope_%s %s\n# TYPE memoscope_%s %s\nmemoscope_%s %lld\n",
              redis[i].name, redis[i].help, redis[i].name, redis[i].type, redis[i].name,
              redis[i].v);
}

size_t statsFormatJson(const statsSnapshot *s, char *buf, size_t cap) {
    textBuf t = textOn(buf, cap);
    char oldest[32];
    textBuf o = textOn(oldest, sizeof(oldest) - 1); /* room for the NUL */
    if (s->ages.any)
        textf(&o, "%.3f", (double)s->ages.oldest_ns / 1e9);
    else
        TEXT_LIT(&o, "null");
    oldest[textEnd(&o)] = '\0';
    TEXT_LIT(&t, "{");
    state.writer.json(state.writer.ctx, &t);
    textf(&t,
          ",\"uptime_s\":%.3f,"
          "\"requests\":{\"total\":%llu,\"in_flight\":%llu,\"errors\":%llu},"
          "\"instances\":{\"created\":%llu,\"freed\":%llu,\"live\":%llu,\"live_bytes\":%llu,"
          "\"oldest_age_s\":%s},"
          "\"cache\":{\"hits\":%llu,\"misses\":%llu,\"coalesced\":%llu,\"currsize\":%llu,"
          "\"evictions\":%llu,\"expirations\":%llu,\"currbytes\":%llu,"
          "\"left_with_instance\":%llu},"
          "\"memory\":{\"rss_bytes\":%llu,\"heap_bytes\":%llu,",
          s->uptime_s, (unsigned long long)s->req_total, (unsigned long long)s->req_in_flight,
          (unsigned long long)s->req_errors, (unsigned long long)s->instances.created,
          (unsigned long long)s->instances.freed, (unsigned long long)s->instances.live,
          (unsigned long long)s->instances.live_bytes, oldest, (unsigned long long)s->cache.hits,
          (unsigned long long)s->cache.misses, (unsigned long long)s->cache.coalesced,
          (unsigned long long)s->cache.currsize, (unsigned long long)s->cache.evictions,
          (unsigned long long)s->cache.expirations, (unsigned long long)s->cache.currbytes,
          (unsigned long long)s->cache.left_with_instance, (unsigned long long)s->rss_bytes,
          (unsigned long long)s->heap_bytes);
    guardFormatJson(&s->guard, &t);
    TEXT_LIT(&t, "}");
    backendJson(s, &t);
    textf(&t,
          ",\"connections\":{\"open\":%llu,\"working\":%llu,\"work_slots\":%llu,"
          "\"refused_busy\":%llu,\"waits_expired\":%llu}",
          (unsigned long long)s->conns.open, (unsigned long long)s->conns.working,
          (unsigned long long)s->conns.work_slots, (unsigned long long)s->conns.refused_busy,
          (unsigned long long)s->conns.waits_expired);
    TEXT_LIT(&t, "}\n");
    return textEnd(&t);
}

size_t statsFormatPrometheus(const statsSnapshot *s, char *buf, size_t cap) {
    static const struct {
        const char *name, *type, *help;
        size_t offset;
    } metrics[] = {
#define M(name, type, help, field) {name, type, help, offsetof(statsSnapshot, field)}
        M("requests_total", "counter", "POST /calculate requests received.", req_total),
        M("requests_in_flight", "gauge", "POST /calculate requests being processed.",
          req_in_flight),
        M("request_errors_total", "counter", "Error answers (status >= 400) on any route.",
          req_errors),
        M("connections_open", "gauge", "Connections open now.", conns.open),
        M("work_slots_taken", "gauge",
          "Work slots (--max-connections) taken now by POST /calculate and DELETE /cache.",
          conns.working),
        M("work_slots", "gauge", "Work slots: --max-connections.", conns.work_slots),
        M("refused_busy_total", "counter",
          "Requests answered 503 with Retry-After because every work slot was taken.",
          conns.refused_busy),
        M("waits_expired_total", "counter",
          "Waits on another's computation, Redis or a clear that ended at their deadline.",
          conns.waits_expired),
        M("instances_created_total", "counter", "SlowAdder instances made.", instances.created),
        M("instances_freed_total", "counter", "SlowAdder instances freed.", instances.freed),
        M("instances_live", "gauge", "SlowAdder instances alive now.", instances.live),
        M("instances_live_bytes", "gauge", "Bytes allocated for live SlowAdder instances.",
          instances.live_bytes),
        M("cache_hits_total", "counter", "Memo cache hits, coalesced waits included.", cache.hits),
        M("cache_misses_total", "counter", "Memo cache misses.", cache.misses),
        M("cache_coalesced_total", "counter",
          "Misses that waited for the same key's computation in flight.", cache.coalesced),
        M("cache_evictions_total", "counter", "Memo cache entries evicted.", cache.evictions),
        M("cache_entries", "gauge", "Memo cache entries held now, over every cache.",
          cache.currsize),
        M("cache_expirations_total", "counter",
          "Memo cache entries released when their TTL passed.", cache.expirations),
        M("cache_bytes", "gauge",
          "Bytes the memo caches keep alive now (global scope: the instances, each once).",
          cache.currbytes),
        M("cache_left_with_instance_total", "counter",
          "Weak scope: cache entries removed when their instance was freed.",
          cache.left_with_instance),
        M("memory_rss_bytes", "gauge", "Resident set size, from the kernel.", rss_bytes),
        M("memory_heap_bytes", "gauge",
          "Heap bytes allocated and not freed, counted as they happen.", heap_bytes),
#undef M
    };
    textBuf t = textOn(buf, cap);
    TEXT_LIT(&t, "# HELP memoscope_info The running configuration.\n# TYPE memoscope_info gauge\n"
                 "memoscope_info{");
    state.writer.info_labels(state.writer.ctx, &t);
    textf(&t,
          "} 1\n"
          "# HELP memoscope_uptime_seconds Seconds since start.\n"
          "# TYPE memoscope_uptime_seconds gauge\nmemoscope_uptime_seconds %.3f\n",
          s->uptime_s);
    for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
        uint64_t v = *(const uint64_t *)((const char *)s + metrics[i].offset);
        textf(&t, "# HELP memoscope_%s %s\n# TYPE memoscope_%s %s\nmemoscope_%s %llu\n",
              metrics[i].name, metrics[i].help, metrics[i].name, metrics[i].type, metrics[i].name,
              (unsigned long long)v);
    }
    static const unsigned ages[REGISTRY_AGES] = REGISTRY_AGE_SECONDS;
    textf(&t,
          "# HELP memoscope_instances_oldest_age_seconds Age of the oldest live SlowAdder "
          "(0 when none is alive).\n# TYPE memoscope_instances_oldest_age_seconds gauge\n"
          "memoscope_instances_oldest_age_seconds %.3f\n"
          "# HELP memoscope_instances_live_older_than Live SlowAdder instances older than "
          "age_seconds.\n# TYPE memoscope_instances_live_older_than gauge\n",
          s->ages.any ? (double)s->ages.oldest_ns / 1e9 : 0.0);
    for (int k = 0; k < REGISTRY_AGES; k++)
        textf(&t, "memoscope_instances_live_older_than{age_seconds=\"%u\"} %llu\n", ages[k],
              (unsigned long long)s->ages.older[k]);
    guardFormatPrometheus(&s->guard, &t);
    procFigures proc = procRead();
    procFormatPrometheus(&proc, &t);
    if (s->redis)
        backendPrometheus(s, &t);
    durationFormat(&t);
    return textEnd(&t);
}
