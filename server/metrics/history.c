/* history.c -- a fixed ring of once-a-second figures, for GET /history. */
#include "history.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "allocator.h"
#include "stats.h"
#include "clock.h"
#include "text.h"

static struct {
    pthread_mutex_t lock;
    historySample ring[HISTORY_SAMPLES];
    size_t head, count; /* head: the oldest sample */
    pthread_t thread;
    pthread_cond_t wake;
    bool stop, running;
} state = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---------------------------------------------------------------- private */

static void take(void) {
    statsSnapshot s;
    statsTake(&s);
    historySample h = {
        .uptime_s = s.uptime_s,
        .requests = s.req_total,
        .errors = s.req_errors,
        .live = s.instances.live,
        .live_bytes = s.instances.live_bytes,
        .hits = s.cache.hits,
        .misses = s.cache.misses,
        .rss_bytes = s.rss_bytes,
        .heap_bytes = s.heap_bytes,
        .oldest_age_s = s.ages.any ? (double)s.ages.oldest_ns / 1e9 : -1,
        .shed = s.guard.shed,
        .shedding = s.guard.shedding,
    };
    historyPush(&h);
}

static void *run(void *arg) {
    (void)arg;
    pthread_mutex_lock(&state.lock);
    while (!state.stop) {
        pthread_mutex_unlock(&state.lock);
        allocReleaseAsked(); /* a clear's pages go back before the sample shows RSS */
        take();
        pthread_mutex_lock(&state.lock);
        struct timespec until = clockTimespec(clockNow() + HISTORY_PERIOD_MS * NS_PER_MS);
        while (!state.stop && pthread_cond_timedwait(&state.wake, &state.lock, &until) == 0)
            ; /* woken only to stop */
    }
    pthread_mutex_unlock(&state.lock);
    return NULL;
}

/* -------------------------------------------------------------------- API */

bool historyStart(void) {
    state.stop = false;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* else the timed wait spins */
    pthread_cond_init(&state.wake, &ca);
    pthread_condattr_destroy(&ca);
    state.running = pthread_create(&state.thread, NULL, run, NULL) == 0;
    if (!state.running)
        pthread_cond_destroy(&state.wake);
    return state.running;
}

void historyStop(void) {
    if (!state.running)
        return;
    pthread_mutex_lock(&state.lock);
    state.stop = true;
    pthread_cond_signal(&state.wake);
    pthread_mutex_unlock(&state.lock);
    pthread_join(state.thread, NULL);
    pthread_cond_destroy(&state.wake);
    state.running = false;
}

void historyPush(const historySample *s) {
    pthread_mutex_lock(&state.lock);
    size_t at = (state.head + state.count) % HISTORY_SAMPLES;
    state.ring[at] = *s;
    if (state.count < HISTORY_SAMPLES)
        state.count++;
    else
        state.head = (state.head + 1) % HISTORY_SAMPLES;
    pthread_mutex_unlock(&state.lock);
}

void historyReset(void) {
    pthread_mutex_lock(&state.lock);
    state.head = state.count = 0;
    pthread_mutex_unlock(&state.lock);
}

void historyFormat(textBuf *t) {
    textf(t, "{\"period_s\":%g,\"samples\":[", HISTORY_PERIOD_MS / 1000.0);
    pthread_mutex_lock(&state.lock);
    for (size_t i = 0; i < state.count; i++) {
        const historySample *h = &state.ring[(state.head + i) % HISTORY_SAMPLES];
        char oldest[32] = "null";
        if (h->oldest_age_s >= 0)
            snprintf(oldest, sizeof(oldest), "%.3f", h->oldest_age_s);
        textf(t,
              "%s{\"uptime_s\":%.3f,\"requests\":%llu,\"errors\":%llu,\"live\":%llu,"
              "\"live_bytes\":%llu,\"hits\":%llu,\"misses\":%llu,\"rss_bytes\":%llu,"
              "\"heap_bytes\":%llu,\"oldest_age_s\":%s,\"shed\":%llu,\"shedding\":%s}",
              i ? "," : "", h->uptime_s, (unsigned long long)h->requests,
              (unsigned long long)h->errors, (unsigned long long)h->live,
              (unsigned long long)h->live_bytes, (unsigned long long)h->hits,
              (unsigned long long)h->misses, (unsigned long long)h->rss_bytes,
              (unsigned long long)h->heap_bytes, oldest, (unsigned long long)h->shed,
              h->shedding ? "true" : "false");
    }
    pthread_mutex_unlock(&state.lock);
    TEXT_LIT(t, "]}\n");
}
