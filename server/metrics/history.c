/* history.c -- a fixed ring of once-a-second figures, for GET /history. */
#include "history.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "stats.h"
#include "text.h"

static struct {
    pthread_mutex_t lock;
    historySample ring[HISTORY_SAMPLES];
    size_t head, count; /* head: the oldest sample */
    pthread_t thread;
    pthread_cond_t wake;
    bool stop, running;
} R = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---------------------------------------------------------------- private */

static void history__take(void) {
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
    };
    historyPush(&h);
}

static void *history__run(void *arg) {
    (void)arg;
    pthread_mutex_lock(&R.lock);
    while (!R.stop) {
        pthread_mutex_unlock(&R.lock);
        history__take();
        pthread_mutex_lock(&R.lock);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += HISTORY_PERIOD_MS / 1000;
        while (!R.stop && pthread_cond_timedwait(&R.wake, &R.lock, &until) == 0)
            ; /* woken only to stop */
    }
    pthread_mutex_unlock(&R.lock);
    return NULL;
}

/* -------------------------------------------------------------------- API */

bool historyStart(void) {
    R.stop = false;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* else the timed wait spins (NOTES) */
    pthread_cond_init(&R.wake, &ca);
    pthread_condattr_destroy(&ca);
    R.running = pthread_create(&R.thread, NULL, history__run, NULL) == 0;
    if (!R.running)
        pthread_cond_destroy(&R.wake);
    return R.running;
}

void historyStop(void) {
    if (!R.running)
        return;
    pthread_mutex_lock(&R.lock);
    R.stop = true;
    pthread_cond_signal(&R.wake);
    pthread_mutex_unlock(&R.lock);
    pthread_join(R.thread, NULL);
    pthread_cond_destroy(&R.wake);
    R.running = false;
}

void historyPush(const historySample *s) {
    pthread_mutex_lock(&R.lock);
    size_t at = (R.head + R.count) % HISTORY_SAMPLES;
    R.ring[at] = *s;
    if (R.count < HISTORY_SAMPLES)
        R.count++;
    else
        R.head = (R.head + 1) % HISTORY_SAMPLES;
    pthread_mutex_unlock(&R.lock);
}

void historyReset(void) {
    pthread_mutex_lock(&R.lock);
    R.head = R.count = 0;
    pthread_mutex_unlock(&R.lock);
}

void historyFormat(textBuf *t) {
    textf(t, "{\"period_s\":%g,\"samples\":[", HISTORY_PERIOD_MS / 1000.0);
    pthread_mutex_lock(&R.lock);
    for (size_t i = 0; i < R.count; i++) {
        const historySample *h = &R.ring[(R.head + i) % HISTORY_SAMPLES];
        char oldest[32] = "null";
        if (h->oldest_age_s >= 0)
            snprintf(oldest, sizeof(oldest), "%.3f", h->oldest_age_s);
        textf(t,
              "%s{\"uptime_s\":%.3f,\"requests\":%llu,\"errors\":%llu,\"live\":%llu,"
              "\"live_bytes\":%llu,\"hits\":%llu,\"misses\":%llu,\"rss_bytes\":%llu,"
              "\"heap_bytes\":%llu,\"oldest_age_s\":%s}",
              i ? "," : "", h->uptime_s, (unsigned long long)h->requests,
              (unsigned long long)h->errors, (unsigned long long)h->live,
              (unsigned long long)h->live_bytes, (unsigned long long)h->hits,
              (unsigned long long)h->misses, (unsigned long long)h->rss_bytes,
              (unsigned long long)h->heap_bytes, oldest);
    }
    pthread_mutex_unlock(&R.lock);
    TEXT_LIT(t, "]}\n");
}
