/* test_scope.c -- the lifetime rules of each cache scope, as the contract's
 * table states them, checked on the SlowAdder counters. A "request" here is
 * what the HTTP layer does: make an adder, look calls up, compute and store
 * the misses, drop the request's reference. */
#include <string.h>

#include "adder.h"
#include "check.h"
#include "config.h"
#include "scope.h"

#define PAYLOAD 1000

static config cfgFor(scopeKind kind, size_t maxsize) {
    config c;
    memset(&c, 0, sizeof(c));
    c.scope = kind;
    c.maxsize = maxsize;
    c.instance_bytes = PAYLOAD;
    return c;
}

static void _neverWoken(scopeWaiter *w) {
    (void)w;
    CHECK(!"a waiter was woken in a test that never waits");
}

/* One request for calculate(a, b); returns whether it was a hit. */
static bool request(int64_t a, int64_t b) {
    adder *ad = scopeNewAdder(0);
    scopeWaiter w = {.wake = _neverWoken};
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
    CHECK(scopeInit(&c));
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
    uint64_t entries, instances;
    scopeCacheClear(&entries, &instances);
    CHECK_EQ(entries, 100);
    CHECK_EQ(instances, 100);
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
static void _countWake(scopeWaiter *w) {
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
        w[i].wake = _countWake;
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
    scopeWaiter w = {.wake = _neverWoken};
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
    };
    return checkMain(tests, sizeof(tests) / sizeof(tests[0]));
}
