/* test_routes.c -- every route of docs/api.md, each scope's lifetime rules,
 * exact results and a clean exit, against the real binary. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define STOP_MS 15000
#define RELEASE_MS 5000 /* the sampler runs once a second; a loaded machine is slower */

static const char *const NO_DELAY[] = {"--delay-ms", "0", NULL};

/* POSTs {"a": a, "b": b} and returns the reply. */
static reply calc(const server *s, long long a, long long b) {
    char body[96];
    snprintf(body, sizeof(body), "{\"a\": %lld, \"b\": %lld}", a, b);
    return httpDo(s, "POST", "/calculate", body);
}

/* n requests with distinct keys; checks each answered 200. */
static void calcMany(const server *s, int n) {
    for (int i = 0; i < n; i++) {
        reply r = calc(s, i, 1);
        CHECK_EQ(r.status, 200);
        replyFree(&r);
    }
}

/* ------------------------------------------------------------- calculate */

static void calculate_answers_the_sum_with_its_instance(void) {
    server s;
    CHECK(serverStart(&s, NO_DELAY));
    reply r = calc(&s, 1, 2);
    CHECK_EQ(r.status, 200);
    CHECK(strncmp(r.content_type, "application/json", 16) == 0);
    CHECK_EQ(jsonInt(r.body, "result"), 3);
    CHECK(strstr(r.body, "\"cached\":false") != NULL);
    long long first = jsonInt(r.body, "instance");
    CHECK(first >= 1);
    CHECK(strstr(r.body, "\"elapsed_ms\":") != NULL);
    replyFree(&r);

    r = calc(&s, 1, 2); /* a new request is a new instance */
    CHECK_EQ(jsonInt(r.body, "instance"), first + 1);
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void results_are_exact_at_the_limits(void) {
    static const struct {
        long long a, b, sum;
    } cases[] = {
        {9007199254740991LL, 9007199254740991LL, 18014398509481982LL},
        {-9007199254740991LL, -9007199254740991LL, -18014398509481982LL},
        {9007199254740991LL, -1, 9007199254740990LL},
        {9007199254740990LL, 1, 9007199254740991LL},
        {0, 0, 0},
    };
    server s;
    CHECK(serverStart(&s, NO_DELAY));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reply r = calc(&s, cases[i].a, cases[i].b);
        CHECK_EQ(r.status, 200);
        CHECK_EQ(jsonInt(r.body, "result"), cases[i].sum);
        replyFree(&r);
    }
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void a_batch_runs_on_one_instance_and_hits_its_own_cache(void) {
    const char *const args[] = {"--delay-ms", "0", "--cache-scope", "local", NULL};
    server s;
    CHECK(serverStart(&s, args));
    reply r =
        httpDo(&s, "POST", "/calculate",
               "{\"calls\": [{\"a\": 1, \"b\": 2}, {\"a\": 1, \"b\": 2}, {\"a\": 5, \"b\": -7}]}");
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.body,
                 "{\"results\":[{\"result\":3,\"cached\":false},"
                 "{\"result\":3,\"cached\":true},{\"result\":-2,\"cached\":false}]") == r.body);
    CHECK(jsonInt(r.body, "instance") >= 1);
    replyFree(&r);
    CHECK_EQ(statsInt(&s, "cache.hits"), 1);
    CHECK_EQ(statsInt(&s, "cache.misses"), 2);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void a_miss_waits_the_delay_and_a_hit_does_not(void) {
    const char *const args[] = {"--delay-ms", "300", "--cache-scope", "shared", NULL};
    server s;
    CHECK(serverStart(&s, args));
    uint64_t t0 = nowMs();
    reply r = calc(&s, 4, 4);
    uint64_t miss_ms = nowMs() - t0;
    CHECK(miss_ms >= 300);
    CHECK(strstr(r.body, "\"cached\":false") != NULL);
    replyFree(&r);

    t0 = nowMs();
    r = calc(&s, 4, 4);
    uint64_t hit_ms = nowMs() - t0;
    CHECK(strstr(r.body, "\"cached\":true") != NULL);
    CHECK(hit_ms < 300);
    replyFree(&r);

    /* delay_ms in the body overrides the setting for that instance. */
    t0 = nowMs();
    r = httpDo(&s, "POST", "/calculate", "{\"a\": 9, \"b\": 9, \"delay_ms\": 0}");
    CHECK_EQ(jsonInt(r.body, "result"), 18);
    CHECK(nowMs() - t0 < 300);
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void curl_form_content_type_is_accepted(void) {
    /* httpDo sends no Content-Type of JSON: curl -d's form type is used. */
    server s;
    CHECK(serverStart(&s, NO_DELAY));
    reply r = httpDo(&s, "POST", "/calculate", "{\"a\":1,\"b\":2}");
    CHECK_EQ(r.status, 200);
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* ---------------------------------------------------------------- scopes */

static void global_unbounded_keeps_every_instance_until_cleared(void) {
    const char *const args[] = {"--delay-ms", "0", "--cache-scope", "global", "--maxsize",
                                "none",       NULL};
    server s;
    CHECK(serverStart(&s, args));
    calcMany(&s, 50);
    CHECK_EQ(statsInt(&s, "instances.created"), 50);
    CHECK_EQ(statsInt(&s, "instances.live"), 50);
    CHECK_EQ(statsInt(&s, "cache.currsize"), 50);
    CHECK_EQ(statsInt(&s, "cache.evictions"), 0);

    reply r = httpDo(&s, "GET", "/cache", NULL);
    CHECK_EQ(jsonInt(r.body, "currsize"), 50);
    CHECK_EQ(jsonInt(r.body, "misses"), 50);
    CHECK(strstr(r.body, "\"maxsize\":null") != NULL);
    replyFree(&r);

    r = httpDo(&s, "DELETE", "/cache", "{\"all\": true}"); /* a body: refused, nothing cleared */
    CHECK_EQ(r.status, 400);
    CHECK(strstr(r.body, "takes no body") != NULL);
    replyFree(&r);
    CHECK_EQ(statsInt(&s, "cache.currsize"), 50);
    CHECK_EQ(statsInt(&s, "instances.live"), 50);

    r = httpDo(&s, "DELETE", "/cache", NULL);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(jsonInt(r.body, "entries_freed"), 50);
    CHECK_EQ(jsonInt(r.body, "instances_freed"), 50);
    replyFree(&r);
    CHECK_EQ(statsInt(&s, "instances.live"), 0);
    CHECK_EQ(statsInt(&s, "instances.live_bytes"), 0);
    CHECK_EQ(statsInt(&s, "instances.freed"), 50);

    r = httpDo(&s, "GET", "/cache", NULL); /* cache_clear resets the counts */
    CHECK_EQ(jsonInt(r.body, "hits"), 0);
    CHECK_EQ(jsonInt(r.body, "misses"), 0);
    CHECK_EQ(jsonInt(r.body, "currsize"), 0);
    replyFree(&r);
    CHECK_EQ(statsInt(&s, "cache.misses"), 50); /* /stats counts for ever */
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void clearing_the_cache_gives_the_memory_back(void) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    fprintf(stderr, "  skipped: a sanitizer's allocator keeps what malloc_trim would return\n");
#else
    const char *const args[] = {"--delay-ms",       "0",         "--cache-scope",
                                "global",           "--maxsize", "none",
                                "--instance-bytes", "16384",     NULL};
    server s;
    CHECK(serverStart(&s, args));
    calcMany(&s, 2000); /* 2000 x 16 KiB = 31 MiB held by the cache */
    long long before = statsInt(&s, "memory.rss_bytes");
    reply r = httpDo(&s, "DELETE", "/cache", NULL);
    CHECK_EQ(jsonInt(r.body, "instances_freed"), 2000);
    replyFree(&r);
    /* The pages go back on the sampler's thread, within its second. */
    long long after = statsInt(&s, "memory.rss_bytes");
    uint64_t deadline = nowMs() + RELEASE_MS;
    struct timespec nap = {0, 20000000};
    while (before - after <= 2000LL * 16384 / 2 && nowMs() < deadline) {
        nanosleep(&nap, NULL);
        after = statsInt(&s, "memory.rss_bytes");
    }
    CHECK(before - after > 2000LL * 16384 / 2);
    CHECK(statsInt(&s, "memory.heap_bytes") < 2000LL * 16384 / 10);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
#endif
}

static void global_bounded_plateaus_at_maxsize(void) {
    const char *const args[] = {"--delay-ms", "0", "--cache-scope", "global", "--maxsize",
                                "16",         NULL};
    server s;
    CHECK(serverStart(&s, args));
    calcMany(&s, 40);
    CHECK_EQ(statsInt(&s, "instances.live"), 16);
    CHECK_EQ(statsInt(&s, "cache.currsize"), 16);
    CHECK_EQ(statsInt(&s, "cache.evictions"), 24);
    CHECK_EQ(statsInt(&s, "instances.freed"), 24);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void global_never_hits_across_requests(void) {
    const char *const args[] = {"--delay-ms", "0", "--cache-scope", "global", NULL};
    server s;
    CHECK(serverStart(&s, args));
    for (int i = 0; i < 3; i++) {
        reply r = calc(&s, 7, 7);
        CHECK(strstr(r.body, "\"cached\":false") != NULL);
        replyFree(&r);
    }
    CHECK_EQ(statsInt(&s, "cache.hits"), 0);
    CHECK_EQ(statsInt(&s, "instances.live"), 3);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void local_frees_each_instance_with_its_request(void) {
    const char *const args[] = {"--delay-ms", "0", "--cache-scope", "local", NULL};
    server s;
    CHECK(serverStart(&s, args));
    calcMany(&s, 50);
    CHECK_EQ(statsInt(&s, "instances.created"), 50);
    CHECK_EQ(statsInt(&s, "instances.live"), 0);
    CHECK_EQ(statsInt(&s, "cache.currsize"), 0);
    reply r = httpDo(&s, "DELETE", "/cache", NULL); /* no process-wide cache */
    CHECK_EQ(jsonInt(r.body, "entries_freed"), 0);
    CHECK_EQ(jsonInt(r.body, "instances_freed"), 0);
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void shared_hits_across_requests_and_holds_no_instance(void) {
    const char *const args[] = {"--delay-ms", "0", "--cache-scope", "shared", "--maxsize",
                                "8",          NULL};
    server s;
    CHECK(serverStart(&s, args));
    reply r = calc(&s, 2, 3);
    CHECK(strstr(r.body, "\"cached\":false") != NULL);
    replyFree(&r);
    r = calc(&s, 2, 3);
    CHECK(strstr(r.body, "\"cached\":true") != NULL);
    CHECK_EQ(jsonInt(r.body, "result"), 5);
    replyFree(&r);
    calcMany(&s, 20); /* bounded: 8 entries at most */
    CHECK_EQ(statsInt(&s, "instances.live"), 0);
    CHECK_EQ(statsInt(&s, "cache.currsize"), 8);
    r = httpDo(&s, "DELETE", "/cache", NULL);
    CHECK_EQ(jsonInt(r.body, "entries_freed"), 8);
    CHECK_EQ(jsonInt(r.body, "instances_freed"), 0);
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void off_never_caches(void) {
    const char *const args[] = {"--delay-ms", "0", "--cache-scope", "off", NULL};
    server s;
    CHECK(serverStart(&s, args));
    for (int i = 0; i < 2; i++) {
        reply r =
            httpDo(&s, "POST", "/calculate", "{\"calls\":[{\"a\":1,\"b\":1},{\"a\":1,\"b\":1}]}");
        CHECK(strstr(r.body, "\"cached\":true") == NULL);
        replyFree(&r);
    }
    CHECK_EQ(statsInt(&s, "instances.live"), 0);
    CHECK_EQ(statsInt(&s, "cache.hits"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void maxsize_zero_caches_nothing(void) {
    const char *const args[] = {"--delay-ms", "0", "--cache-scope", "global", "--maxsize",
                                "0",          NULL};
    server s;
    CHECK(serverStart(&s, args));
    calcMany(&s, 10);
    CHECK_EQ(statsInt(&s, "instances.live"), 0);
    CHECK_EQ(statsInt(&s, "cache.misses"), 10);
    CHECK_EQ(statsInt(&s, "cache.currsize"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void live_bytes_are_exact(void) {
    /* Two servers whose instances differ by 1000 payload bytes: the live
     * bytes of 10 instances differ by exactly 10 * 1000. */
    long long bytes[2];
    const char *sizes[2] = {"24", "1024"};
    for (int i = 0; i < 2; i++) {
        const char *const args[] = {"--delay-ms",       "0",         "--cache-scope",
                                    "global",           "--maxsize", "none",
                                    "--instance-bytes", sizes[i],    NULL};
        server s;
        CHECK(serverStart(&s, args));
        calcMany(&s, 10);
        bytes[i] = statsInt(&s, "instances.live_bytes");
        CHECK_EQ(statsInt(&s, "instance_bytes"), atoi(sizes[i]));
        CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
    }
    CHECK_EQ(bytes[1] - bytes[0], 10 * 1000);
    /* payload + a header of a few words (its registry node, its cache owner) */
    CHECK(bytes[0] >= 10 * 24 && bytes[0] < 10 * (24 + 256));
}

/* ------------------------------------------------------- the other routes */

static void stats_has_every_field_of_the_contract(void) {
    const char *const args[] = {"--delay-ms",       "0",         "--cache-scope",
                                "shared",           "--maxsize", "64",
                                "--instance-bytes", "2048",      NULL};
    server s;
    CHECK(serverStart(&s, args));
    reply r = httpDo(&s, "GET", "/stats", NULL);
    CHECK_EQ(r.status, 200);
    CHECK(strncmp(r.content_type, "application/json", 16) == 0);
    CHECK(jsonStrEq(r.body, "cache_scope", "shared"));
    CHECK_EQ(jsonInt(r.body, "maxsize"), 64);
    CHECK_EQ(jsonInt(r.body, "delay_ms"), 0);
    CHECK_EQ(jsonInt(r.body, "instance_bytes"), 2048);
    CHECK(strstr(r.body, "\"uptime_s\":") != NULL);
    static const char *const fields[] = {
        "requests.total",   "requests.in_flight", "requests.errors",      "instances.created",
        "instances.freed",  "instances.live",     "instances.live_bytes", "cache.hits",
        "cache.misses",     "cache.currsize",     "cache.evictions",      "cache.coalesced",
        "memory.rss_bytes", "memory.heap_bytes"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        long long v = jsonInt(r.body, fields[i]);
        if (v == LLONG_MIN)
            fprintf(stderr, "  missing %s\n", fields[i]);
        CHECK(v != LLONG_MIN && v >= 0);
    }
    CHECK(jsonInt(r.body, "memory.rss_bytes") > 1 << 20);
    CHECK(jsonInt(r.body, "memory.heap_bytes") > 0);
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void metrics_are_prometheus_text(void) {
    server s;
    CHECK(serverStart(&s, NO_DELAY));
    calcMany(&s, 3);
    reply r = httpDo(&s, "GET", "/metrics", NULL);
    CHECK_EQ(r.status, 200);
    CHECK(strncmp(r.content_type, "text/plain; version=0.0.4", 25) == 0);
    CHECK(strstr(r.body, "# TYPE memoscope_requests_total counter\n") != NULL);
    CHECK(strstr(r.body, "\nmemoscope_requests_total 3\n") != NULL);
    CHECK(strstr(r.body, "\nmemoscope_instances_created_total 3\n") != NULL);
    CHECK(strstr(r.body, "\nmemoscope_memory_rss_bytes ") != NULL);
    CHECK(strstr(r.body, "memoscope_info{version=\"") != NULL);
    /* every sample line is "name value" or "name{labels} value" */
    int samples = 0;
    for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        /* ours, or the standard process_* every exporter gives */
        CHECK(strncmp(line, "memoscope_", 10) == 0 || strncmp(line, "process_", 8) == 0);
        CHECK(strchr(line, ' ') != NULL);
        samples++;
    }
    CHECK(samples >= 15);
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void healthz_page_and_unknown_paths(void) {
    server s;
    CHECK(serverStart(&s, NO_DELAY));
    reply r = httpDo(&s, "GET", "/healthz", NULL);
    CHECK_EQ(r.status, 200);
    CHECK(jsonStrEq(r.body, "status", "ok"));
    replyFree(&r);
    r = httpDo(&s, "GET", "/", NULL);
    CHECK_EQ(r.status, 200);
    CHECK(strncmp(r.content_type, "text/html", 9) == 0);
    CHECK(strstr(r.body, "<html") != NULL);
    replyFree(&r);
    r = httpDo(&s, "GET", "/nope", NULL);
    CHECK_EQ(r.status, 404);
    CHECK(jsonStrEq(r.body, "error", "no such path: see GET / for the live page"));
    replyFree(&r);
    CHECK_EQ(statsInt(&s, "requests.errors"), 1);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void get_routes_keep_the_connection_alive(void) {
    /* A scraper or the live page polls on one connection, errors included. */
    static const char *const requests[] = {"GET /healthz", "GET /stats", "GET /nope",
                                           "POST /stats",  "GET /cache", "GET /metrics"};
    static const int want[] = {200, 200, 404, 405, 200, 200};
    server s;
    CHECK(serverStart(&s, NO_DELAY));
    int fd = rawConnect(&s);
    CHECK(fd >= 0);
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
        char req[128], body[4096];
        int n = snprintf(req, sizeof(req), "%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", requests[i]);
        CHECK(rawSendAll(fd, req, (size_t)n));
        CHECK_EQ(rawRead(fd, 5000, body, sizeof(body)), want[i]);
    }
    close(fd);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* The HTTP promises -- 405 with Allow, 400 for a bad body, 413 for one too
 * large -- are each tested in one place: test_badinput.c. */

/* ---------------------------------------------------------------- process */

static void sigterm_and_sigint_exit_zero(void) {
    const char *const args[] = {"--delay-ms", "0", "--cache-scope", "global", "--maxsize",
                                "none",       NULL};
    int sigs[2] = {SIGTERM, SIGINT};
    for (int i = 0; i < 2; i++) {
        server s;
        CHECK(serverStart(&s, args));
        calcMany(&s, 20); /* instances held by the cache are freed at exit */
        CHECK_EQ(serverStop(&s, sigs[i], STOP_MS), 0);
    }
}

int main(void) {
    static const harnessTest tests[] = {
        TEST(calculate_answers_the_sum_with_its_instance),
        TEST(results_are_exact_at_the_limits),
        TEST(a_batch_runs_on_one_instance_and_hits_its_own_cache),
        TEST(a_miss_waits_the_delay_and_a_hit_does_not),
        TEST(curl_form_content_type_is_accepted),
        TEST(global_unbounded_keeps_every_instance_until_cleared),
        TEST(clearing_the_cache_gives_the_memory_back),
        TEST(global_bounded_plateaus_at_maxsize),
        TEST(global_never_hits_across_requests),
        TEST(local_frees_each_instance_with_its_request),
        TEST(shared_hits_across_requests_and_holds_no_instance),
        TEST(off_never_caches),
        TEST(maxsize_zero_caches_nothing),
        TEST(live_bytes_are_exact),
        TEST(stats_has_every_field_of_the_contract),
        TEST(metrics_are_prometheus_text),
        TEST(healthz_page_and_unknown_paths),
        TEST(get_routes_keep_the_connection_alive),
        TEST(sigterm_and_sigint_exit_zero),
    };
    return harnessMain(tests, sizeof(tests) / sizeof(tests[0]));
}
