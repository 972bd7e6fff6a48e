/* test_registry.c -- the instance registry by example, on a clock the test moves. */
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "registry.h"

#define S 1000000000ull /* one second in ns */

static uint64_t fake_now;
static uint64_t fakeClock(void) {
    return fake_now;
}

static const uint64_t thresholds[REGISTRY_AGES] = REGISTRY_AGE_SECONDS;

/* The counts a walk of every node gives: what the cursors must agree with. */
static void bruteAges(registry *r, uint64_t now, uint64_t out[REGISTRY_AGES]) {
    memset(out, 0, sizeof(uint64_t) * REGISTRY_AGES);
    for (registryNode *n = r->head; n; n = n->next)
        for (int k = 0; k < REGISTRY_AGES; k++)
            if (n->born_ns + thresholds[k] * S < now)
                out[k]++;
}

static void ids_are_issued_in_order_and_found(void) {
    registry r;
    registryInit(&r, fakeClock);
    registryNode n[3];
    for (int i = 0; i < 3; i++)
        registryAdd(&r, &n[i]);
    CHECK_EQ(n[0].id, 1);
    CHECK_EQ(n[2].id, 3);
    registryLock(&r);
    CHECK(do_registryFind(&r, 2) == &n[1]);
    CHECK(do_registryFind(&r, 4) == NULL);
    CHECK_EQ(do_registryLastId(&r), 3);
    registryUnlock(&r);
    registryRemove(&r, &n[1]);
    registryLock(&r);
    CHECK(do_registryFind(&r, 2) == NULL); /* freed: issued (<= last id) and not found */
    CHECK_EQ(do_registryLastId(&r), 3);
    registryUnlock(&r);
    registryRemove(&r, &n[0]);
    registryRemove(&r, &n[2]);
    registryDestroy(&r);
}

static void the_oldest_is_the_head_whatever_is_freed(void) {
    registry r;
    registryInit(&r, fakeClock);
    registryNode n[5];
    for (int i = 0; i < 5; i++) {
        fake_now = (uint64_t)i * S;
        registryAdd(&r, &n[i]);
    }
    registryRemove(&r, &n[0]); /* head */
    registryRemove(&r, &n[2]); /* middle */
    registryRemove(&r, &n[4]); /* tail */
    registryLock(&r);
    registryNode *o = do_registryOldest(&r);
    REQUIRE(o != NULL);
    CHECK_EQ(o->id, 2);
    CHECK_EQ(o->next->id, 4);
    CHECK(o->next->next == NULL);
    registryUnlock(&r);
    fake_now = 10 * S;
    registryAgeCounts c = registryAges(&r);
    CHECK(c.any);
    CHECK_EQ(c.live, 2);
    CHECK_EQ(c.oldest_ns, 9 * S); /* n[1], born at 1 s */
    registryRemove(&r, &n[1]);
    registryRemove(&r, &n[3]);
    c = registryAges(&r);
    CHECK(!c.any);
    CHECK_EQ(c.live, 0);
    registryDestroy(&r);
}

static void ages_count_older_than_each_threshold(void) {
    registry r;
    registryInit(&r, fakeClock);
    registryNode n[4];
    const uint64_t born[4] = {0, S / 2, 2 * S, 20 * S};
    for (int i = 0; i < 4; i++) {
        fake_now = born[i];
        registryAdd(&r, &n[i]);
    }
    fake_now = 25 * S; /* ages 25, 24.5, 23, 5 */
    registryAgeCounts c = registryAges(&r);
    CHECK_EQ(c.older[0], 4); /* > 1 s */
    CHECK_EQ(c.older[1], 3); /* > 10 s */
    CHECK_EQ(c.older[2], 0); /* > 60 s */
    CHECK_EQ(c.oldest_ns, 25 * S);
    registryRemove(&r, &n[1]); /* counted in 1 s and 10 s */
    registryRemove(&r, &n[3]); /* counted in 1 s only; the 10 s cursor points at it */
    c = registryAges(&r);
    CHECK_EQ(c.older[0], 2);
    CHECK_EQ(c.older[1], 2);
    registryNode late;
    registryAdd(&r, &late); /* born at 25 s: counted nowhere yet */
    c = registryAges(&r);
    CHECK_EQ(c.older[0], 2);
    fake_now = 25 * S + 61 * S; /* late is 61 s old, n[0] 86 s */
    c = registryAges(&r);
    CHECK_EQ(c.older[0], 3);
    CHECK_EQ(c.older[2], 3);
    CHECK_EQ(c.older[3], 0);
    registryRemove(&r, &n[0]);
    registryRemove(&r, &n[2]);
    registryRemove(&r, &late);
    c = registryAges(&r);
    for (int k = 0; k < REGISTRY_AGES; k++)
        CHECK_EQ(c.older[k], 0);
    registryDestroy(&r);
}

/* Exactly at the threshold is not older than it. */
static void an_age_equal_to_the_threshold_is_not_older(void) {
    registry r;
    registryInit(&r, fakeClock);
    registryNode n;
    fake_now = 0;
    registryAdd(&r, &n);
    fake_now = S;
    CHECK_EQ(registryAges(&r).older[0], 0);
    fake_now = S + 1;
    CHECK_EQ(registryAges(&r).older[0], 1);
    registryRemove(&r, &n);
    registryDestroy(&r);
}

/* Many nodes crossing a threshold at once are counted over several lock
 * holds, and the counts still come out whole. */
