/* test_scope.c -- the lifetime rules of each cache scope, as docs/design.md's
 * table states them, checked on the SlowAdder counters. A "request" here is
 * what the HTTP layer does: make an adder, look calls up, compute and store
 * the misses, drop the request's reference. */
#include <pthread.h>
#include <string.h>

#include "adder.h"
#include "allocator.h"
#include "check.h"
#include "config.h"
#include "scope.h"

#define PAYLOAD 1000

/* The scope set up with c's settings, as main does. */
static bool initFrom(const config *c) {
    scopeSettings s = configScopeSettings(c);
    return scopeInit(&s);
}

static config cfgFor(scopeKind kind, size_t maxsize) {
    config c;
    memset(&c, 0, sizeof(c));
    c.scope = kind;
    c.maxsize = maxsize;
    c.instance_bytes = PAYLOAD;
    return c;
}

static void neverWoken(scopeWaiter *w) {
    (void)w;
    CHECK(!"a waiter was woken in a test that never waits");
}

/* One request for calculate(a, b); returns whether it was a hit. */
static bool request(int64_t a, int64_t b) {
    adder *ad = scopeNewAdder(0);
    scopeWaiter w = {.wake = neverWoken};
    int64_t v;
    bool hit = scopeLookup(ad, a, b, &v, &w, true) == SCOPE_HIT;
    if (!hit) {
        v = adderCompute(ad, a, b);
        scopeStore(ad, a, b, v);
    }
    CHECK_EQ(v, a + b);
    adderRelease(ad);
    return hit;
}

static uint64_t live(void) {
    return adderGetCounters().live;
}

/* Counters are process-wide: each test measures from where it starts. */
static uint64_t freed0;

static void begin(scopeKind kind, size_t maxsize) {
    config c = cfgFor(kind, maxsize);
    CHECK(initFrom(&c));
    CHECK_EQ(live(), 0);
    freed0 = adderGetCounters().freed;
}

static void end(void) {
    scopeShutdown();
    CHECK_EQ(live(), 0); /* a clear at the end frees everything */
    CHECK_EQ(adderGetCounters().live_bytes, 0);
}

static void global_keeps_each_instance_until_its_entry_is_evicted(void) {
    begin(SCOPE_GLOBAL, 4);
    for (int i = 0; i < 4; i++)
        CHECK(!request(i, i));
    CHECK_EQ(live(), 4); /* the requests are over; the cache holds them */
    CHECK(!request(9, 9));
    CHECK_EQ(live(), 4); /* the oldest entry went, and its instance with it */
    CHECK_EQ(adderGetCounters().freed - freed0, 1);
    CHECK_EQ(scopeGetCounters().evictions, 1);
    end();
}

static void global_unbounded_never_frees_and_clear_frees_all(void) {
    begin(SCOPE_GLOBAL, MEMO_UNBOUNDED);
    for (int i = 0; i < 100; i++)
        CHECK(!request(1, 2)); /* the same call: the key holds the instance */
    CHECK_EQ(live(), 100);
    CHECK_EQ(adderGetCounters().live_bytes, 100 * adderAllocBytes(PAYLOAD));
    scopeClear c = {0};
    CHECK(scopeCacheClear(&c)); /* the memory backend: over at once */
    CHECK(!c.failed);
    CHECK_EQ(c.entries_freed, 100);
    CHECK_EQ(c.instances_freed, 100);
    CHECK_EQ(live(), 0);
    end();
}

static void global_instance_with_several_entries_lives_until_the_last_goes(void) {
    begin(SCOPE_GLOBAL, 2);
    adder *ad = scopeNewAdder(0);
    scopeStore(ad, 1, 1, 2);
    scopeStore(ad, 2, 2, 4);
    adderRelease(ad);
    CHECK_EQ(live(), 1);
    CHECK(!request(3, 3)); /* evicts (ad, 1, 1): ad still has (ad, 2, 2) */
    CHECK_EQ(live(), 2);
    CHECK(!request(4, 4)); /* evicts (ad, 2, 2): ad goes */
    CHECK_EQ(live(), 2);
    CHECK_EQ(adderGetCounters().freed - freed0, 1);
    end();
}

