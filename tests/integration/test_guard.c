/* test_guard.c -- the memory guard on the bare binary (--memory-limit, no cgroup
 * limit needed): global/none leaks until memory passes the guard, then POST
 * /calculate gets 503 with Retry-After and /readyz 503, while GET routes and
 * DELETE /cache keep working; the clear brings memory under the guard and
 * both recover by themselves, counted. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define STOP_MS 15000
#define WAIT_MS 5000
#define MAX_POSTS 200 /* 1 MiB each: the 32 MiB guard is passed long before */

/* POST /calculate on a raw socket, to see the headers curl hides. */
static int rawPost(const server *s, char *out, size_t cap) {
    int fd = rawConnect(s);
    if (fd < 0)
        return 0;
    static const char req[] = "POST /calculate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                              "Content-Length: 16\r\n\r\n{\"a\": 1, \"b\": 2}";
    size_t len = 0;
    if (rawSendAll(fd, req, sizeof(req) - 1)) {
        ssize_t n;
        while (len < cap - 1 && (n = read(fd, out + len, cap - 1 - len)) > 0)
            len += (size_t)n;
    }
    out[len] = '\0';
    close(fd);
    return len > 12 ? atoi(out + 9) : 0;
}

static long status(const server *s, const char *method, const char *path) {
    reply r = httpDo(s, method, path, NULL);
    long st = r.status;
    replyFree(&r);
    return st;
}

static long waitStatus(const server *s, const char *path, long want) {
    uint64_t deadline = nowMs() + WAIT_MS;
    struct timespec nap = {0, 10000000};
    long st;
    while ((st = status(s, "GET", path)) != want && nowMs() < deadline)
        nanosleep(&nap, NULL);
    return st;
}

/* The process's own RSS before any instance (sanitizer builds start far
 * higher than plain ones), so that the guard sits 32 MiB above it. */
static long long baseRss(void) {
    const char *const args[] = {"--delay-ms", "0", "--instance-bytes", "1048576", NULL};
    server s;
    if (!serverStart(&s, args))
        return LLONG_MIN;
    long long rss = statsInt(&s, "memory.rss_bytes");
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
    return rss;
}

/* ASan keeps freed blocks in a quarantine (256 MiB by default), resident:
 * the clear would free the instances and RSS would not fall. Without the
 * quarantine it falls as in the plain build. Other builds ignore it. */
static void noQuarantine(void) {
    static char opts[512];
    const char *old = getenv("ASAN_OPTIONS");
    snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=0", old ? old : "",
             old && *old ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
}

static void the_guard_sheds_above_it_and_recovers_after_a_clear(void) {
    noQuarantine();
    long long base = baseRss();
    REQUIRE(base > 0);
    char guard[32], limit[32];
    snprintf(guard, sizeof(guard), "%lld", base + (32ll << 20));
    snprintf(limit, sizeof(limit), "%lld", base + (64ll << 20));
    const char *const args[] = {"--cache-scope",
                                "global",
                                "--maxsize",
                                "none",
                                "--delay-ms",
                                "0",
                                "--instance-bytes",
                                "1048576",
                                "--memory-limit",
                                limit,
                                "--memory-guard",
                                guard,
                                NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    reply r = httpDo(&s, "GET", "/readyz", NULL);
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.body, "\"status\":\"ready\"") != NULL);
    CHECK(strstr(r.body, "\"cache_backend\":\"memory\"") != NULL);
    replyFree(&r);
    CHECK_EQ(statsInt(&s, "memory.limit_bytes"), base + (64ll << 20));
    CHECK_EQ(statsInt(&s, "memory.guard_bytes"), base + (32ll << 20));

    /* the leak: every instance stays until the guard's sampler sees it */
    int ok = 0, shed = 0;
    char raw[2048];
    for (int i = 0; i < MAX_POSTS && !shed; i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"a\": %d, \"b\": 0}", i);
        r = httpDo(&s, "POST", "/calculate", body);
        if (r.status == 200)
            ok++;
        else if (r.status == 503)
            shed++;
        replyFree(&r);
    }
    /* some were served, and the shedding began only above the guard (how
     * many fit depends on the build: a sanitizer's shadow memory counts) */
    CHECK(ok >= 1);
    CHECK(statsInt(&s, "memory.rss_bytes") > base + (32ll << 20));
    CHECK_EQ(shed, 1);
    CHECK_EQ(rawPost(&s, raw, sizeof(raw)), 503);
    CHECK(strstr(raw, "\r\nRetry-After: 5\r\n") != NULL);
    CHECK(strstr(raw, "memory above the guard") != NULL);
    long long live = statsInt(&s, "instances.live");
    CHECK_EQ(live, ok); /* a shed request made no instance */

    r = httpDo(&s, "GET", "/readyz", NULL);
    CHECK_EQ(r.status, 503);
    CHECK(strstr(r.body, "memory above the guard") != NULL);
    replyFree(&r);
    CHECK_EQ(status(&s, "GET", "/healthz"), 200); /* alive, only not ready */
    CHECK_EQ(status(&s, "GET", "/stats"), 200);
    CHECK_EQ(status(&s, "GET", "/metrics"), 200);
    CHECK_EQ(status(&s, "GET", "/cache"), 200);
    CHECK_EQ(status(&s, "GET", "/instances?oldest=3"), 200);
    r = httpDo(&s, "GET", "/stats", NULL);
    CHECK(strstr(r.body, "\"guard_shedding\":true") != NULL);
    replyFree(&r);

    r = httpDo(&s, "DELETE", "/cache", NULL);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(jsonInt(r.body, "instances_freed"), live);
    replyFree(&r);
    CHECK_EQ(waitStatus(&s, "/readyz", 200), 200); /* by itself, once memory is under */
    r = httpDo(&s, "POST", "/calculate", "{\"a\": 1, \"b\": 2}");
    CHECK_EQ(r.status, 200);
    replyFree(&r);
    CHECK_EQ(statsInt(&s, "memory.guard_shed"), 2);
    CHECK(statsInt(&s, "memory.readyz_unready") >= 1);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* Off by default: the leak still leaks, nothing is shed. */
