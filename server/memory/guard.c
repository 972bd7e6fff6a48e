/* guard.c -- the memory limit, the guard's sampler, its 503s and /readyz. */
#include "guard.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "calculate.h"
#include "cgroup.h"
#include "proc.h"
#include "redis_client.h"
#include "reply.h"
#include "stats.h"
#include "text.h"

#define ANSWER_BYTES 256

static struct {
    const config *cfg;
    cgroup cg;
    pthread_mutex_t cg_lock; /* one reader of the cgroup's files at a time */
    bool limit_from_cgroup;
    atomic_uint_fast64_t limit, guard, usage;
    atomic_bool shedding;
    atomic_bool stop;
    bool running;
    pthread_t sampler;
    atomic_uint_fast64_t shed, unready;
} G = {.cg_lock = PTHREAD_MUTEX_INITIALIZER};

/* ---------------------------------------------------------------- private */

static cgroupMemory guard__cgroup(void) {
    pthread_mutex_lock(&G.cg_lock);
    cgroupMemory m = cgroupRead(&G.cg);
    pthread_mutex_unlock(&G.cg_lock);
    return m;
}

/* Works the limit and the guard out again (the cgroup's limit may change)
 * and compares. */
static void guard__sample(void) {
    uint64_t limit = G.cfg->memory_limit, usage;
    if (limit) {
        usage = procRssBytes();
    } else {
        cgroupMemory m = guard__cgroup();
        limit = m.limit;
        usage = m.usage;
    }
    uint64_t guard = G.cfg->guard_bytes;
    if (G.cfg->guard_fraction > 0)
        guard = (uint64_t)((double)limit * G.cfg->guard_fraction);
    atomic_store(&G.limit, limit);
    atomic_store(&G.guard, guard);
    atomic_store(&G.usage, usage);
    atomic_store(&G.shedding, guard > 0 && usage > guard);
}

static void *guard__run(void *arg) {
    (void)arg;
    struct timespec period = {0, GUARD_PERIOD_MS * 1000000L};
    while (!atomic_load(&G.stop)) {
        guard__sample();
        nanosleep(&period, NULL);
    }
    return NULL;
}

/* ------------------------------------------------------------ /readyz */

static enum MHD_Result guard__readyz(routeRequest *rq, const char *data, size_t *size) {
    (void)data;
    (void)size;
    const char *why = !calcTaking()              ? "shutting down"
                      : atomic_load(&G.shedding) ? "memory above the guard: POST /calculate is "
                                                   "shed until it falls (DELETE /cache frees "
                                                   "what the cache holds)"
                                                 : NULL;
    if (why) {
        atomic_fetch_add(&G.unready, 1);
        return replyError(rq->conn, MHD_HTTP_SERVICE_UNAVAILABLE, why, NULL);
    }
    /* The cache backend's state is said here, never made a reason to be
     * unready: a cache outage must not take every replica out at once
     * (their answers are still correct, computed without the cache). */
    char buf[ANSWER_BYTES];
    textBuf t = textOn(buf, sizeof(buf));
    textf(&t, "{\"status\":\"ready\",\"cache_backend\":\"%s\"", configBackendName(G.cfg->backend));
    if (configUsesRedis(G.cfg)) {
        bool up = rcliConnected();
        textf(&t, ",\"cache_backend_up\":%s", up ? "true" : "false");
        if (!up)
            TEXT_LIT(&t, ",\"note\":\"the cache backend is down: answers are computed without "
                         "it (slower, still correct), so this replica stays ready\"");
    }
    TEXT_LIT(&t, "}\n");
    return replyQueue(rq->conn, MHD_HTTP_OK, REPLY_JSON, buf, textEnd(&t), NULL);
}

const routeHandlers readyz_handlers = {.next = guard__readyz};

/* -------------------------------------------------------------------- API */

bool guardStart(const config *cfg, const char *cgroup_root, FILE *err) {
    G.cfg = cfg;
    atomic_store(&G.stop, false);
    atomic_store(&G.shedding, false);
    cgroupOpen(&G.cg, cgroup_root);
    guard__sample();
    if (cfg->guard_fraction > 0 && atomic_load(&G.limit) == 0) {
        fprintf(err,
                "memoscope: bad --memory-guard %g: a fraction of the memory limit, and "
                "there is none (no cgroup limit): give --memory-limit, or the guard in "
                "bytes\n",
                cfg->guard_fraction);
        cgroupClose(&G.cg);
        return false;
    }
    G.running = false;
    if (cfg->guard_bytes || cfg->guard_fraction > 0)
        G.running = pthread_create(&G.sampler, NULL, guard__run, NULL) == 0;
    return true;
}

void guardStop(void) {
    if (G.running) {
        atomic_store(&G.stop, true);
        pthread_join(G.sampler, NULL);
        G.running = false;
    }
    cgroupClose(&G.cg);
}

bool guardShedding(void) {
    return atomic_load_explicit(&G.shedding, memory_order_relaxed);
}

