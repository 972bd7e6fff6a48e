/* connections.c -- the open connections, and room made for newcomers. */
#include "connections.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "clock.h"

/* ------------------------------------------------------------------ types */

struct connsEntry {
    connsEntry *prev, *next; /* in state.head, under state.lock */
    int fd;                  /* libmicrohttpd's; open while the record is listed */
    bool leaving;            /* shut down to make room, not closed yet */
    /* 0 while a request is in; when idle, the time (ns, clockNow) its last
     * request began, or it was accepted. The beginning, not the end: a
     * request's end is noted after its answer is written, late by however
     * long the worker was kept from running, while the beginnings of two
     * requests come in the order the client sent them. */
    atomic_uint_fast64_t idle_since;
    uint64_t began; /* of the request in, written by its worker only */
};

static struct {
    pthread_mutex_t lock;
    connsEntry *head;    /* every tracked connection */
    unsigned max;        /* connections: the work slots and the reserved ones */
    unsigned work_max;   /* work slots */
    atomic_uint working; /* work slots taken */
    atomic_uint open;    /* admitted and not closed, leaving ones included */
    atomic_uint leaving; /* shut down to make room, not closed yet */
    atomic_ullong reclaimed;
} state = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---------------------------------------------------------------- private */

/* Shuts the connection idle the longest down; false when none is idle.
 * Under state.lock, so the descriptor is still libmicrohttpd's (a record leaves
 * the list in the CLOSED notification, before the socket is closed). */
static bool do_reclaimOldest(void) {
    connsEntry *oldest = NULL;
    uint64_t since = UINT64_MAX;
    for (connsEntry *e = state.head; e; e = e->next) {
        uint64_t t = atomic_load_explicit(&e->idle_since, memory_order_relaxed);
        if (!e->leaving && t != 0 && t < since) {
            since = t;
            oldest = e;
        }
    }
    if (!oldest)
        return false;
    oldest->leaving = true;
    atomic_fetch_add(&state.leaving, 1);
    atomic_fetch_add(&state.reclaimed, 1);
    shutdown(oldest->fd, SHUT_RDWR); /* libmicrohttpd sees the hang-up and closes it */
    return true;
}

/* -------------------------------------------------------------------- API */

void connsInit(unsigned max, unsigned reserved) {
    state.work_max = max;
    state.max = max > UINT_MAX - reserved ? UINT_MAX : max + reserved;
    atomic_store(&state.working, 0);
    state.head = NULL;
    atomic_store(&state.open, 0);
    atomic_store(&state.leaving, 0);
    atomic_store(&state.reclaimed, 0);
}

bool connsAdmit(void) {
    /* Leaving connections are on their way out: they hold no place. */
    unsigned open = atomic_fetch_add(&state.open, 1);
    if (open - atomic_load(&state.leaving) < state.max)
        return true;
    pthread_mutex_lock(&state.lock);
    bool room = do_reclaimOldest();
    pthread_mutex_unlock(&state.lock);
    if (!room)
        atomic_fetch_sub(&state.open, 1);
    return room;
}

connsEntry *connsOpened(int fd) {
    connsEntry *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->fd = fd;
    atomic_init(&e->idle_since, clockNow());
    pthread_mutex_lock(&state.lock);
    e->next = state.head;
    if (state.head)
        state.head->prev = e;
    state.head = e;
    pthread_mutex_unlock(&state.lock);
    return e;
}

void connsClosed(connsEntry *e) {
    if (e) {
        pthread_mutex_lock(&state.lock);
        if (e->prev)
            e->prev->next = e->next;
        else
            state.head = e->next;
        if (e->next)
            e->next->prev = e->prev;
        if (e->leaving)
            atomic_fetch_sub(&state.leaving, 1);
        pthread_mutex_unlock(&state.lock);
        free(e);
    }
    atomic_fetch_sub(&state.open, 1);
}

void connsBusy(connsEntry *e) {
    if (e) {
        e->began = clockNow();
        atomic_store_explicit(&e->idle_since, 0, memory_order_relaxed);
    }
}

void connsIdle(connsEntry *e) {
    if (e && e->began)
        atomic_store_explicit(&e->idle_since, e->began, memory_order_relaxed);
}

bool connsWorkBegin(void) {
    if (atomic_fetch_add(&state.working, 1) < state.work_max)
        return true;
    atomic_fetch_sub(&state.working, 1);
    return false;
}

void connsWorkEnd(void) {
    atomic_fetch_sub(&state.working, 1);
}

unsigned connsWorking(void) {
    return atomic_load(&state.working);
}

unsigned connsOpen(void) {
    return atomic_load(&state.open);
}

unsigned long long connsReclaimed(void) {
    return atomic_load(&state.reclaimed);
}
