/* test_instances.c -- GET /instances/{id} and GET /instances?oldest=N in every scope,
 * every answer and error, the age figures of /stats and /metrics, and the article's
 * cache_clear() followed by its __del__ (alive:false), against the real binary. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define STOP_MS 15000
#define WAIT_MS 5000
#define SLOW_MS "3000" /* a request kept in flight while the test looks */

static const char *const scopes[] = {"global", "local", "shared", "off", "weak"};

static reply calc(const server *s, long long a, long long b) {
    char body[96];
    snprintf(body, sizeof(body), "{\"a\": %lld, \"b\": %lld}", a, b);
    return httpDo(s, "POST", "/calculate", body);
}

static bool startScope(server *s, const char *scope, const char *delay) {
    const char *const args[] = {"--cache-scope", scope, "--maxsize", "none",
                                "--delay-ms",    delay, NULL};
    return serverStart(s, args);
}

static reply getInstance(const server *s, long long id) {
    char path[64];
    snprintf(path, sizeof(path), "/instances/%lld", id);
    return httpDo(s, "GET", path, NULL);
}

/* Waits for the one request of m to be answered 200; then instance 1, which
 * nothing but that request held, must be reported freed. */
static void joinAndExpectFreed(const server *s, httpMany *m) {
    httpManyJoin(m);
    CHECK_EQ(m->replies[0].status, 200);
    replyFree(&m->replies[0]);
    free(m->replies);
    reply r = getInstance(s, 1);
    CHECK(strcmp(r.body, "{\"id\":1,\"alive\":false}\n") == 0);
    replyFree(&r);
}

/* A number of a cJSON object by dotted path; LLONG_MIN when absent. */
static long long num(const cJSON *o, const char *a, const char *b) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    if (x && b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    return cJSON_IsNumber(x) ? (long long)x->valuedouble : LLONG_MIN;
}

static bool isTrue(const cJSON *o, const char *key) {
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* Polls /instances/id until it answers alive:true (the request has made it). */
static cJSON *waitAlive(const server *s, long long id) {
    uint64_t deadline = nowMs() + WAIT_MS;
    struct timespec nap = {0, 10000000};
    do {
        reply r = getInstance(s, id);
        cJSON *o = r.status == 200 ? cJSON_Parse(r.body) : NULL;
        replyFree(&r);
        if (o && isTrue(o, "alive"))
            return o;
        cJSON_Delete(o);
        nanosleep(&nap, NULL);
    } while (nowMs() < deadline);
    return NULL;
}

/* A figure of GET /metrics (the whole line's name, labels included). */
static long long metric(const server *s, const char *name) {
    reply r = httpDo(s, "GET", "/metrics", NULL);
    long long v = LLONG_MIN;
    char want[160];
    snprintf(want, sizeof(want), "\n%s ", name);
    const char *p = r.status == 200 ? strstr(r.body, want) : NULL;
    if (p)
        v = strtoll(p + strlen(want), NULL, 10);
    replyFree(&r);
    return v;
}

static long long waitMetric(const server *s, const char *name, long long want) {
    uint64_t deadline = nowMs() + WAIT_MS;
    struct timespec nap = {0, 20000000};
    long long v;
    while ((v = metric(s, name)) != want && nowMs() < deadline)
        nanosleep(&nap, NULL);
    return v;
}

/* ------------------------------------------------------------- the errors */

static void bad_ids_get_400_unknown_ones_404_in_every_scope(void) {
    static const char *const bad[] = {
        "/instances/0",   "/instances/abc", "/instances/-1",
        "/instances/+1",  "/instances/1x",  "/instances/",
        "/instances/1.0", "/instances/1/2", "/instances/99999999999999999999999"};
    static const char *const bad_n[] = {"/instances?oldest=0", "/instances?oldest=101",
                                        "/instances?oldest=abc", "/instances?oldest=-3",
                                        "/instances?oldest="};
    for (size_t sc = 0; sc < sizeof(scopes) / sizeof(scopes[0]); sc++) {
        server s;
        REQUIRE(startScope(&s, scopes[sc], "0"));
        reply r = calc(&s, 1, 2);
        CHECK_EQ(r.status, 200);
        replyFree(&r);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            r = httpDo(&s, "GET", bad[i], NULL);
            if (r.status != 400)
                fprintf(stderr, "  %s %s: %ld %s\n", scopes[sc], bad[i], r.status, r.body);
            CHECK_EQ(r.status, 400);
            CHECK(strstr(r.body, "\"error\"") != NULL);
            replyFree(&r);
        }
        for (size_t i = 0; i < sizeof(bad_n) / sizeof(bad_n[0]); i++) {
            r = httpDo(&s, "GET", bad_n[i], NULL);
            CHECK_EQ(r.status, 400);
            CHECK(strstr(r.body, "oldest must be an integer from 1 to 100") != NULL);
            replyFree(&r);
        }
        r = getInstance(&s, 2); /* only 1 was issued */
        CHECK_EQ(r.status, 404);
        CHECK(strstr(r.body, "\"error\"") != NULL);
        replyFree(&r);
        r = httpDo(&s, "POST", "/instances/1", NULL);
        CHECK_EQ(r.status, 405);
        CHECK(strstr(r.allow, "GET") != NULL);
        replyFree(&r);
        r = httpDo(&s, "DELETE", "/instances", NULL);
        CHECK_EQ(r.status, 405);
        replyFree(&r);
        CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
    }
}