static void without_a_guard_nothing_is_shed(void) {
    const char *const args[] = {
        "--cache-scope",    "global",  "--maxsize",      "none", "--delay-ms", "0",
        "--instance-bytes", "1048576", "--memory-limit", "16m",  NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    for (int i = 0; i < 40; i++) { /* 40 MiB, over the 16 MiB limit */
        char body[64];
        snprintf(body, sizeof(body), "{\"a\": %d, \"b\": 0}", i);
        reply r = httpDo(&s, "POST", "/calculate", body);
        CHECK_EQ(r.status, 200);
        replyFree(&r);
    }
    CHECK_EQ(status(&s, "GET", "/readyz"), 200);
    CHECK_EQ(statsInt(&s, "memory.guard_shed"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* A cache backend that is down leaves the replica ready (its answers are
 * still correct, computed without the cache); the body says it is down.
 * Port 1 on loopback refuses every connection. */
static void a_down_cache_backend_leaves_the_replica_ready(void) {
    const char *const args[] = {"--cache-backend", "redis",  "--redis-url", "redis://127.0.0.1:1/0",
                                "--cache-scope",   "shared", "--maxsize",   "none",
                                "--delay-ms",      "0",      NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    reply r = httpDo(&s, "GET", "/readyz", NULL);
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.body, "\"cache_backend\":\"redis\"") != NULL);
    CHECK(strstr(r.body, "\"cache_backend_up\":false") != NULL);
    CHECK(strstr(r.body, "the cache backend is down") != NULL);
    replyFree(&r);
    r = httpDo(&s, "POST", "/calculate", "{\"a\": 1, \"b\": 2}");
    CHECK_EQ(r.status, 200); /* answered without the cache */
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

int main(void) {
    static const harnessTest tests[] = {
        TEST(the_guard_sheds_above_it_and_recovers_after_a_clear),
        TEST(without_a_guard_nothing_is_shed),
        TEST(a_down_cache_backend_leaves_the_replica_ready),
    };
    return harnessMain(tests, sizeof(tests) / sizeof(tests[0]));
}
