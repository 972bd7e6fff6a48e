/* test_timer.c -- server/core/timer.c specified by example: timers fire in
 * deadline order, ties in the order they were added, thousands can be
 * pending, a full heap refuses, hurry fires everything at once, stop fires
 * what is left, a cancelled timer never fires and the others keep their
 * order. A tie needs two timers with the very same deadline, which
 * the monotonic clock never gives twice on demand: timerAddAt sets it.
 */
#include "timer.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

#define MANY 5000
#define SETTLE_MS 5000 /* every wait below is a poll with this deadline */

/* --------------------------------------------------- what fired, in order */

typedef struct probe {
    timer tm; /* first: the callback gets &tm */
    int id;
    uint64_t fired_ns;
} probe;

static struct {
    pthread_mutex_t lock;
    int order[MANY];
    size_t n;
} fired = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void record(timer *t) {
    probe *p = (probe *)t;
    p->fired_ns = clockNow();
    pthread_mutex_lock(&fired.lock);
    if (fired.n < MANY)
        fired.order[fired.n] = p->id;
    fired.n++;
    pthread_mutex_unlock(&fired.lock);
}

static size_t firedCount(void) {
    pthread_mutex_lock(&fired.lock);
    size_t n = fired.n;
    pthread_mutex_unlock(&fired.lock);
    return n;
}

static void reset(void) {
    pthread_mutex_lock(&fired.lock);
    fired.n = 0;
    pthread_mutex_unlock(&fired.lock);
}

/* Polls until n timers have fired or SETTLE_MS passes; returns the count. */
static size_t waitFired(size_t n) {
    uint64_t deadline = clockNow() + SETTLE_MS * NS_PER_MS;
    struct timespec nap = {0, 1000000};
    size_t got;
    while ((got = firedCount()) < n && clockNow() < deadline)
        nanosleep(&nap, NULL);
    return got;
}

/* A callback that holds the timer thread until released, so that timers
 * pile up due behind it. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool entered, released;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};

static void hold(timer *t) {
    (void)t;
    pthread_mutex_lock(&gate.lock);
    gate.entered = true;
    pthread_cond_broadcast(&gate.cond);
    while (!gate.released)
        pthread_cond_wait(&gate.cond, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
}

static void holdThread(timer *t) {
    gate.entered = gate.released = false;
    CHECK(timerAdd(t, 0, hold));
    pthread_mutex_lock(&gate.lock);
    while (!gate.entered)
        pthread_cond_wait(&gate.cond, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
}

static void releaseThread(void) {
    pthread_mutex_lock(&gate.lock);
    gate.released = true;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.lock);
}

/* ------------------------------------------------------------------ tests */

static void timers_fire_in_deadline_order_not_in_the_order_added(void) {
    static const unsigned delays[] = {60, 10, 40, 0, 30, 50, 20};
    static const int expect[] = {3, 1, 6, 4, 2, 5, 0};
    enum { N = sizeof(delays) / sizeof(delays[0]) };
    probe p[N];
    reset();
    CHECK(timerStart(16));
    uint64_t t0 = clockNow();
    for (int i = 0; i < N; i++) {
        p[i].id = i;
        CHECK(timerAdd(&p[i].tm, delays[i], record));
    }
    CHECK_EQ(waitFired(N), N);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(fired.order[i], expect[i]);
        CHECK(p[i].fired_ns >= t0 + delays[i] * NS_PER_MS); /* never early */
    }
    timerStop();
}

/* A timer at a deadline chosen by the test. */
static void addAt(probe *p, uint64_t deadline_ns) {
    CHECK(timerAddAt(&p->tm, deadline_ns, record));
}

static void ties_fire_in_the_order_they_were_added(void) {
    enum { N = 200 };
    static probe p[N];
    timer holder;
    reset();
    CHECK(timerStart(N + 1));
    holdThread(&holder);
    /* Two deadlines, interleaved: every timer ties with half the others. A
     * heap is not stable, so without the sequence number ties come out
     * shuffled. */
    uint64_t now = clockNow();
    for (int i = 0; i < N; i++) {
        p[i].id = i;
        addAt(&p[i], i % 2 ? now - 1 : now - 2);
    }
    releaseThread();
    CHECK_EQ(waitFired(N), N);
    for (int i = 0; i < N / 2; i++) {
        CHECK_EQ(fired.order[i], 2 * i);             /* the earlier deadline first */
        CHECK_EQ(fired.order[N / 2 + i], 2 * i + 1); /* then the later, in order */
    }
    timerStop();
}

static void equal_delays_fire_in_the_order_added(void) {
    enum { N = 100 };
    static probe p[N];
    reset();
    CHECK(timerStart(N));
    for (int i = 0; i < N; i++) {
        p[i].id = i;
        CHECK(timerAdd(&p[i].tm, 20, record));
    }
    CHECK_EQ(waitFired(N), N);
    for (int i = 0; i < N; i++)
        CHECK_EQ(fired.order[i], i);
    timerStop();
}