static void local_frees_the_instance_with_its_request(void) {
    begin(SCOPE_LOCAL, 128);
    for (int i = 0; i < 50; i++)
        CHECK(!request(1, 2)); /* never a hit across requests */
    CHECK_EQ(live(), 0);
    CHECK_EQ(scopeGetCounters().misses, 50);
    CHECK_EQ(scopeGetCounters().currsize, 0);
    end();
}

static void local_hits_within_one_instance(void) {
    begin(SCOPE_LOCAL, 128);
    adder *ad = scopeNewAdder(0);
    int64_t v;
    CHECK(scopeLookup(ad, 5, 6, &v, NULL, true) == SCOPE_MISS);
    scopeStore(ad, 5, 6, 11);
    CHECK(scopeLookup(ad, 5, 6, &v, NULL, true) == SCOPE_HIT);
    CHECK_EQ(v, 11);
    CHECK_EQ(scopeGetCounters().currsize, 1);
    adderRelease(ad);
    CHECK_EQ(scopeGetCounters().currsize, 0); /* its cache went with it */
    CHECK_EQ(live(), 0);
    end();
}

static void shared_hits_across_requests_and_holds_no_instance(void) {
    begin(SCOPE_SHARED, 128);
    CHECK(!request(1, 2));
    CHECK(request(1, 2));
    CHECK(request(1, 2));
    CHECK_EQ(live(), 0);
    CHECK_EQ(scopeGetCounters().hits, 2);
    CHECK_EQ(scopeGetCounters().misses, 1);
    end();
}

static int woken;
static void countWake(scopeWaiter *w) {
    CHECK_EQ(w->result, 30);
    woken++;
}

static void shared_concurrent_misses_wait_for_the_one_in_flight(void) {
    begin(SCOPE_SHARED, 128);
    adder *leader = scopeNewAdder(0);
    int64_t v;
    CHECK(scopeLookup(leader, 10, 20, &v, NULL, true) == SCOPE_MISS);
    scopeWaiter w[3];
    adder *others[3];
    for (int i = 0; i < 3; i++) {
        others[i] = scopeNewAdder(0);
        w[i].wake = countWake;
        CHECK(scopeLookup(others[i], 10, 20, &v, &w[i], true) == SCOPE_WAIT);
    }
    CHECK_EQ(woken, 0);
    scopeStore(leader, 10, 20, 30);
    CHECK_EQ(woken, 3);
    scopeCounters c = scopeGetCounters();
    CHECK_EQ(c.misses, 1);
    CHECK_EQ(c.coalesced, 3);
    CHECK_EQ(c.hits, 3);
    /* a caller that may not wait computes on its own */
    adder *solo = scopeNewAdder(0);
    CHECK(scopeLookup(solo, 7, 7, &v, NULL, true) == SCOPE_MISS);
    CHECK(scopeLookup(solo, 7, 7, &v, NULL, false) == SCOPE_MISS);
    scopeStore(solo, 7, 7, 14);
    adderRelease(solo);
    adderRelease(leader);
    for (int i = 0; i < 3; i++)
        adderRelease(others[i]);
    end();
}

static void shared_maxsize_zero_neither_caches_nor_coalesces(void) {
    begin(SCOPE_SHARED, 0);
    adder *ad = scopeNewAdder(0);
    int64_t v;
    scopeWaiter w = {.wake = neverWoken};
    CHECK(scopeLookup(ad, 1, 1, &v, &w, true) == SCOPE_MISS);
    CHECK(scopeLookup(ad, 1, 1, &v, &w, true) == SCOPE_MISS);
    scopeStore(ad, 1, 1, 2);
    CHECK(scopeLookup(ad, 1, 1, &v, &w, true) == SCOPE_MISS);
    CHECK_EQ(scopeGetCounters().currsize, 0);
    adderRelease(ad);
    end();
}

static void off_never_caches(void) {
    begin(SCOPE_OFF, 128);
    CHECK(!request(1, 2));
    CHECK(!request(1, 2));
    CHECK_EQ(live(), 0);
    memoInfo info = scopeCacheInfo();
    CHECK_EQ(info.currsize, 0);
    end();
}

static void adder_ids_are_unique_and_payload_is_written(void) {
    begin(SCOPE_OFF, 128);
    adder *a = scopeNewAdder(5), *b = scopeNewAdder(0);
    CHECK(a->id != b->id);
    CHECK_EQ(a->delay_ms, 5);
    CHECK_EQ(a->payload_bytes, PAYLOAD);
    bool written = true;
    for (size_t i = 0; i < PAYLOAD; i++)
        written &= a->payload[i] != 0;
    CHECK(written);
    adderRetain(a);
    CHECK(!adderRelease(a));
    CHECK(adderRelease(a));
    CHECK(adderRelease(b));
    end();
}

