/* timer.c -- a min-heap of deadlines served by one thread. */
#include "timer.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC, or a timed wait spins */
    pthread_t thread;
    timer **heap;
    size_t len, cap;
    uint64_t next_seq;
    bool hurry;
    bool stop;
} T = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---------------------------------------------------------------- private */

static bool before(const timer *x, const timer *y) {
    return x->deadline_ns != y->deadline_ns ? x->deadline_ns < y->deadline_ns : x->seq < y->seq;
}

static void swap(size_t i, size_t j) {
    timer *t = T.heap[i];
    T.heap[i] = T.heap[j];
    T.heap[j] = t;
}

static void do_siftUp(size_t i) {
    while (i > 0 && before(T.heap[i], T.heap[(i - 1) / 2])) {
        swap(i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void do_siftDown(size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < T.len && before(T.heap[l], T.heap[m]))
            m = l;
        if (r < T.len && before(T.heap[r], T.heap[m]))
            m = r;
        if (m == i)
            return;
        swap(i, m);
        i = m;
    }
}

static timer *do_pop(void) {
    timer *top = T.heap[0];
    T.heap[0] = T.heap[--T.len];
    do_siftDown(0);
    return top;
}

static void *run(void *arg) {
    (void)arg;
    pthread_mutex_lock(&T.lock);
    for (;;) {
        if (T.len == 0) {
            if (T.stop)
                break;
            pthread_cond_wait(&T.cond, &T.lock);
            continue;
        }
        uint64_t now = timerNow();
        if (T.hurry || T.stop || T.heap[0]->deadline_ns <= now) {
            timer *t = do_pop();
            pthread_mutex_unlock(&T.lock);
            t->cb(t);
            pthread_mutex_lock(&T.lock);
            continue;
        }
        struct timespec until = {(time_t)(T.heap[0]->deadline_ns / NS_PER_S),
                                 (long)(T.heap[0]->deadline_ns % NS_PER_S)};
        pthread_cond_timedwait(&T.cond, &T.lock, &until);
    }
    pthread_mutex_unlock(&T.lock);
    return NULL;
}

/* -------------------------------------------------------------------- API */

uint64_t timerNow(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

bool timerStart(size_t capacity) {
    pthread_condattr_t attr;
    T.heap = calloc(capacity ? capacity : 1, sizeof(*T.heap));
    if (!T.heap)
        return false;
    T.cap = capacity;
    T.len = 0;
    T.hurry = T.stop = false;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&T.cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&T.thread, NULL, run, NULL) != 0) {
        pthread_cond_destroy(&T.cond);
        free(T.heap);
        T.heap = NULL;
        return false;
    }
    return true;
}

void timerStop(void) {
    pthread_mutex_lock(&T.lock);
    T.stop = true;
    pthread_cond_signal(&T.cond);
    pthread_mutex_unlock(&T.lock);
    pthread_join(T.thread, NULL);
    pthread_cond_destroy(&T.cond);
    free(T.heap);
    T.heap = NULL;
    T.len = T.cap = 0; /* a timerAdd after the stop finds no room, not a freed heap */
}

bool timerAdd(timer *t, unsigned delay_ms, void (*cb)(timer *t)) {
    t->cb = cb;
    t->deadline_ns = timerNow() + delay_ms * NS_PER_MS;
    pthread_mutex_lock(&T.lock);
    if (T.len == T.cap) {
        pthread_mutex_unlock(&T.lock);
        return false;
    }
    t->seq = T.next_seq++;
    T.heap[T.len++] = t;
    do_siftUp(T.len - 1);
    /* Wake the thread only when its next deadline changed. */
    if (T.heap[0] == t || T.hurry)
        pthread_cond_signal(&T.cond);
    pthread_mutex_unlock(&T.lock);
    return true;
}

void timerHurry(void) {
    pthread_mutex_lock(&T.lock);
    T.hurry = true;
    pthread_cond_signal(&T.cond);
    pthread_mutex_unlock(&T.lock);
}