/* ------------------------------------------------------- what holds them */

/* The article's three steps: the cache keeps the instance alive, says who holds it,
 * cache_clear() frees it, and then it is gone. */
/* Anything else in the path or the query is 400: a NUL escaped in the id
 * (it once read as the id before it), a second oldest (it once took the
 * first), a parameter the route does not have. */
static void the_path_and_the_query_hold_nothing_else(void) {
    static const struct {
        const char *path, *fragment;
    } bad[] = {
        {"/instances/1%00", "positive integer"},
        {"/instances/1%00x", "positive integer"},
        {"/instances?oldest=10&oldest=20", "more than once"},
        {"/instances?oldest=1&oldest=1", "more than once"},
        {"/instances?oldest=1%00", "from 1 to 100"},
        {"/instances?oldest=2&x=1", "unknown query parameter"},
        {"/instances?x", "unknown query parameter"},
        {"/instances?oldest", "from 1 to 100"},
        {"/instances/1?oldest=1", "takes no query parameter"},
        {"/instances/1?x=1", "takes no query parameter"},
    };
    server s;
    REQUIRE(startScope(&s, "global", "0"));
    reply r = calc(&s, 1, 2);
    CHECK_EQ(r.status, 200);
    replyFree(&r);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = httpDo(&s, "GET", bad[i].path, NULL);
        checkContext("%s: %ld %s", bad[i].path, r.status, r.body ? r.body : "");
        CHECK_EQ(r.status, 400);
        CHECK(r.body && strstr(r.body, bad[i].fragment) != NULL);
        replyFree(&r);
    }
    checkContext(NULL);
    r = httpDo(&s, "GET", "/instances/1", NULL); /* the same, without what was added */
    CHECK_EQ(r.status, 200);
    replyFree(&r);
    r = httpDo(&s, "GET", "/instances?oldest=1", NULL);
    CHECK_EQ(r.status, 200);
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void global_cache_entries_hold_instances_until_the_clear(void) {
    server s;
    REQUIRE(startScope(&s, "global", "0"));
    for (int i = 0; i < 3; i++) {
        reply r = calc(&s, 1, 2);
        CHECK_EQ(jsonInt(r.body, "instance"), i + 1);
        replyFree(&r);
    }
    reply r = httpDo(&s, "POST", "/calculate", "{\"calls\":[{\"a\":1,\"b\":2},{\"a\":3,\"b\":4}]}");
    CHECK_EQ(jsonInt(r.body, "instance"), 4);
    replyFree(&r);

    r = getInstance(&s, 1);
    CHECK_EQ(r.status, 200);
    cJSON *o = cJSON_Parse(r.body);
    REQUIRE(o != NULL);
    CHECK_EQ(num(o, "id", NULL), 1);
    CHECK(isTrue(o, "alive"));
    CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "age_s")));
    CHECK(num(o, "bytes", NULL) > 4096); /* the payload and the instance's own fields */
    CHECK_EQ(num(o, "held_by", "requests"), 0);
    CHECK_EQ(num(o, "held_by", "cache_entries"), 1);
    cJSON_Delete(o);
    replyFree(&r);

    r = getInstance(&s, 4);
    o = cJSON_Parse(r.body);
    REQUIRE(o != NULL);
    CHECK_EQ(num(o, "held_by", "cache_entries"), 2); /* the batch stored two keys */
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(o, "entries");
    CHECK_EQ(cJSON_GetArraySize(entries), 2);
    CHECK_EQ(num(cJSON_GetArrayItem(entries, 0), "a", NULL), 3); /* newest first */
    CHECK_EQ(num(cJSON_GetArrayItem(entries, 0), "b", NULL), 4);
    CHECK_EQ(num(cJSON_GetArrayItem(entries, 1), "a", NULL), 1);
    CHECK(
        cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(entries, 1), "age_s")));
    cJSON_Delete(o);
    replyFree(&r);

    r = httpDo(&s, "GET", "/instances?oldest=2", NULL);
    CHECK_EQ(r.status, 200);
    o = cJSON_Parse(r.body);
    REQUIRE(o != NULL);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "instances");
    CHECK_EQ(cJSON_GetArraySize(list), 2);
    CHECK_EQ(num(cJSON_GetArrayItem(list, 0), "id", NULL), 1); /* oldest first */
    CHECK_EQ(num(cJSON_GetArrayItem(list, 1), "id", NULL), 2);
    CHECK(num(cJSON_GetArrayItem(list, 0), "age_s", NULL) >=
          num(cJSON_GetArrayItem(list, 1), "age_s", NULL));
    cJSON_Delete(o);
    replyFree(&r);

    r = httpDo(&s, "GET", "/instances", NULL); /* default 10: all four */
    o = cJSON_Parse(r.body);
    REQUIRE(o != NULL);
    CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "instances")), 4);
    cJSON_Delete(o);
    replyFree(&r);

    r = httpDo(&s, "DELETE", "/cache", NULL);
    CHECK_EQ(jsonInt(r.body, "instances_freed"), 4);
    replyFree(&r);
    r = getInstance(&s, 1);
    CHECK_EQ(r.status, 200);
    CHECK(strcmp(r.body, "{\"id\":1,\"alive\":false}\n") == 0);
    replyFree(&r);
    r = httpDo(&s, "GET", "/instances", NULL);
    CHECK(strcmp(r.body, "{\"instances\":[]}\n") == 0);
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* In every scope the request holds its instance while it runs; in every
 * scope but global nothing else does, and it dies with its request. */