/* ------------------------------------------------------------------ weak */

static scopeCounters counters(void) {
    return scopeGetCounters();
}

static void weak_hits_within_an_instance_and_its_entries_leave_with_it(void) {
    begin(SCOPE_WEAK, 128);
    scopeWaiter w = {.wake = neverWoken};
    adder *one = scopeNewAdder(0), *two = scopeNewAdder(0);
    int64_t v;
    CHECK(scopeLookup(one, 1, 2, &v, &w, true) == SCOPE_MISS);
    scopeStore(one, 1, 2, 3);
    CHECK(scopeLookup(one, 1, 2, &v, &w, true) == SCOPE_HIT);
    CHECK_EQ(v, 3);
    CHECK(scopeLookup(two, 1, 2, &v, &w, true) == SCOPE_MISS); /* the key names the instance */
    scopeStore(two, 1, 2, 3);
    scopeStore(two, 5, 5, 10);
    CHECK_EQ(counters().currsize, 3);
    CHECK_EQ(live(), 2); /* the entries hold neither instance */

    CHECK(adderRelease(one)); /* the request's reference was the only one */
    CHECK_EQ(counters().currsize, 2);
    CHECK_EQ(counters().left_with_instance, 1);
    CHECK(adderRelease(two));
    CHECK_EQ(counters().currsize, 0);
    CHECK_EQ(counters().left_with_instance, 3);
    CHECK_EQ(counters().evictions, 0);
    CHECK_EQ(live(), 0);
    end();
}

enum { WEAK_THREADS = 4, WEAK_REQUESTS = 2000 };

/* One worker: requests of four calls, (k, 1) twice for k in 0..1, so two
 * entries and two hits per instance, released as soon as it is done. */
static void *weakWorker(void *arg) {
    (void)arg;
    scopeWaiter w = {.wake = neverWoken};
    for (int i = 0; i < WEAK_REQUESTS; i++) {
        adder *ad = scopeNewAdder(0);
        if (!ad)
            return "out of memory";
        for (int c = 0; c < 4; c++) {
            int64_t v;
            if (scopeLookup(ad, c / 2, 1, &v, &w, true) != SCOPE_HIT)
                scopeStore(ad, c / 2, 1, c / 2 + 1);
        }
        if (!adderRelease(ad))
            return "an entry kept its instance alive";
    }
    return NULL;
}

/* Instances stored and freed on four threads at once (the TSan build runs
 * this): every entry leaves with its instance, none is left behind. */
static void weak_removal_holds_under_concurrency(void) {
    begin(SCOPE_WEAK, MEMO_UNBOUNDED);
    pthread_t t[WEAK_THREADS];
    for (int i = 0; i < WEAK_THREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, weakWorker, NULL) == 0);
    for (int i = 0; i < WEAK_THREADS; i++) {
        void *err;
        pthread_join(t[i], &err);
        if (err)
            fprintf(stderr, "  worker: %s\n", (const char *)err);
        CHECK(err == NULL);
    }
    uint64_t stored = 2ull * WEAK_THREADS * WEAK_REQUESTS;
    scopeCounters c = counters();
    CHECK_UINT_EQ(c.currsize, 0);
    CHECK_UINT_EQ(c.currbytes, 0);
    CHECK_UINT_EQ(c.misses, stored);
    CHECK_UINT_EQ(c.hits, stored);
    CHECK_UINT_EQ(c.left_with_instance, stored);
    CHECK_EQ(live(), 0);
    end();
}

/* ---------------------------------------------------------------- bounds */