static void a_long_walk_is_counted_in_chunks(void) {
    enum { N = 20000 };
    registry r;
    registryInit(&r, fakeClock);
    registryNode *n = calloc(N, sizeof(*n));
    REQUIRE(n != NULL);
    fake_now = 0;
    for (int i = 0; i < N; i++)
        registryAdd(&r, &n[i]);
    fake_now = 4000 * S;
    registryAgeCounts c = registryAges(&r);
    for (int k = 0; k < REGISTRY_AGES; k++)
        CHECK_EQ(c.older[k], N);
    for (int i = 0; i < N; i++)
        registryRemove(&r, &n[i]);
    CHECK_EQ(registryAges(&r).older[0], 0);
    registryDestroy(&r);
    free(n);
}

/* Random adds, frees and clock steps against a walk of the list: the
 * cursors' counts, the lookups (through growing and shrinking tables) and
 * the order all agree with it. */
static void random_creates_and_frees_agree_with_a_full_walk(void) {
    enum { N = 30000, ROUNDS = 200000 };
    registry r;
    registryInit(&r, fakeClock);
    registryNode *n = calloc(N, sizeof(*n));
    bool *live = calloc(N, sizeof(*live));
    REQUIRE(n != NULL && live != NULL);
    unsigned seed = 12345, added = 0, bad_find = 0, bad_ages = 0;
    fake_now = 0;
    for (unsigned round = 0; round < ROUNDS; round++) {
        seed = seed * 1103515245u + 12345u;
        unsigned roll = (seed >> 8) % 100;
        /* first grow to ~N, then mostly free: the table must shrink too */
        bool growing = round < ROUNDS / 2;
        if (roll < (growing ? 60u : 20u) && added < N) {
            registryAdd(&r, &n[added]);
            live[added++] = true;
        } else if (roll < 90 && added > 0) {
            unsigned i = (seed >> 4) % added;
            if (live[i]) {
                registryRemove(&r, &n[i]);
                live[i] = false;
            }
        } else {
            fake_now += ((seed >> 3) % 5000) * (S / 100); /* up to 50 s */
        }
        if (round % 997 == 0) {
            uint64_t want[REGISTRY_AGES];
            registryAgeCounts c = registryAges(&r);
            bruteAges(&r, fake_now, want);
            for (int k = 0; k < REGISTRY_AGES; k++)
                bad_ages += c.older[k] != want[k];
            registryLock(&r);
            for (unsigned i = 0; i < added; i++)
                bad_find += (do_registryFind(&r, i + 1) != NULL) != live[i];
            registryUnlock(&r);
        }
    }
    CHECK_EQ(bad_ages, 0);
    CHECK_EQ(bad_find, 0);
    uint64_t prev = 0, count = 0;
    for (registryNode *x = r.head; x; x = x->next, count++) {
        CHECK(x->id > prev);
        prev = x->id;
    }
    CHECK_EQ(count, r.live);
    for (unsigned i = 0; i < added; i++)
        if (live[i])
            registryRemove(&r, &n[i]);
    CHECK_EQ(registryAges(&r).live, 0);
    registryDestroy(&r);
    free(n);
    free(live);
}

/* Threads add and remove while another reads the ages and walks the oldest:
 * run by the TSan build, which reports any access outside the lock. */
enum { THREAD_NODES = 20000 };
static registry shared_r;
static uint64_t realClock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * S + (uint64_t)ts.tv_nsec;
}

static void *churn(void *arg) {
    registryNode *n = arg;
    for (int i = 0; i < THREAD_NODES; i++) {
        registryAdd(&shared_r, &n[i]);
        if (i % 3)
            registryRemove(&shared_r, &n[i]);
    }
    return NULL;
}

static void concurrent_adds_removes_and_reads_are_consistent(void) {
    registryInit(&shared_r, realClock);
    registryNode *n = calloc(2 * THREAD_NODES, sizeof(*n));
    REQUIRE(n != NULL);
    pthread_t t[2];
    pthread_create(&t[0], NULL, churn, n);
    pthread_create(&t[1], NULL, churn, n + THREAD_NODES);
    unsigned bad = 0;
    for (int i = 0; i < 2000; i++) {
        registryAgeCounts c = registryAges(&shared_r);
        for (int k = 0; k < REGISTRY_AGES; k++)
            bad += c.older[k] > c.live;
        registryLock(&shared_r);
        uint64_t prev = 0;
        int seen = 0;
        for (registryNode *x = do_registryOldest(&shared_r); x && seen < 100; x = x->next, seen++) {
            bad += x->id <= prev;
            prev = x->id;
        }
        registryUnlock(&shared_r);
    }
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    CHECK_EQ(bad, 0);
    /* every third node stays: ids 1, 4, 7... of each thread's adds */
    CHECK_EQ(registryAges(&shared_r).live, 2 * ((THREAD_NODES + 2) / 3));
    for (int i = 0; i < 2 * THREAD_NODES; i++)
        if (i % THREAD_NODES % 3 == 0)
            registryRemove(&shared_r, &n[i]);
    CHECK_EQ(registryAges(&shared_r).live, 0);
    registryDestroy(&shared_r);
    free(n);
}

int main(void) {
    static const checkTest tests[] = {
        TEST(ids_are_issued_in_order_and_found),
        TEST(the_oldest_is_the_head_whatever_is_freed),
        TEST(ages_count_older_than_each_threshold),
        TEST(an_age_equal_to_the_threshold_is_not_older),
        TEST(a_long_walk_is_counted_in_chunks),
        TEST(random_creates_and_frees_agree_with_a_full_walk),
        TEST(concurrent_adds_removes_and_reads_are_consistent),
    };
    return checkMain(tests, sizeof(tests) / sizeof(tests[0]));
}