static void a_request_holds_its_instance_while_it_runs_in_every_scope(void) {
    for (size_t sc = 0; sc < sizeof(scopes) / sizeof(scopes[0]); sc++) {
        bool global = strcmp(scopes[sc], "global") == 0;
        server s;
        REQUIRE(startScope(&s, scopes[sc], SLOW_MS));
        static const char *const body[] = {"{\"a\": 5, \"b\": 6}"};
        httpMany m = {&s, "POST", "/calculate", body, 1, NULL, 0};
        REQUIRE(httpManyStart(&m));
        cJSON *o = waitAlive(&s, 1);
        CHECK(o != NULL);
        if (o) {
            CHECK_EQ(num(o, "held_by", "requests"), 1);
            CHECK_EQ(num(o, "held_by", "cache_entries"), 0); /* nothing stored yet */
            cJSON_Delete(o);
        }
        reply r = httpDo(&s, "GET", "/instances?oldest=1", NULL);
        CHECK(strstr(r.body, "\"id\":1,") != NULL);
        replyFree(&r);
        CHECK(statsInt(&s, "instances.live") == 1);
        httpManyJoin(&m);
        CHECK_EQ(m.replies[0].status, 200);
        replyFree(&m.replies[0]);
        free(m.replies);

        r = getInstance(&s, 1);
        CHECK_EQ(r.status, 200);
        if (global) {
            o = cJSON_Parse(r.body);
            CHECK(o && isTrue(o, "alive"));
            CHECK_EQ(num(o, "held_by", "requests"), 0);
            CHECK_EQ(num(o, "held_by", "cache_entries"), 1);
            cJSON_Delete(o);
        } else {
            CHECK(strcmp(r.body, "{\"id\":1,\"alive\":false}\n") == 0);
        }
        replyFree(&r);
        CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
    }
}

/* With the redis backend Redis holds keys, not instances: an instance dies
 * with its request, and the answer says so (Redis is down here: port 1
 * refuses; the request is answered without the cache all the same). */
