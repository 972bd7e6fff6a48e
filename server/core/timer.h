/* timer.h -- one thread that runs callbacks at deadlines (a min-heap).
 *
 * Slow calls wait here instead of in a worker thread: a request suspends
 * its connection and adds a timer whose callback resumes it. The heap keeps
 * add and fire O(log n) with thousands pending; ties fire in the order they
 * were added (a sequence number, as libuv's timer.c).
 *
 * A timer is owned by the caller (embedded in its request) and must stay
 * valid until its callback has run. Callbacks run on the timer thread with
 * no lock held. Thread-safe: timerAdd and timerHurry may be called from any
 * thread between timerStart and timerStop.
 */
#ifndef TIMER_H
#define TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"

typedef struct timer {
    uint64_t deadline_ns; /* CLOCK_MONOTONIC */
    uint64_t seq;
    size_t at; /* its place in the heap while pending (timerCancel) */
    void (*cb)(struct timer *t);
} timer;

/* Starts the timer thread, with room for capacity pending timers (the heap
 * never grows, so timerAdd cannot fail on memory). Returns false on error. */
bool timerStart(size_t capacity);

/* Fires whatever is still pending, stops the thread and frees the heap.
 * A timerAdd after it returns false (no room), until the next timerStart. */
void timerStop(void);

/* Runs cb(t) on the timer thread after delay_ms. Returns false (and does
 * nothing) when capacity timers are already pending. */
bool timerAdd(timer *t, unsigned delay_ms, void (*cb)(timer *t));

/* Runs cb(t) on the timer thread at deadline_ns (clockNow's clock); timers
 * of one deadline fire in the order they were added. Returns false as
 * timerAdd does. */
bool timerAddAt(timer *t, uint64_t deadline_ns, void (*cb)(timer *t));

/* Takes t out before it fires. Returns true when it was pending: its
 * callback will not run. Returns false when it is no longer pending: its
 * callback has run, or runs now on the timer thread (the caller must not
 * free t before the callback says it is done with it). */
bool timerCancel(timer *t);

/* From now on every pending and every new timer fires at once: used when
 * shutdown's grace period is over. */
void timerHurry(void);

#endif /* TIMER_H */