static void thousands_pending_fire_sorted_and_a_full_heap_refuses(void) {
    static probe p[MANY + 1];
    timer holder;
    reset();
    CHECK(timerStart(MANY));
    holdThread(&holder); /* so that none fires and makes room meanwhile */
    /* Delays in a scrambled order (a permutation of 0..99 ms, 50 of each). */
    for (int i = 0; i < MANY; i++) {
        p[i].id = i;
        CHECK(timerAdd(&p[i].tm, (unsigned)(i * 37 % 100), record));
    }
    p[MANY].id = MANY;
    CHECK(!timerAdd(&p[MANY].tm, 0, record)); /* full: refused, nothing done */
    releaseThread();
    CHECK_EQ(waitFired(MANY), MANY);
    CHECK_EQ(firedCount(), MANY);
    int out_of_order = 0;
    for (int i = 1; i < MANY; i++) {
        probe *prev = &p[fired.order[i - 1]], *cur = &p[fired.order[i]];
        if (prev->tm.deadline_ns > cur->tm.deadline_ns)
            out_of_order++;
    }
    CHECK_EQ(out_of_order, 0);
    /* Room again once they fired. */
    CHECK(timerAdd(&p[MANY].tm, 0, record));
    CHECK_EQ(waitFired(MANY + 1), MANY + 1);
    timerStop();
}

static void a_cancelled_timer_never_fires_and_the_rest_keep_their_order(void) {
    enum { N = 300 };
    static probe p[N];
    timer holder;
    reset();
    CHECK(timerStart(N + 1));
    holdThread(&holder); /* none fires while the heap is cut into */
    for (int i = 0; i < N; i++) {
        p[i].id = i;
        CHECK(timerAdd(&p[i].tm, (unsigned)(i * 37 % 100), record));
    }
    size_t kept = 0;
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0)
            CHECK(timerCancel(&p[i].tm)); /* pending: taken out */
        else
            kept++;
    }
    CHECK(!timerCancel(&p[0].tm)); /* no longer pending */
    releaseThread();
    CHECK_EQ(waitFired(kept), kept);
    int out_of_order = 0, cancelled_fired = 0;
    for (size_t i = 0; i < kept; i++) {
        cancelled_fired += fired.order[i] % 3 == 0;
        if (i > 0 && p[fired.order[i - 1]].tm.deadline_ns > p[fired.order[i]].tm.deadline_ns)
            out_of_order++;
    }
    CHECK_EQ(cancelled_fired, 0);
    CHECK_EQ(out_of_order, 0);
    CHECK(!timerCancel(&p[1].tm)); /* it fired: nothing to take out */
    /* Cancelled ones made room, and may be added again. */
    CHECK(timerAdd(&p[0].tm, 0, record));
    CHECK_EQ(waitFired(kept + 1), kept + 1);
    CHECK_EQ(firedCount(), kept + 1);
    timerStop();
}

static void hurry_fires_pending_and_new_timers_at_once(void) {
    enum { N = 10 };
    static probe p[N + 1];
    reset();
    CHECK(timerStart(N + 1));
    uint64_t t0 = clockNow();
    for (int i = 0; i < N; i++) {
        p[i].id = i;
        CHECK(timerAdd(&p[i].tm, 60000 + (unsigned)(N - i), record)); /* a minute away */
    }
    timerHurry();
    CHECK_EQ(waitFired(N), N);
    for (int i = 0; i < N; i++)
        CHECK_EQ(fired.order[i], N - 1 - i); /* still in deadline order */
    p[N].id = N;
    CHECK(timerAdd(&p[N].tm, 60000, record));
    CHECK_EQ(waitFired(N + 1), N + 1);
    CHECK(clockNow() - t0 < SETTLE_MS * NS_PER_MS); /* nobody waited a minute */
    timerStop();
}

static void stop_fires_what_is_still_pending(void) {
    enum { N = 5 };
    probe p[N];
    reset();
    CHECK(timerStart(N));
    for (int i = 0; i < N; i++) {
        p[i].id = i;
        CHECK(timerAdd(&p[i].tm, 60000, record));
    }
    uint64_t t0 = clockNow();
    timerStop(); /* returns after every callback ran */
    CHECK_EQ(firedCount(), N);
    CHECK(clockNow() - t0 < SETTLE_MS * NS_PER_MS);
}

static void after_stop_a_timer_is_refused_not_written_to_a_freed_heap(void) {
    probe late = {.id = 7};
    reset();
    CHECK(timerStart(4));
    timerStop();
    CHECK(!timerAdd(&late.tm, 5, record)); /* the heap is gone: no room */
    CHECK(timerStart(1));                  /* and a new start works as the first */
    CHECK(timerAdd(&late.tm, 5, record));
    CHECK_EQ(waitFired(1), 1);
    timerStop();
}

static probe chained;
static void chain(timer *t) {
    (void)t;
    chained.id = 99;
    timerAdd(&chained.tm, 5, record);
}

static void a_timer_added_from_a_callback_fires_too(void) {
    timer first;
    reset();
    CHECK(timerStart(2));
    CHECK(timerAdd(&first, 5, chain));
    CHECK_EQ(waitFired(1), 1);
    CHECK_EQ(fired.order[0], 99);
    timerStop();
}

int main(void) {
    static const checkTest tests[] = {
        TEST(timers_fire_in_deadline_order_not_in_the_order_added),
        TEST(ties_fire_in_the_order_they_were_added),
        TEST(equal_delays_fire_in_the_order_added),
        TEST(thousands_pending_fire_sorted_and_a_full_heap_refuses),
        TEST(a_cancelled_timer_never_fires_and_the_rest_keep_their_order),
        TEST(hurry_fires_pending_and_new_timers_at_once),
        TEST(stop_fires_what_is_still_pending),
        TEST(a_timer_added_from_a_callback_fires_too),
        TEST(after_stop_a_timer_is_refused_not_written_to_a_freed_heap),
    };
    return checkMain(tests, sizeof(tests) / sizeof(tests[0]));
}
