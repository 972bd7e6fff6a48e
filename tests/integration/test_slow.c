/* test_slow.c -- a slow call holds no thread, concurrent misses of
 * one key compute once (single-flight), and shutdown finishes slow requests.
 *
 * Every test starts the real binary. Waits are polls of /stats (or of a
 * socket) with a deadline, never sleeps that hope for the best.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define STOP_MS 15000
#define MANY 64
#define SLOW_MS 2000         /* the delay of the in-flight tests */
#define IN_FLIGHT_BY_MS 1500 /* all of them in flight well before the first ends */
#define STATS_PROMPT_MS 500  /* one /stats while every worker would be asleep */
#define GRACE_MS 10000       /* main.c's grace period */
#define MAX_DELAY_MS 10000   /* the longest delay_ms; a request's delays add up to it at most */
#define RAW_TIMEOUT_MS 15000
#define REFUSED_BY_MS 1000 /* after SIGTERM, well before the requests end */

/* ----------------------------------------------------------- functions */

static const char *const *calcBodies(char bufs[][96], size_t n, bool same_key) {
    static const char *ptrs[MANY];
    for (size_t i = 0; i < n; i++) {
        snprintf(bufs[i], 96, "{\"a\": %zu, \"b\": 1000}", same_key ? 20 : i);
        ptrs[i] = bufs[i];
    }
    return ptrs;
}

