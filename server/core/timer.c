/* timer.c -- a min-heap of deadlines served by one thread. */
#include "timer.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC, or a timed wait spins */
    pthread_t thread;
    timer **heap;
    size_t len, cap;
    uint64_t next_seq;
    bool hurry;
    bool stop;
} state = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---------------------------------------------------------------- private */

static bool before(const timer *x, const timer *y) {
    return x->deadline_ns != y->deadline_ns ? x->deadline_ns < y->deadline_ns : x->seq < y->seq;
}

static void swap(size_t i, size_t j) {
    timer *t = state.heap[i];
    state.heap[i] = state.heap[j];
    state.heap[j] = t;
    state.heap[i]->at = i;
    state.heap[j]->at = j;
}

static void do_siftUp(size_t i) {
    while (i > 0 && before(state.heap[i], state.heap[(i - 1) / 2])) {
        swap(i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void do_siftDown(size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < state.len && before(state.heap[l], state.heap[m]))
            m = l;
        if (r < state.len && before(state.heap[r], state.heap[m]))
            m = r;
        if (m == i)
            return;
        swap(i, m);
        i = m;
    }
}

/* Takes the timer at place i out of the heap. */
static timer *do_remove(size_t i) {
    timer *t = state.heap[i];
    state.len--;
    if (i < state.len) {
        state.heap[i] = state.heap[state.len];
        state.heap[i]->at = i;
        do_siftDown(i);
        do_siftUp(i);
    }
    t->at = SIZE_MAX; /* not pending */
    return t;
}

static timer *do_pop(void) {
    return do_remove(0);
}

static void *run(void *arg) {
    (void)arg;
    pthread_mutex_lock(&state.lock);
    for (;;) {
        if (state.len == 0) {
            if (state.stop)
                break;
            pthread_cond_wait(&state.cond, &state.lock);
            continue;
        }
        uint64_t now = clockNow();
        if (state.hurry || state.stop || state.heap[0]->deadline_ns <= now) {
            timer *t = do_pop();
            pthread_mutex_unlock(&state.lock);
            t->cb(t);
            pthread_mutex_lock(&state.lock);
            continue;
        }
        struct timespec until = clockTimespec(state.heap[0]->deadline_ns);
        pthread_cond_timedwait(&state.cond, &state.lock, &until);
    }
    pthread_mutex_unlock(&state.lock);
    return NULL;
}

/* -------------------------------------------------------------------- API */

bool timerStart(size_t capacity) {
    pthread_condattr_t attr;
    state.heap = calloc(capacity ? capacity : 1, sizeof(*state.heap));
    if (!state.heap)
        return false;
    state.cap = capacity;
    state.len = 0;
    state.hurry = state.stop = false;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&state.cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&state.thread, NULL, run, NULL) != 0) {
        pthread_cond_destroy(&state.cond);
        free(state.heap);
        state.heap = NULL;
        return false;
    }
    return true;
}

void timerStop(void) {
    pthread_mutex_lock(&state.lock);
    state.stop = true;
    pthread_cond_signal(&state.cond);
    pthread_mutex_unlock(&state.lock);
    pthread_join(state.thread, NULL);
    pthread_cond_destroy(&state.cond);
    free(state.heap);
    state.heap = NULL;
    state.len = state.cap = 0; /* a timerAdd after the stop finds no room, not a freed heap */
}

bool timerAdd(timer *t, unsigned delay_ms, void (*cb)(timer *t)) {
    return timerAddAt(t, clockNow() + delay_ms * NS_PER_MS, cb);
}

bool timerAddAt(timer *t, uint64_t deadline_ns, void (*cb)(timer *t)) {
    t->cb = cb;
    t->deadline_ns = deadline_ns;
    pthread_mutex_lock(&state.lock);
    if (state.len == state.cap) {
        pthread_mutex_unlock(&state.lock);
        return false;
    }
    t->seq = state.next_seq++;
    t->at = state.len;
    state.heap[state.len++] = t;
    do_siftUp(state.len - 1);
    /* Wake the thread only when its next deadline changed. */
    if (state.heap[0] == t || state.hurry)
        pthread_cond_signal(&state.cond);
    pthread_mutex_unlock(&state.lock);
    return true;
}

bool timerCancel(timer *t) {
    pthread_mutex_lock(&state.lock);
    bool pending = t->at < state.len && state.heap[t->at] == t;
    if (pending)
        do_remove(t->at);
    pthread_mutex_unlock(&state.lock);
    return pending;
}

void timerHurry(void) {
    pthread_mutex_lock(&state.lock);
    state.hurry = true;
    pthread_cond_signal(&state.cond);
    pthread_mutex_unlock(&state.lock);
}
