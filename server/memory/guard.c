/* guard.c -- the memory limit and the guard's sampler. */
#include "guard.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "cgroup.h"
#include "proc.h"
#include "text.h"

static struct {
    guardSettings settings;
    cgroup cg;
    pthread_mutex_t cg_lock; /* one reader of the cgroup's files at a time */
    bool limit_from_cgroup;
    atomic_uint_fast64_t limit, guard, usage;
    atomic_bool shedding;
    atomic_bool stop;
    bool running;
    pthread_t sampler;
    atomic_uint_fast64_t shed, unready;
} state = {.cg_lock = PTHREAD_MUTEX_INITIALIZER};

/* ---------------------------------------------------------------- private */

static cgroupMemory readCgroup(void) {
    pthread_mutex_lock(&state.cg_lock);
    cgroupMemory m = cgroupRead(&state.cg);
    pthread_mutex_unlock(&state.cg_lock);
    return m;
}

/* Works the limit and the guard out again (the cgroup's limit may change)
 * and compares. */
static void sample(void) {
    uint64_t limit = state.settings.memory_limit, usage;
    if (limit) {
        usage = procRssBytes();
    } else {
        cgroupMemory m = readCgroup();
        limit = m.limit;
        usage = m.usage;
    }
    uint64_t guard = state.settings.guard_bytes;
    if (state.settings.guard_fraction > 0)
        guard = (uint64_t)((double)limit * state.settings.guard_fraction);
    atomic_store(&state.limit, limit);
    atomic_store(&state.guard, guard);
    atomic_store(&state.usage, usage);
    atomic_store(&state.shedding, guard > 0 && usage > guard);
}

static void *run(void *arg) {
    (void)arg;
    struct timespec period = {0, GUARD_PERIOD_MS * 1000000L};
    while (!atomic_load(&state.stop)) {
        sample();
        nanosleep(&period, NULL);
    }
    return NULL;
}

/* -------------------------------------------------------------------- API */

bool guardStart(const guardSettings *s, const char *cgroup_root, FILE *err) {
    state.settings = *s;
    atomic_store(&state.stop, false);
    atomic_store(&state.shedding, false);
    cgroupOpen(&state.cg, cgroup_root);
    sample();
    if (s->guard_fraction > 0 && atomic_load(&state.limit) == 0) {
        fprintf(err,
                "memoscope: bad --memory-guard %g: a fraction of the memory limit, and "
                "there is none (no cgroup limit): give --memory-limit, or the guard in "
                "bytes\n",
                s->guard_fraction);
        cgroupClose(&state.cg);
        return false;
    }
    state.running = false;
    if (s->guard_bytes || s->guard_fraction > 0)
        state.running = pthread_create(&state.sampler, NULL, run, NULL) == 0;
    return true;
}

void guardStop(void) {
    if (state.running) {
        atomic_store(&state.stop, true);
        pthread_join(state.sampler, NULL);
        state.running = false;
    }
    cgroupClose(&state.cg);
}

bool guardShedding(void) {
    return atomic_load_explicit(&state.shedding, memory_order_relaxed);
}

void guardLevels(uint64_t *usage, uint64_t *guard) {
    *usage = atomic_load_explicit(&state.usage, memory_order_relaxed);
    *guard = atomic_load_explicit(&state.guard, memory_order_relaxed);
}

void guardCountShed(void) {
    atomic_fetch_add_explicit(&state.shed, 1, memory_order_relaxed);
}

void guardCountUnready(void) {
    atomic_fetch_add_explicit(&state.unready, 1, memory_order_relaxed);
}

guardFigures guardRead(void) {
    guardFigures f = {0};
    cgroupMemory m = readCgroup();
    f.cgroup_found = m.found;
    f.cgroup_bytes = m.usage;
    f.cgroup_max_hits = m.max_hits;
    f.cgroup_oom_kills = m.oom_kills;
    if (state.running) {
        f.limit_bytes = atomic_load(&state.limit);
        f.guard_bytes = atomic_load(&state.guard);
        f.usage_bytes = atomic_load(&state.usage);
    } else {
        f.limit_bytes = state.settings.memory_limit ? state.settings.memory_limit : m.limit;
    }
    f.shedding = atomic_load(&state.shedding);
    f.shed = atomic_load(&state.shed);
    f.unready = atomic_load(&state.unready);
    return f;
}

/* v, or null when there is none. */
static void uintOrNull(textBuf *t, bool some, unsigned long long v) {
    if (some)
        textUint(t, v);
    else
        TEXT_LIT(t, "null");
}

void guardFormatJson(const guardFigures *f, textBuf *t) {
    TEXT_LIT(t, "\"cgroup_bytes\":");
    uintOrNull(t, f->cgroup_found, f->cgroup_bytes);
    TEXT_LIT(t, ",\"limit_bytes\":");
    uintOrNull(t, f->limit_bytes != 0, f->limit_bytes);
    TEXT_LIT(t, ",\"guard_bytes\":");
    uintOrNull(t, f->guard_bytes != 0, f->guard_bytes);
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
                 state.settings.memory_limit ? "" : "(cgroup)");
    if (state.settings.guard_bytes || state.settings.guard_fraction > 0)
        snprintf(guard, sizeof(guard), "%llu", (unsigned long long)f.guard_bytes);
    snprintf(buf, cap, "memory_limit=%s memory_guard=%s", limit, guard);
}