/* How many times needle occurs in hay. */
static int countOf(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* The elapsed_ms of an answer, in whole milliseconds (-1 when absent). */
static long elapsedMs(const char *body) {
    const char *p = strstr(body, "\"elapsed_ms\":");
    return p ? strtol(p + 13, NULL, 10) : -1;
}

/* Polls /stats until path equals want or the absolute deadline passes;
 * records the slowest single /stats answer in *slowest_ms. */
static long long pollUntil(const server *s, const char *path, long long want, uint64_t deadline,
                           uint64_t *slowest_ms) {
    struct timespec nap = {0, 10000000};
    long long v;
    for (;;) {
        uint64_t t0 = nowMs();
        v = statsInt(s, path);
        uint64_t took = nowMs() - t0;
        if (slowest_ms && took > *slowest_ms)
            *slowest_ms = took;
        if (v == want || nowMs() >= deadline)
            return v;
        nanosleep(&nap, NULL);
    }
}

/* Waits for the process to exit by itself (no signal sent). */
static int waitExit(server *s, unsigned timeout_ms) {
    return serverStop(s, 0, timeout_ms);
}

/* ------------------------------------------------- no worker thread sleeps */

static void sixty_four_slow_misses_are_in_flight_at_once_on_two_threads(void) {
    const char *const args[] = {"--delay-ms",    "2000",  "--threads", "2",
                                "--cache-scope", "local", NULL};
    char bufs[MANY][96];
    server s;
    CHECK(serverStart(&s, args));
    httpMany m = {&s, "POST", "/calculate", calcBodies(bufs, MANY, false), MANY, NULL, 0};

    uint64_t t0 = nowMs(), slowest = 0;
    CHECK(httpManyStart(&m));
    long long in_flight = pollUntil(&s, "requests.in_flight", MANY, t0 + IN_FLIGHT_BY_MS, &slowest);
    uint64_t seen_at = nowMs() - t0;
    /* Two workers that slept in the delay could hold two requests, not 64. */
    CHECK_EQ(in_flight, MANY);
    CHECK(seen_at < SLOW_MS);
    CHECK_EQ(statsInt(&s, "instances.live"), MANY);
    fprintf(stderr, "  64 in flight after %llu ms; slowest /stats meanwhile %llu ms\n",
            (unsigned long long)seen_at, (unsigned long long)slowest);
    CHECK(slowest < STATS_PROMPT_MS);

    httpManyJoin(&m);
    uint64_t all_ms = nowMs() - t0;
    for (size_t i = 0; i < MANY; i++) {
        CHECK_EQ(m.replies[i].status, 200);
        CHECK_EQ(jsonInt(m.replies[i].body, "result"), (long long)i + 1000);
        CHECK(strstr(m.replies[i].body, "\"cached\":false") != NULL);
        CHECK(elapsedMs(m.replies[i].body) >= SLOW_MS);
        replyFree(&m.replies[i]);
    }
    free(m.replies);
    /* Concurrent, not 32 rounds of two: well under two delays in all. */
    CHECK(all_ms < 2 * SLOW_MS);
    CHECK_EQ(statsInt(&s, "requests.in_flight"), 0);
    CHECK_EQ(statsInt(&s, "requests.total"), MANY);
    CHECK_EQ(statsInt(&s, "instances.live"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* ------------------------------------------------------------ single-flight */

static void sixty_four_callers_of_one_key_compute_it_once(void) {
    const char *const args[] = {"--delay-ms",    "2000",   "--threads", "2",
                                "--cache-scope", "shared", NULL};
    char bufs[MANY][96];
    server s;
    CHECK(serverStart(&s, args));
    httpMany m = {&s, "POST", "/calculate", calcBodies(bufs, MANY, true), MANY, NULL, 0};

    uint64_t t0 = nowMs();
    CHECK(httpManyStart(&m));
    /* All 64 in flight at once: every one looked the key up before the one
     * computation ended, so each of the other 63 waited for it. */
    CHECK_EQ(pollUntil(&s, "requests.in_flight", MANY, t0 + IN_FLIGHT_BY_MS, NULL), MANY);
    httpManyJoin(&m);
    uint64_t all_ms = nowMs() - t0;

    int fresh = 0, cached = 0;
    for (size_t i = 0; i < MANY; i++) {
        CHECK_EQ(m.replies[i].status, 200);
        CHECK_EQ(jsonInt(m.replies[i].body, "result"), 1020);
        fresh += strstr(m.replies[i].body, "\"cached\":false") != NULL;
        cached += strstr(m.replies[i].body, "\"cached\":true") != NULL;
        replyFree(&m.replies[i]);
    }
    free(m.replies);
    CHECK_EQ(fresh, 1);
    CHECK_EQ(cached, MANY - 1);
    CHECK(all_ms < 2 * SLOW_MS); /* one delay, not 64 */
    CHECK_EQ(statsInt(&s, "cache.misses"), 1);
    CHECK_EQ(statsInt(&s, "cache.coalesced"), MANY - 1);
    CHECK_EQ(statsInt(&s, "cache.hits"), MANY - 1); /* hits include coalesced */
    CHECK_EQ(statsInt(&s, "cache.currsize"), 1);
    CHECK_EQ(statsInt(&s, "instances.live"), 0);

    reply r = httpDo(&s, "GET", "/metrics", NULL);
    CHECK(strstr(r.body, "memoscope_cache_coalesced_total 63\n") != NULL);
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void a_batch_that_repeats_a_key_in_flight_waits_once_then_hits(void) {
    const char *const args[] = {"--delay-ms", "1000", "--cache-scope", "shared", NULL};
    server s;
    CHECK(serverStart(&s, args));

    /* One request computes 1 + 2; the batch asks for it twice, then a key
     * of its own, then 1 + 2 again. */
    static const char *const owner[] = {"{\"a\": 1, \"b\": 2}"};
    httpMany first = {&s, "POST", "/calculate", owner, 1, NULL, 0};
    CHECK(httpManyStart(&first));
    CHECK_EQ(waitStatsInt(&s, "cache.misses", 1, 5000), 1);
    reply r = httpDo(&s, "POST", "/calculate",
                     "{\"calls\": [{\"a\": 1, \"b\": 2}, {\"a\": 1, \"b\": 2}, {\"a\": 3, \"b\": "
                     "4}, {\"a\": 1, \"b\": 2}]}");
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.body, "{\"results\":[{\"result\":3,\"cached\":true},"
                         "{\"result\":3,\"cached\":true},{\"result\":7,\"cached\":false},"
                         "{\"result\":3,\"cached\":true}]") == r.body);
    CHECK(elapsedMs(r.body) >= 1000); /* its own miss of 3 + 4 */
    replyFree(&r);
    httpManyJoin(&first);
    CHECK_EQ(first.replies[0].status, 200);
    CHECK(strstr(first.replies[0].body, "\"result\":3,\"cached\":false") != NULL);
    replyFree(&first.replies[0]);
    free(first.replies);

    CHECK_EQ(statsInt(&s, "cache.misses"), 2);    /* 1 + 2 once, 3 + 4 once */
    CHECK_EQ(statsInt(&s, "cache.coalesced"), 1); /* the batch's first call */
    CHECK_EQ(statsInt(&s, "cache.hits"), 3);      /* that wait and two plain hits */

    /* A batch that owns the flight of its key: its repeat must not wait on
     * itself (that would never end), and a request that comes meanwhile
     * waits for it. */
    static const char *const batch[] = {
        "{\"calls\": [{\"a\": 5, \"b\": 6}, {\"a\": 5, \"b\": 6}]}"};
    httpMany own = {&s, "POST", "/calculate", batch, 1, NULL, 0};
    CHECK(httpManyStart(&own));
    CHECK_EQ(waitStatsInt(&s, "cache.misses", 3, 5000), 3);
    r = httpDo(&s, "POST", "/calculate", "{\"a\": 5, \"b\": 6}");
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.body, "\"result\":11,\"cached\":true") != NULL);
    replyFree(&r);
    httpManyJoin(&own);
    CHECK_EQ(own.replies[0].status, 200);
    CHECK(strstr(own.replies[0].body, "{\"results\":[{\"result\":11,\"cached\":false},"
                                      "{\"result\":11,\"cached\":true}]") == own.replies[0].body);
    CHECK(elapsedMs(own.replies[0].body) < 2000); /* one delay: the repeat hit */
    replyFree(&own.replies[0]);
    free(own.replies);
    CHECK_EQ(statsInt(&s, "cache.misses"), 3);
    CHECK_EQ(statsInt(&s, "cache.coalesced"), 2);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void two_batches_that_need_each_others_keys_do_not_deadlock(void) {
    const char *const args[] = {"--delay-ms", "1000", "--cache-scope", "shared", NULL};
    static const char *const bodies[] = {
        "{\"calls\": [{\"a\": 1, \"b\": 1}, {\"a\": 2, \"b\": 2}]}",
        "{\"calls\": [{\"a\": 2, \"b\": 2}, {\"a\": 1, \"b\": 1}]}",
    };
    server s;
    CHECK(serverStart(&s, args));
    httpMany m = {&s, "POST", "/calculate", bodies, 2, NULL, 0};
    uint64_t t0 = nowMs();
    CHECK(httpManyStart(&m));
    httpManyJoin(&m);
    uint64_t all_ms = nowMs() - t0;
    for (size_t i = 0; i < 2; i++) {
        CHECK_EQ(m.replies[i].status, 200);
        CHECK_EQ(countOf(m.replies[i].body, "\"result\":2,"), 1);
        CHECK_EQ(countOf(m.replies[i].body, "\"result\":4,"), 1);
        CHECK_EQ(countOf(m.replies[i].body, "\"cached\":false"), 1); /* its own first key */
        replyFree(&m.replies[i]);
    }
    free(m.replies);
    CHECK(all_ms < 2000); /* each computed one key and took the other's */
    CHECK_EQ(statsInt(&s, "cache.misses"), 2);
    CHECK_EQ(statsInt(&s, "cache.hits"), 2);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* ------------------------------------------------------- bounded waits */

/* A batch's delays add up to the longest single delay at most (10 s): 64
 * misses of 10 s each take 10 s, not 640 (the bounds tell seconds from
 * minutes, nothing finer). */
static void a_batch_of_slow_misses_waits_ten_seconds_not_one_delay_per_call(void) {
    const char *const args[] = {"--cache-scope", "off", NULL};
    char body[4096];
    size_t at =
        (size_t)snprintf(body, sizeof(body), "{\"delay_ms\": %d, \"calls\": [", MAX_DELAY_MS);
    for (int i = 0; i < MANY; i++)
        at += (size_t)snprintf(body + at, sizeof(body) - at, "%s{\"a\": %d, \"b\": 1}",
                               i ? ", " : "", i);
    at += (size_t)snprintf(body + at, sizeof(body) - at, "]}");
    REQUIRE(at < sizeof(body));
    server s;
    REQUIRE(serverStart(&s, args));
    reply r = httpDo(&s, "POST", "/calculate", body);
    CHECK_EQ(r.status, 200);
    long elapsed = elapsedMs(r.body ? r.body : "");
    fprintf(stderr, "  %d misses of %d ms each: answered in %ld ms\n", MANY, MAX_DELAY_MS, elapsed);
    CHECK(elapsed >= MAX_DELAY_MS);                   /* the longest single delay is waited */
    CHECK(elapsed < MAX_DELAY_MS + MAX_DELAY_MS / 2); /* not 64 of them (640 s) */
    CHECK_EQ(countOf(r.body ? r.body : "", "\"cached\":false"), MANY);
    char want[64];
    snprintf(want, sizeof(want), "{\"result\":%d,\"cached\":false}]", MANY);
    CHECK(r.body && strstr(r.body, want) != NULL); /* the last call: 63 + 1 */
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* A wait on another request's computation ends at --max-wait-ms: 504,
 * while the computation goes on and its value is still stored. */
static void a_wait_on_another_request_ends_at_its_deadline(void) {
    const char *const args[] = {"--cache-scope", "shared", "--max-wait-ms", "500", NULL};
    static const char *const leader[] = {"{\"a\": 7, \"b\": 8, \"delay_ms\": 5000}"};
    server s;
    REQUIRE(serverStart(&s, args));
    httpMany m = {&s, "POST", "/calculate", leader, 1, NULL, 0};
    REQUIRE(httpManyStart(&m));
    REQUIRE_EQ(waitStatsInt(&s, "cache.misses", 1, 5000), 1); /* the leader computes */

    uint64_t t0 = nowMs();
    reply r = httpDo(&s, "POST", "/calculate", "{\"a\": 7, \"b\": 8, \"delay_ms\": 0}");
    uint64_t waited = nowMs() - t0;
    fprintf(stderr, "  the follower was answered %d after %llu ms\n", (int)r.status,
            (unsigned long long)waited);
    CHECK_EQ(r.status, 504);
    CHECK(r.body && strstr(r.body, "{\"error\":\"gave up waiting") == r.body);
    CHECK(waited >= 400); /* it did wait, */
    CHECK(waited < 3000); /* not for the leader's 5 s */
    replyFree(&r);
    CHECK_EQ(statsInt(&s, "connections.waits_expired"), 1);

    httpManyJoin(&m);
    CHECK_EQ(m.replies[0].status, 200);
    CHECK_EQ(jsonInt(m.replies[0].body, "result"), 15);
    replyFree(&m.replies[0]);
    free(m.replies);
    r = httpDo(&s, "POST", "/calculate", "{\"a\": 7, \"b\": 8}");
    CHECK_EQ(r.status, 200);
    CHECK(r.body && strstr(r.body, "\"cached\":true") != NULL); /* the flight ended well */
    replyFree(&r);
    CHECK_EQ(statsInt(&s, "requests.in_flight"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* ------------------------------------------------------------- shutdown */

static void sigterm_lets_slow_requests_finish_and_stops_accepting(void) {
    enum { N = 20 };
    const char *const args[] = {"--delay-ms", "2000", "--cache-scope", "local", NULL};
    char bufs[MANY][96];
    char body[512];
    server s;
    CHECK(serverStart(&s, args));

    /* A keep-alive connection opened before the signal. libmicrohttpd
     * 0.9.75 closes a connection answered on the handler's first call (every
     * GET here), so it is kept alive by a POST, answered after its body. */
    int kept = rawConnect(&s);
    CHECK(kept >= 0);
    CHECK(rawRequest(kept, "POST", "/calculate", "{\"a\": 1, \"b\": 1, \"delay_ms\": 0}"));
    CHECK_EQ(rawRead(kept, RAW_TIMEOUT_MS, body, sizeof(body)), 200);

    httpMany m = {&s, "POST", "/calculate", calcBodies(bufs, N, false), N, NULL, 0};
    CHECK(httpManyStart(&m));
    CHECK_EQ(waitStatsInt(&s, "requests.in_flight", N, 5000), N);
    uint64_t t_term = nowMs();
    kill(s.pid, SIGTERM);

    /* New connections are refused, soon after the signal, not left in the
     * backlog until the exit. */
    int connect_errno = 0;
    for (uint64_t deadline = nowMs() + REFUSED_BY_MS; nowMs() < deadline;) {
        int fresh = rawConnect(&s);
        connect_errno = fresh < 0 ? errno : 0;
        if (connect_errno == ECONNREFUSED)
            break;
        if (fresh >= 0) /* before the signal was taken; or reset as it was */
            close(fresh);
    }
    CHECK_EQ(connect_errno, ECONNREFUSED);
    CHECK_EQ(waitpid(s.pid, NULL, WNOHANG), 0); /* refused by it, not for its exit */

    /* The old connection is still served, and says the server is stopping. */
    CHECK(rawRequest(kept, "GET", "/healthz", NULL));
    CHECK_EQ(rawRead(kept, RAW_TIMEOUT_MS, body, sizeof(body)), 503);
    CHECK(strstr(body, "shutting down") != NULL);
    close(kept);

    httpManyJoin(&m);
    uint64_t answered = nowMs();
    for (size_t i = 0; i < N; i++) {
        CHECK_EQ(m.replies[i].status, 200);
        CHECK_EQ(jsonInt(m.replies[i].body, "result"), (long long)i + 1000);
        CHECK(elapsedMs(m.replies[i].body) >= SLOW_MS);
        replyFree(&m.replies[i]);
    }
    free(m.replies);
    CHECK_EQ(waitExit(&s, STOP_MS), 0);
    uint64_t exited = nowMs();
    fprintf(stderr, "  answers %llu ms after SIGTERM, exit %llu ms after the last answer\n",
            (unsigned long long)(answered - t_term), (unsigned long long)(exited - answered));
    CHECK(exited - answered < 1000); /* no wait for the grace period */
}

/* A request waits one delay of its own at most, so one that outlasts the
 * grace first waits on another's computation: a follower asks for the key
 * a leader computes (shared scope), then for a key of its own. */
static void sigterm_hurries_requests_that_would_outlast_the_grace(void) {
    enum { PAIRS = MANY / 2 };
    const char *const args[] = {"--cache-scope", "shared", "--threads", "2", NULL};
    char lbufs[PAIRS][96], fbufs[PAIRS][160];
    const char *leaders[PAIRS], *followers[PAIRS];
    for (size_t i = 0; i < PAIRS; i++) {
        snprintf(lbufs[i], sizeof(lbufs[i]), "{\"a\": %zu, \"b\": 1, \"delay_ms\": 9000}", i);
        snprintf(fbufs[i], sizeof(fbufs[i]),
                 "{\"calls\": [{\"a\": %zu, \"b\": 1}, {\"a\": %zu, \"b\": 2}], "
                 "\"delay_ms\": 9000}",
                 i, i);
        leaders[i] = lbufs[i];
        followers[i] = fbufs[i];
    }
    server s;
    CHECK(serverStart(&s, args));
    httpMany lm = {&s, "POST", "/calculate", leaders, PAIRS, NULL, 0};
    CHECK(httpManyStart(&lm));
    CHECK_EQ(waitStatsInt(&s, "cache.misses", PAIRS, 5000), PAIRS);
    httpMany fm = {&s, "POST", "/calculate", followers, PAIRS, NULL, 0};
    CHECK(httpManyStart(&fm));
    CHECK_EQ(waitStatsInt(&s, "requests.in_flight", MANY, 5000), MANY);
    uint64_t t_term = nowMs();
    kill(s.pid, SIGTERM);

    /* 9 s of waiting on the leader, then 9 s of its own: the follower's
     * second call is cut short when the grace ends; every answer is
     * complete and exact. */
    httpManyJoin(&lm);
    httpManyJoin(&fm);
    uint64_t answered = nowMs() - t_term;
    int complete = 0;
    for (size_t i = 0; i < PAIRS; i++) {
        char want[160];
        snprintf(want, sizeof(want), "{\"result\":%zu,\"cached\":false", i + 1);
        long elapsed = elapsedMs(lm.replies[i].body);
        complete += lm.replies[i].status == 200 && strstr(lm.replies[i].body, want) != NULL &&
                    elapsed >= 9000 && elapsed < GRACE_MS + 1500;
        snprintf(want, sizeof(want),
                 "{\"results\":[{\"result\":%zu,\"cached\":true},{\"result\":%zu,\"cached\":"
                 "false}]",
                 i + 1, i + 2);
        elapsed = elapsedMs(fm.replies[i].body);
        complete += fm.replies[i].status == 200 && strstr(fm.replies[i].body, want) != NULL &&
                    elapsed >= 9000 && elapsed < GRACE_MS + 1500;
        replyFree(&lm.replies[i]);
        replyFree(&fm.replies[i]);
    }
    free(lm.replies);
    free(fm.replies);
    CHECK_EQ(complete, MANY);
    CHECK_EQ(waitExit(&s, STOP_MS), 0);
    uint64_t exited = nowMs() - t_term;
    fprintf(stderr, "  %d of %d answered, the last %llu ms and exit %llu ms after SIGTERM\n",
            complete, MANY, (unsigned long long)answered, (unsigned long long)exited);
    CHECK(answered >= GRACE_MS - 100);
    CHECK(exited < GRACE_MS + 1500);
}

/* ------------------------------------------------------- clients that leave */

static void a_client_that_leaves_mid_delay_frees_its_instance(void) {
    const char *const args[] = {"--delay-ms", "1000", "--cache-scope", "local", NULL};
    server s;
    CHECK(serverStart(&s, args));
    int fd = rawConnect(&s);
    CHECK(fd >= 0);
    CHECK(rawRequest(fd, "POST", "/calculate", "{\"a\": 1, \"b\": 2}"));
    CHECK_EQ(waitStatsInt(&s, "instances.live", 1, 5000), 1);
    CHECK_EQ(statsInt(&s, "requests.in_flight"), 1);
    close(fd); /* mid-delay: the connection is suspended */

    /* The server finds out when the delay ends and it looks at the socket. */
    CHECK_EQ(waitStatsInt(&s, "instances.live", 0, 5000), 0);
    CHECK_EQ(waitStatsInt(&s, "requests.in_flight", 0, 5000), 0);
    CHECK_EQ(statsInt(&s, "instances.freed"), 1);

    reply r = httpDo(&s, "POST", "/calculate", "{\"a\": 2, \"b\": 2, \"delay_ms\": 0}");
    CHECK_EQ(r.status, 200);
    CHECK_EQ(jsonInt(r.body, "result"), 4);
    replyFree(&r);
    CHECK_EQ(statsInt(&s, "instances.live"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void a_flight_whose_client_left_still_answers_its_waiters(void) {
    const char *const args[] = {"--delay-ms", "1000", "--cache-scope", "shared", NULL};
    server s;
    CHECK(serverStart(&s, args));
    int fd = rawConnect(&s);
    CHECK(fd >= 0);
    CHECK(rawRequest(fd, "POST", "/calculate", "{\"a\": 40, \"b\": 2}"));
    CHECK_EQ(waitStatsInt(&s, "cache.misses", 1, 5000), 1);

    static const char *const same[] = {"{\"a\": 40, \"b\": 2}"};
    httpMany waiter = {&s, "POST", "/calculate", same, 1, NULL, 0};
    CHECK(httpManyStart(&waiter));
    CHECK_EQ(waitStatsInt(&s, "cache.coalesced", 1, 5000), 1);
    /* The owner resets its connection while both wait. */
    struct linger rst = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
    close(fd);

    httpManyJoin(&waiter);
    CHECK_EQ(waiter.replies[0].status, 200);
    CHECK(strstr(waiter.replies[0].body, "\"result\":42,\"cached\":true") != NULL);
    replyFree(&waiter.replies[0]);
    free(waiter.replies);
    CHECK_EQ(waitStatsInt(&s, "requests.in_flight", 0, 5000), 0);
    CHECK_EQ(statsInt(&s, "instances.live"), 0);
    CHECK_EQ(statsInt(&s, "cache.misses"), 1);
    CHECK_EQ(statsInt(&s, "cache.currsize"), 1); /* the owner's value was kept */
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

int main(void) {
    static const harnessTest tests[] = {
        TEST(sixty_four_slow_misses_are_in_flight_at_once_on_two_threads),
        TEST(sixty_four_callers_of_one_key_compute_it_once),
        TEST(a_batch_that_repeats_a_key_in_flight_waits_once_then_hits),
        TEST(two_batches_that_need_each_others_keys_do_not_deadlock),
        TEST(a_batch_of_slow_misses_waits_ten_seconds_not_one_delay_per_call),
        TEST(a_wait_on_another_request_ends_at_its_deadline),
        TEST(sigterm_lets_slow_requests_finish_and_stops_accepting),
        TEST(sigterm_hurries_requests_that_would_outlast_the_grace),
        TEST(a_client_that_leaves_mid_delay_frees_its_instance),
        TEST(a_flight_whose_client_left_still_answers_its_waiters),
    };
    return harnessMain(tests, sizeof(tests) / sizeof(tests[0]));
}
