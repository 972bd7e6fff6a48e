/* suspend.h -- who resumes a suspended connection, when the wake may come
 * before the handler has suspended it.
 *
 * The handler arms the flag before it starts what will wake it, suspends
 * the connection, then calls wakeSlept; the waker (another thread) calls
 * wakeFire. Whichever of the two comes second resumes the connection, so it
 * is resumed exactly once, after the suspend. Used by calculate.c (a value other
 * requests compute) and cache_info.c (a backend's clear).
 */
#ifndef SUSPEND_H
#define SUSPEND_H

#include <microhttpd.h>
#include <stdatomic.h>

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

#endif