enum MHD_Result guardShed(struct MHD_Connection *conn) {
    char buf[ANSWER_BYTES];
    textBuf t = textOn(buf, sizeof(buf));
    textf(&t,
          "{\"error\":\"memory above the guard (%llu of %llu bytes): try again later, or "
          "DELETE /cache\"}\n",
          (unsigned long long)atomic_load(&G.usage), (unsigned long long)atomic_load(&G.guard));
    struct MHD_Response *r =
        MHD_create_response_from_buffer(textEnd(&t), buf, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    char retry[16];
    textBuf rt = textOn(retry, sizeof(retry) - 1); /* room for the NUL */
    textUint(&rt, GUARD_RETRY_AFTER_S);
    retry[textEnd(&rt)] = '\0';
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, REPLY_JSON);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_SERVICE_UNAVAILABLE, r);
    MHD_destroy_response(r);
    if (ret == MHD_YES) {
        atomic_fetch_add(&G.shed, 1);
        statsError();
    }
    return ret;
}

guardFigures guardRead(void) {
    guardFigures f = {0};
    cgroupMemory m = guard__cgroup();
    f.cgroup_found = m.found;
    f.cgroup_bytes = m.usage;
    f.cgroup_max_hits = m.max_hits;
    f.cgroup_oom_kills = m.oom_kills;
    if (G.running) {
        f.limit_bytes = atomic_load(&G.limit);
        f.guard_bytes = atomic_load(&G.guard);
        f.usage_bytes = atomic_load(&G.usage);
    } else {
        f.limit_bytes = G.cfg && G.cfg->memory_limit ? G.cfg->memory_limit : m.limit;
    }
    f.shedding = atomic_load(&G.shedding);
    f.shed = atomic_load(&G.shed);
    f.unready = atomic_load(&G.unready);
    return f;
}

/* v, or null when there is none. */
static void guard__uintOrNull(textBuf *t, bool some, unsigned long long v) {
    if (some)
        textUint(t, v);
    else
        TEXT_LIT(t, "null");
}

void guardFormatJson(const guardFigures *f, textBuf *t) {
    TEXT_LIT(t, "\"cgroup_bytes\":");
    guard__uintOrNull(t, f->cgroup_found, f->cgroup_bytes);
    TEXT_LIT(t, ",\"limit_bytes\":");
    guard__uintOrNull(t, f->limit_bytes != 0, f->limit_bytes);
    TEXT_LIT(t, ",\"guard_bytes\":");
    guard__uintOrNull(t, f->guard_bytes != 0, f->guard_bytes);
    textf(t, ",\"guard_shedding\":%s,\"guard_shed\":%llu,\"readyz_unready\":%llu",
          f->shedding ? "true" : "false", (unsigned long long)f->shed,
          (unsigned long long)f->unready);
}

void guardFormatPrometheus(const guardFigures *f, textBuf *t) {
    if (f->cgroup_found)
        textf(t,
              "# HELP memoscope_memory_cgroup_bytes Memory charged to this process's cgroup.\n"
              "# TYPE memoscope_memory_cgroup_bytes gauge\nmemoscope_memory_cgroup_bytes %llu\n"
              "# HELP memoscope_memory_cgroup_limit_hits_total Times the cgroup's usage hit its "
              "limit (v2 memory.events max, v1 failcnt).\n"
              "# TYPE memoscope_memory_cgroup_limit_hits_total counter\n"
              "memoscope_memory_cgroup_limit_hits_total %llu\n"
              "# HELP memoscope_memory_cgroup_oom_kills_total Processes of the cgroup killed by "
              "its OOM killer.\n# TYPE memoscope_memory_cgroup_oom_kills_total counter\n"
              "memoscope_memory_cgroup_oom_kills_total %llu\n",
              (unsigned long long)f->cgroup_bytes, (unsigned long long)f->cgroup_max_hits,
              (unsigned long long)f->cgroup_oom_kills);
    if (f->limit_bytes)
        textf(t,
              "# HELP memoscope_memory_limit_bytes The memory limit (--memory-limit or the "
              "cgroup's).\n# TYPE memoscope_memory_limit_bytes gauge\n"
              "memoscope_memory_limit_bytes %llu\n",
              (unsigned long long)f->limit_bytes);
    if (f->guard_bytes)
        textf(t,
              "# HELP memoscope_memory_guard_bytes Above this, POST /calculate is shed.\n"
              "# TYPE memoscope_memory_guard_bytes gauge\nmemoscope_memory_guard_bytes %llu\n",
              (unsigned long long)f->guard_bytes);
    textf(t,
          "# HELP memoscope_guard_shedding 1 while memory is above the guard.\n"
          "# TYPE memoscope_guard_shedding gauge\nmemoscope_guard_shedding %d\n"
          "# HELP memoscope_guard_shed_total POST /calculate requests shed by the memory guard.\n"
          "# TYPE memoscope_guard_shed_total counter\nmemoscope_guard_shed_total %llu\n"
          "# HELP memoscope_readyz_unready_total GET /readyz answers of 503.\n"
          "# TYPE memoscope_readyz_unready_total counter\nmemoscope_readyz_unready_total %llu\n",
          f->shedding ? 1 : 0, (unsigned long long)f->shed, (unsigned long long)f->unready);
}

void guardDescribe(char *buf, size_t cap) {
    guardFigures f = guardRead();
    char limit[32] = "none", guard[32] = "off";
    if (f.limit_bytes)
        snprintf(limit, sizeof(limit), "%llu%s", (unsigned long long)f.limit_bytes,
                 G.cfg->memory_limit ? "" : "(cgroup)");
    if (G.cfg->guard_bytes || G.cfg->guard_fraction > 0)
        snprintf(guard, sizeof(guard), "%llu", (unsigned long long)f.guard_bytes);
    snprintf(buf, cap, "memory_limit=%s memory_guard=%s", limit, guard);
}