static void global_maxbytes_counts_each_instance_once(void) {
    size_t one = adderAllocBytes(PAYLOAD);
    config c = cfgFor(SCOPE_GLOBAL, MEMO_UNBOUNDED);
    c.maxbytes = 3 * one; /* three instances, however many entries */
    CHECK(initFrom(&c));
    scopeWaiter w = {.wake = neverWoken};
    adder *batch = scopeNewAdder(0);
    for (int k = 0; k < 5; k++) {
        int64_t v;
        CHECK(scopeLookup(batch, k, 0, &v, &w, true) == SCOPE_MISS);
        scopeStore(batch, k, 0, k);
    }
    adderRelease(batch);
    CHECK_EQ(counters().currsize, 5);
    CHECK_EQ(counters().currbytes, one); /* one instance, five entries */
    CHECK_EQ(live(), 1);
    for (int i = 0; i < 4; i++)
        request(100 + i, 0);
    /* The batch's five entries went first (least recently used), then one
     * single: three instances are left, each with one entry. */
    CHECK_EQ(live(), 3);
    CHECK_EQ(counters().currsize, 3);
    CHECK_EQ(counters().currbytes, 3 * one);
    CHECK_EQ(adderGetCounters().live_bytes, 3 * one);
    memoInfo info = scopeCacheInfo();
    CHECK_EQ(info.maxbytes, 3 * one);
    CHECK_EQ(info.currbytes, 3 * one);
    end();
}

static void local_and_shared_entries_weigh_their_own_records(void) {
    config c = cfgFor(SCOPE_SHARED, MEMO_UNBOUNDED);
    c.maxbytes = 100; /* (a, b) -> sum is 24 bytes: four fit */
    CHECK(initFrom(&c));
    for (int k = 0; k < 10; k++)
        CHECK(!request(k, 0));
    CHECK_EQ(counters().currsize, 4);
    CHECK_EQ(counters().currbytes, 96);
    CHECK_EQ(counters().evictions, 6);
    end();

    c = cfgFor(SCOPE_LOCAL, MEMO_UNBOUNDED);
    c.maxbytes = 48; /* two entries per instance */
    CHECK(initFrom(&c));
    adder *ad = scopeNewAdder(0);
    scopeWaiter w = {.wake = neverWoken};
    for (int k = 0; k < 3; k++) {
        int64_t v;
        CHECK(scopeLookup(ad, k, 0, &v, &w, true) == SCOPE_MISS);
        scopeStore(ad, k, 0, k);
    }
    CHECK_EQ(counters().currsize, 2);
    CHECK_EQ(counters().currbytes, 48);
    adderRelease(ad);
    CHECK_EQ(counters().currbytes, 0);
    end();
}

/* A clear that frees entries gives the pages back to the kernel, but not on
 * the clearing request's thread: glibc's malloc_trim walks the whole heap
 * holding its locks. It asks the sampler's thread, and asks coalesce. */
static void a_clear_leaves_the_heap_release_to_the_sampler(void) {
    begin(SCOPE_GLOBAL, MEMO_UNBOUNDED);
    allocReleaseAsked(); /* whatever an earlier case asked */
    for (int i = 0; i < 10; i++)
        CHECK(!request(i, 1));
    scopeClear c = {0};
    CHECK(scopeCacheClear(&c));
    CHECK_EQ(c.entries_freed, 10);
    CHECK(scopeCacheClear(&c)); /* frees nothing: asks nothing */
    CHECK(!request(1, 1));
    CHECK(scopeCacheClear(&c));
    CHECK(allocReleaseAsked()); /* two clears that freed: one release, here */
    CHECK(!allocReleaseAsked());
    CHECK(scopeCacheClear(&c)); /* empty */
    CHECK(!allocReleaseAsked());
    end();
}

int main(void) {
    static const checkTest tests[] = {
        TEST(global_keeps_each_instance_until_its_entry_is_evicted),
        TEST(global_unbounded_never_frees_and_clear_frees_all),
        TEST(global_instance_with_several_entries_lives_until_the_last_goes),
        TEST(local_frees_the_instance_with_its_request),
        TEST(local_hits_within_one_instance),
        TEST(shared_hits_across_requests_and_holds_no_instance),
        TEST(shared_concurrent_misses_wait_for_the_one_in_flight),
        TEST(shared_maxsize_zero_neither_caches_nor_coalesces),
        TEST(off_never_caches),
        TEST(adder_ids_are_unique_and_payload_is_written),
        TEST(weak_hits_within_an_instance_and_its_entries_leave_with_it),
        TEST(weak_removal_holds_under_concurrency),
        TEST(global_maxbytes_counts_each_instance_once),
        TEST(local_and_shared_entries_weigh_their_own_records),
        TEST(a_clear_leaves_the_heap_release_to_the_sampler),
    };
    return checkMain(tests, sizeof(tests) / sizeof(tests[0]));
}
