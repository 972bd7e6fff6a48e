/* suspend.h -- who resumes a suspended connection, when the wake may come
 * before the handler has suspended it.
 *
 * The handler arms the flag before it starts what will wake it, suspends
 * the connection, then calls wakeSlept; the waker (another thread) calls
 * wakeFire. Whichever of the two comes second resumes the connection, so it
 * is resumed exactly once, after the suspend. Used by calculate.c (a value other
 * requests compute) and cache_info.c (a backend's clear), through
 * suspendWait below, which adds a deadline.
 */
#ifndef SUSPEND_H
#define SUSPEND_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "container.h"
#include "timer.h"

enum { WAKE_IDLE, WAKE_SUSPENDED, WAKE_WOKEN };

typedef struct wakeFlag {
    atomic_int state;
} wakeFlag;

/* Before the wait begins (the waker may fire at once). */
static inline void wakeArm(wakeFlag *w) {
    atomic_store(&w->state, WAKE_IDLE);
}

/* The waker's side: resumes conn if its handler has already suspended it. */
static inline void wakeFire(wakeFlag *w, struct MHD_Connection *conn) {
    if (atomic_exchange(&w->state, WAKE_WOKEN) == WAKE_SUSPENDED)
        MHD_resume_connection(conn);
}

/* The handler's side, after MHD_suspend_connection: resumes conn at once if
 * the wake came before it slept. */
static inline void wakeSlept(wakeFlag *w, struct MHD_Connection *conn) {
    if (atomic_exchange(&w->state, WAKE_SUSPENDED) == WAKE_WOKEN)
        MHD_resume_connection(conn);
}

/* A wait on a waker that may come late, or never: a timer resumes the
 * connection at its deadline, and the request is answered without what it
 * waited for. The block that holds the suspendWait (with what the waker
 * writes into) lives apart from the request's state, so that a request
 * answered at its deadline may end while the waker still holds the block:
 * the last of its holders (the request, the waker, the deadline's timer)
 * calls last, which frees it.
 *
 * The handler: waitInit once; waitArm before it starts the wait (the waker
 * may come at once), waitUnarm if the wait did not begin; after
 * MHD_suspend_connection, waitSlept; once resumed, waitEnded says whether
 * the waker came, and the handler lets go with waitRelease (a block whose
 * wait began is not armed again: its timer's callback may still run). The
 * waker calls waitCame once, after it has written what it brings. */
typedef struct suspendWait {
    wakeFlag wake; /* the waker and the deadline against the suspend */
    timer deadline;
    atomic_int holders;
    atomic_bool came; /* the waker came (what it brings is written) */
    struct MHD_Connection *conn;
    void (*last)(struct suspendWait *w); /* frees the block, when no one holds it */
} suspendWait;

static inline void waitInit(suspendWait *w, struct MHD_Connection *conn,
                            void (*last)(suspendWait *w)) {
    atomic_init(&w->holders, 1); /* the handler's */
    atomic_init(&w->came, false);
    w->conn = conn;
    w->last = last;
}

/* Before the wait begins: the waker's hold is taken for it. Relaxed: the
 * waker finds w through a lock or a queue that publishes these stores. */
static inline void waitArm(suspendWait *w) {
    atomic_store_explicit(&w->wake.state, WAKE_IDLE, memory_order_relaxed);
    atomic_store_explicit(&w->came, false, memory_order_relaxed);
    atomic_store_explicit(&w->holders, 2, memory_order_relaxed);
}

/* The wait did not begin: the waker never saw w. */
static inline void waitUnarm(suspendWait *w) {
    atomic_store_explicit(&w->holders, 1, memory_order_relaxed);
}

static inline void waitRelease(suspendWait *w) {
    if (atomic_fetch_sub(&w->holders, 1) == 1)
        w->last(w);
}

/* The waker's side: the handler is resumed unless the deadline came first. */
static inline void waitCame(suspendWait *w) {
    atomic_store(&w->came, true);
    wakeFire(&w->wake, w->conn);
    waitRelease(w);
}

static inline void waitExpired(timer *t) {
    suspendWait *w = container_of(t, suspendWait, deadline);
    wakeFire(&w->wake, w->conn);
    waitRelease(w);
}

/* The handler's side, after MHD_suspend_connection: the deadline (clockNow
 * nanoseconds; one already past resumes at once) is set, then the wake may
 * come. Without room for the timer the wait has no deadline. */
static inline void waitSlept(suspendWait *w, uint64_t deadline_ns) {
    atomic_fetch_add(&w->holders, 1);
    if (!timerAddAt(&w->deadline, deadline_ns, waitExpired))
        atomic_fetch_sub(&w->holders, 1); /* the handler still holds it */
    wakeSlept(&w->wake, w->conn);
}

/* Once resumed: did the waker come? The deadline's timer is taken out. */
static inline bool waitEnded(suspendWait *w) {
    bool came = atomic_load(&w->came);
    if (timerCancel(&w->deadline))
        atomic_fetch_sub(&w->holders, 1); /* the timer's: the handler still holds it */
    return came;
}

#endif