static void with_redis_instances_die_with_their_request_and_the_answer_says_so(void) {
    const char *const args[] = {"--cache-backend", "redis",  "--redis-url", "redis://127.0.0.1:1/0",
                                "--cache-scope",   "global", "--maxsize",   "none",
                                "--delay-ms",      SLOW_MS,  NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    static const char *const body[] = {"{\"a\": 5, \"b\": 6}"};
    httpMany m = {&s, "POST", "/calculate", body, 1, NULL, 0};
    REQUIRE(httpManyStart(&m));
    cJSON *o = waitAlive(&s, 1);
    CHECK(o != NULL);
    if (o) {
        CHECK_EQ(num(o, "held_by", "requests"), 1);
        CHECK_EQ(num(o, "held_by", "cache_entries"), 0);
        const cJSON *note = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(o, "held_by"), "note");
        CHECK(cJSON_IsString(note) && strstr(note->valuestring, "Redis holds keys") != NULL);
        cJSON_Delete(o);
    }
    joinAndExpectFreed(&s, &m);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* ------------------------------------------------------------ the figures */

static void stats_and_metrics_give_the_oldest_age_and_counts_by_age(void) {
    server s;
    REQUIRE(startScope(&s, "global", "0"));
    reply r = httpDo(&s, "GET", "/stats", NULL);
    CHECK(strstr(r.body, "\"oldest_age_s\":null") != NULL);
    replyFree(&r);
    CHECK_EQ(metric(&s, "memoscope_instances_live_older_than{age_seconds=\"1\"}"), 0);
    for (int i = 0; i < 3; i++) {
        r = calc(&s, i, 0);
        replyFree(&r);
    }
    /* the ages grow with time alone: once a second has passed, all three are older than 1 s */
    CHECK_EQ(waitMetric(&s, "memoscope_instances_live_older_than{age_seconds=\"1\"}", 3), 3);
    CHECK_EQ(metric(&s, "memoscope_instances_live_older_than{age_seconds=\"10\"}"), 0);
    CHECK_EQ(metric(&s, "memoscope_instances_live_older_than{age_seconds=\"3600\"}"), 0);
    CHECK(metric(&s, "memoscope_instances_oldest_age_seconds") >= 1);
    r = httpDo(&s, "GET", "/stats", NULL);
    cJSON *o = cJSON_Parse(r.body);
    REQUIRE(o != NULL);
    const cJSON *age = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(o, "instances"), "oldest_age_s");
    CHECK(cJSON_IsNumber(age) && age->valuedouble >= 1.0);
    cJSON_Delete(o);
    replyFree(&r);
    r = calc(&s, 9, 9); /* a young one is not counted */
    replyFree(&r);
    CHECK_EQ(metric(&s, "memoscope_instances_live_older_than{age_seconds=\"1\"}"), 3);
    r = httpDo(&s, "DELETE", "/cache", NULL);
    replyFree(&r);
    CHECK_EQ(metric(&s, "memoscope_instances_live_older_than{age_seconds=\"1\"}"), 0);
    CHECK_EQ(metric(&s, "memoscope_instances_oldest_age_seconds"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* Inspections while instances are made and freed on other threads: every
 * answer is well-formed, and the TSan build of the server reports no race
 * (it would exit non-zero). */
static void inspections_run_against_concurrent_creates_and_frees(void) {
    enum { N = 300 };
    const char *const args[] = {"--cache-scope", "global", "--maxsize", "8",
                                "--delay-ms",    "1",      NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    static char bodies[N][48];
    const char *ptrs[N];
    for (int i = 0; i < N; i++) {
        snprintf(bodies[i], sizeof(bodies[i]), "{\"a\": %d, \"b\": 1}", i);
        ptrs[i] = bodies[i];
    }
    httpMany m = {&s, "POST", "/calculate", ptrs, N, NULL, 0};
    REQUIRE(httpManyStart(&m));
    unsigned bad = 0;
    for (int i = 0; i < 200; i++) {
        reply r = i % 2 ? httpDo(&s, "GET", "/instances?oldest=100", NULL) : getInstance(&s, i + 1);
        cJSON *o = cJSON_Parse(r.body);
        bad += !(r.status == 200 || r.status == 404) || !o;
        cJSON_Delete(o);
        replyFree(&r);
    }
    httpManyJoin(&m);
    for (int i = 0; i < N; i++) {
        bad += m.replies[i].status != 200;
        replyFree(&m.replies[i]);
    }
    free(m.replies);
    CHECK_EQ(bad, 0);
    CHECK_EQ(statsInt(&s, "instances.live"), 8); /* maxsize 8: the others were freed */
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* GET /history: the ring of once-a-second figures the live page reads on load. */
static void history_serves_the_once_a_second_figures(void) {
    server s;
    REQUIRE(startScope(&s, "global", "0"));
    reply r = calc(&s, 1, 2);
    replyFree(&r);
    uint64_t deadline = nowMs() + WAIT_MS;
    struct timespec nap = {0, 50000000};
    int n = 0;
    cJSON *o = NULL;
    do { /* one sample a second: wait for two */
        cJSON_Delete(o);
        r = httpDo(&s, "GET", "/history", NULL);
        CHECK_EQ(r.status, 200);
        o = cJSON_Parse(r.body);
        replyFree(&r);
        n = o ? cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "samples")) : 0;
        if (n < 2)
            nanosleep(&nap, NULL);
    } while (n < 2 && nowMs() < deadline);
    REQUIRE(o != NULL);
    CHECK(n >= 2);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "samples");
    const cJSON *a = cJSON_GetArrayItem(list, 0), *b = cJSON_GetArrayItem(list, n - 1);
    CHECK(num(b, "uptime_s", NULL) >= num(a, "uptime_s", NULL));
    CHECK_EQ(num(b, "live", NULL), 1);
    CHECK_EQ(num(b, "requests", NULL), 1);
    CHECK(num(b, "rss_bytes", NULL) > 0);
    cJSON_Delete(o);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* weak scope: the entries that name an instance without holding it are
 * listed apart, and held_by counts none of them. */
static void weak_entries_are_listed_apart_and_hold_nothing(void) {
    server s;
    REQUIRE(startScope(&s, "weak", "1500"));
    static const char *const body[] = {"{\"calls\":[{\"a\":1,\"b\":2},{\"a\":3,\"b\":4}]}"};
    httpMany m = {&s, "POST", "/calculate", body, 1, NULL, 0};
    REQUIRE(httpManyStart(&m));
    uint64_t deadline = nowMs() + WAIT_MS;
    struct timespec nap = {0, 20000000};
    cJSON *o = NULL;
    const cJSON *weak = NULL;
    do { /* the first call is stored after its 1.5 s; the second still runs */
        cJSON_Delete(o);
        reply r = getInstance(&s, 1);
        o = cJSON_Parse(r.body);
        replyFree(&r);
        weak = o ? cJSON_GetObjectItemCaseSensitive(o, "weak_entries") : NULL;
        if (cJSON_GetArraySize(weak) < 1)
            nanosleep(&nap, NULL);
    } while (cJSON_GetArraySize(weak) < 1 && nowMs() < deadline);
    REQUIRE(o != NULL);
    CHECK_EQ(cJSON_GetArraySize(weak), 1);
    CHECK_EQ(num(cJSON_GetArrayItem(weak, 0), "a", NULL), 1);
    CHECK_EQ(num(o, "held_by", "cache_entries"), 0);
    CHECK_EQ(num(o, "held_by", "requests"), 1);
    CHECK(cJSON_GetObjectItemCaseSensitive(o, "entries") == NULL);
    cJSON_Delete(o);
    joinAndExpectFreed(&s, &m); /* gone with its request, its entries with it */
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* At most 16 entries are listed; the count says how many hold it. */
static void a_batch_of_64_keys_lists_16_entries_and_counts_them_all(void) {
    server s;
    REQUIRE(startScope(&s, "global", "0"));
    char body[4096];
    size_t n = (size_t)snprintf(body, sizeof(body), "{\"calls\":[");
    for (int i = 0; i < 64; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%s{\"a\":%d,\"b\":0}", i ? "," : "", i);
    snprintf(body + n, sizeof(body) - n, "]}");
    reply r = httpDo(&s, "POST", "/calculate", body);
    CHECK_EQ(r.status, 200);
    replyFree(&r);
    r = getInstance(&s, 1);
    cJSON *o = cJSON_Parse(r.body);
    replyFree(&r);
    REQUIRE(o != NULL);
    CHECK_EQ(num(o, "held_by", "cache_entries"), 64);
    CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "entries")), 16);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "entries_truncated")));
    CHECK_EQ(num(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "entries"), 0), "a", NULL),
             63);
    cJSON_Delete(o);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

int main(void) {
    static const harnessTest tests[] = {
        TEST(bad_ids_get_400_unknown_ones_404_in_every_scope),
        TEST(the_path_and_the_query_hold_nothing_else),
        TEST(global_cache_entries_hold_instances_until_the_clear),
        TEST(a_batch_of_64_keys_lists_16_entries_and_counts_them_all),
        TEST(weak_entries_are_listed_apart_and_hold_nothing),
        TEST(a_request_holds_its_instance_while_it_runs_in_every_scope),
        TEST(with_redis_instances_die_with_their_request_and_the_answer_says_so),
        TEST(stats_and_metrics_give_the_oldest_age_and_counts_by_age),
        TEST(inspections_run_against_concurrent_creates_and_frees),
        TEST(history_serves_the_once_a_second_figures),
    };
    return harnessMain(tests, sizeof(tests) / sizeof(tests[0]));
}
