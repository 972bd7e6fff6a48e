/* test_bounds.c -- the cache bounds against the real binary: --ttl-s
 * (entries expire, and in global scope their instances are freed with no
 * traffic), --maxbytes (the bytes a cache keeps alive, each instance counted
 * once in global scope), --cache-scope weak (entries leave with their
 * instance, also with many requests at once), and each setting's bad values.
 *
 * No sleep waits for an expiry: every wait polls /stats until the figure is
 * reached or a deadline passes, so a slow (sanitized) build only waits
 * longer. */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define STOP_MS 15000
#define WAIT_MS 20000 /* for a sweep to release what expired (it runs every 100 ms) */
#define EXIT_MS 10000

/* POSTs {"a": a, "b": b} and checks it was answered with the sum; returns
 * whether it was a hit. */
static bool calc(const server *s, long long a, long long b) {
    char body[96];
    snprintf(body, sizeof(body), "{\"a\": %lld, \"b\": %lld}", a, b);
    reply r = httpDo(s, "POST", "/calculate", body);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(jsonInt(r.body, "result"), a + b);
    bool hit = strstr(r.body, "\"cached\":true") != NULL;
    replyFree(&r);
    return hit;
}

/* ------------------------------------------------------------ bad values */

/* Runs the binary with args (NULL-terminated) and, if env is not NULL, one
 * more environment variable ("NAME=value"); returns its exit status (-1 if
 * it did not exit within EXIT_MS) and its stderr in err. */
static int runExit(const char *const *args, const char *env, char *err, size_t cap) {
    const char *argv[16] = {MEMOSCOPE_BIN, "--bind", "127.0.0.1", "--port", "0"};
    size_t argc = 5;
    for (size_t i = 0; args[i] && argc < 15; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        if (env)
            putenv((char *)env);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    uint64_t deadline = nowMs() + EXIT_MS;
    struct pollfd p = {fds[0], POLLIN, 0};
    while (nowMs() < deadline && poll(&p, 1, 100) >= 0) {
        if (!(p.revents & (POLLIN | POLLHUP)))
            continue;
        ssize_t n = read(fds[0], err + len, cap - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    err[len] = '\0';
    close(fds[0]);
    int status;
    for (;;) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (nowMs() > deadline) {
            kill(pid, SIGKILL); /* a server that started: it should not have */
            waitpid(pid, &status, 0);
            return -1;
        }
        poll(NULL, 0, 10);
    }
}

static void bad_values_exit_2_naming_the_setting(void) {
    static const struct {
        const char *args[8];
        const char *env;
        const char *named;
    } cases[] = {
        {{"--ttl-s", "soon"}, NULL, "--ttl-s"},
        {{"--ttl-s", "0"}, NULL, "--ttl-s"},
        {{"--ttl-s", "-2"}, NULL, "--ttl-s"},
        {{"--ttl-s", "1e3"}, NULL, "--ttl-s"},
        {{NULL}, "MEMOSCOPE_TTL_S=forever", "MEMOSCOPE_TTL_S"},
        {{"--maxbytes", "64MB"}, NULL, "--maxbytes"},
        {{"--maxbytes", "0"}, NULL, "--maxbytes"},
        {{"--maxbytes", "lots"}, NULL, "--maxbytes"},
        {{NULL}, "MEMOSCOPE_MAXBYTES=8 MiB", "MEMOSCOPE_MAXBYTES"},
        {{"--cache-scope", "weakref"}, NULL, "--cache-scope"},
        /* A bound that means nothing for the scope: exit 2 saying why. */
        {{"--cache-scope", "off", "--ttl-s", "2"}, NULL, "no meaning"},
        {{"--cache-scope", "off", "--maxbytes", "8MiB"}, NULL, "no meaning"},
        {{"--maxsize", "0", "--ttl-s", "2"}, NULL, "no meaning"},
        /* Redis bounds its own memory (maxmemory): no byte bound of ours. */
        {{"--cache-backend", "redis", "--cache-scope", "shared", "--maxbytes", "1MiB"},
         NULL,
         "no meaning with --cache-backend redis"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[2048];
        checkContext("case %zu (%s)", i, cases[i].named);
        CHECK_EQ(runExit(cases[i].args, cases[i].env, err, sizeof(err)), 2);
        CHECK(strstr(err, cases[i].named) != NULL);
    }
}

/* -------------------------------------------------------------------- TTL */

/* In global scope an entry holds its instance: when the entries expire, the
 * sweep frees the instances though no request comes. */
static void expired_entries_free_global_instances_without_traffic(void) {
    server s;
    REQUIRE(serverStart(&s, (const char *const[]){"--cache-scope", "global", "--maxsize", "none",
                                                  "--delay-ms", "0", "--ttl-s", "0.2",
                                                  "--instance-bytes", "1000", NULL}));
    reply st = httpDo(&s, "GET", "/stats", NULL);
    CHECK(strstr(st.body, "\"ttl_s\":0.2") != NULL);
    replyFree(&st);
    for (int i = 0; i < 20; i++)
        CHECK(!calc(&s, i, 1));
    /* Only /stats from here on: nothing touches the cache but the sweep. */
    CHECK_EQ(waitStatsInt(&s, "instances.live", 0, WAIT_MS), 0);
    CHECK_EQ(statsInt(&s, "instances.freed"), 20);
    CHECK_EQ(statsInt(&s, "cache.expirations"), 20);
    CHECK_EQ(statsInt(&s, "cache.evictions"), 0);
    CHECK_EQ(statsInt(&s, "cache.currsize"), 0);
    CHECK_EQ(statsInt(&s, "cache.currbytes"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* A get of an expired entry is a miss (cachetools' TTLCache). */
static void an_expired_entry_is_a_miss_and_counts_as_expired(void) {
    server s;
    REQUIRE(serverStart(&s, (const char *const[]){"--cache-scope", "shared", "--delay-ms", "0",
                                                  "--ttl-s", "3", NULL}));
    CHECK(!calc(&s, 1, 2));
    CHECK(calc(&s, 1, 2)); /* well within 3 s */
    CHECK_EQ(waitStatsInt(&s, "cache.expirations", 1, WAIT_MS), 1);
    CHECK_EQ(statsInt(&s, "cache.currsize"), 0);
    CHECK(!calc(&s, 1, 2));
    CHECK_EQ(statsInt(&s, "cache.misses"), 2);
    CHECK_EQ(statsInt(&s, "cache.hits"), 1);
    CHECK_EQ(statsInt(&s, "cache.evictions"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* --------------------------------------------------------------- maxbytes */

/* In global scope the bytes are the instances', each counted once however
 * many entries name it; the cache evicts until they fit. */
static void maxbytes_in_global_counts_each_instance_once(void) {
    server s;
    REQUIRE(serverStart(&s, (const char *const[]){"--cache-scope", "global", "--maxsize", "none",
                                                  "--delay-ms", "0", "--instance-bytes", "10000",
                                                  "--maxbytes", "50000", NULL}));
    reply r =
        httpDo(&s, "POST", "/calculate",
               "{\"calls\": [{\"a\": 1, \"b\": 1}, {\"a\": 2, \"b\": 2}, {\"a\": 3, \"b\": 3}]}");
    CHECK_EQ(r.status, 200);
    replyFree(&r);
    CHECK_EQ(waitStatsInt(&s, "requests.in_flight", 0, WAIT_MS), 0);
    long long one = statsInt(&s, "instances.live_bytes"); /* one instance, held by 3 entries */
    CHECK_GT(one, 10000);
    CHECK_EQ(statsInt(&s, "cache.currsize"), 3);
    CHECK_EQ(statsInt(&s, "cache.currbytes"), one);

    for (int i = 0; i < 9; i++)
        CHECK(!calc(&s, 100 + i, 0));
    CHECK_EQ(waitStatsInt(&s, "requests.in_flight", 0, WAIT_MS), 0);
    long long fit = 50000 / one; /* 4 with the 48-byte header of today */
    CHECK_EQ(statsInt(&s, "instances.live"), fit);
    CHECK_EQ(statsInt(&s, "instances.live_bytes"), fit * one);
    CHECK_EQ(statsInt(&s, "cache.currbytes"), fit * one);
    CHECK_EQ(statsInt(&s, "cache.currsize"), fit);
    CHECK_EQ(statsInt(&s, "cache.evictions"), 3 + 9 - fit);
    CHECK_EQ(statsInt(&s, "maxbytes"), 50000);
    r = httpDo(&s, "GET", "/cache", NULL);
    CHECK_EQ(jsonInt(r.body, "maxbytes"), 50000);
    CHECK_EQ(jsonInt(r.body, "currbytes"), fit * one);
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* Elsewhere an entry counts its own key and value: (a, b) -> sum, 24 bytes. */
static void maxbytes_in_shared_counts_the_entries_own_bytes(void) {
    server s;
    REQUIRE(serverStart(&s, (const char *const[]){"--cache-scope", "shared", "--maxsize", "none",
                                                  "--delay-ms", "0", "--maxbytes", "100", NULL}));
    for (int i = 0; i < 10; i++)
        CHECK(!calc(&s, i, 0));
    CHECK_EQ(statsInt(&s, "cache.currsize"), 4);
    CHECK_EQ(statsInt(&s, "cache.currbytes"), 96);
    CHECK_EQ(statsInt(&s, "cache.evictions"), 6);
    CHECK(calc(&s, 9, 0)); /* the most recent four stayed */
    CHECK(!calc(&s, 5, 0));
    reply r = httpDo(&s, "GET", "/cache", NULL);
    CHECK_EQ(jsonInt(r.body, "currbytes"), 96);
    CHECK_EQ(jsonInt(r.body, "maxbytes"), 100);
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* With --maxsize and --maxbytes, whichever binds first evicts. */
static void whichever_bound_binds_first_evicts(void) {
    static const struct {
        const char *maxsize, *maxbytes;
        long long entries;
    } cases[] = {{"2", "1KiB", 2}, {"100", "48", 2}, {"3", "72", 3}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        checkContext("maxsize %s, maxbytes %s", cases[i].maxsize, cases[i].maxbytes);
        server s;
        REQUIRE(serverStart(&s, (const char *const[]){"--cache-scope", "shared", "--delay-ms", "0",
                                                      "--maxsize", cases[i].maxsize, "--maxbytes",
                                                      cases[i].maxbytes, NULL}));
        for (int k = 0; k < 6; k++)
            CHECK(!calc(&s, k, 0));
        CHECK_EQ(statsInt(&s, "cache.currsize"), cases[i].entries);
        CHECK_EQ(statsInt(&s, "cache.evictions"), 6 - cases[i].entries);
        CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
    }
}

/* ------------------------------------------------------------------- weak */

/* Hits only within an instance (a batch); when the instance is freed its
 * entries leave at once, and /stats counts them. */
static void weak_entries_leave_with_their_instance(void) {
    server s;
    REQUIRE(
        serverStart(&s, (const char *const[]){"--cache-scope", "weak", "--delay-ms", "0", NULL}));
    const char *batch =
        "{\"calls\": [{\"a\": 1, \"b\": 2}, {\"a\": 1, \"b\": 2}, {\"a\": 3, \"b\": 4}]}";
    for (int round = 1; round <= 2; round++) {
        reply r = httpDo(&s, "POST", "/calculate", batch);
        CHECK_EQ(r.status, 200);
        /* The second call of (1, 2) hits on this instance; no hit comes from
         * the instance before, whose entries left with it. */
        CHECK(strstr(r.body, "[{\"result\":3,\"cached\":false},{\"result\":3,\"cached\":true},"
                             "{\"result\":7,\"cached\":false}]") != NULL);
        replyFree(&r);
        CHECK_EQ(waitStatsInt(&s, "instances.live", 0, WAIT_MS), 0);
        CHECK_EQ(waitStatsInt(&s, "cache.left_with_instance", 2 * round, WAIT_MS), 2 * round);
        CHECK_EQ(statsInt(&s, "cache.currsize"), 0);
        CHECK_EQ(statsInt(&s, "cache.currbytes"), 0);
    }
    CHECK_EQ(statsInt(&s, "cache.hits"), 2);
    CHECK_EQ(statsInt(&s, "cache.misses"), 4);
    CHECK_EQ(statsInt(&s, "cache.evictions"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* Many instances store and die at once on every worker thread (run it in
 * the TSan build): no entry outlives its instance, none is lost. */
static void weak_removal_holds_under_concurrency(void) {
    enum { N = 96, CALLS = 8 };
    server s;
    REQUIRE(serverStart(&s, (const char *const[]){"--cache-scope", "weak", "--maxsize", "none",
                                                  "--delay-ms", "2", "--threads", "4", NULL}));
    static char bodies[N][512];
    const char *ptrs[N];
    for (int i = 0; i < N; i++) {
        int len = snprintf(bodies[i], sizeof(bodies[i]), "{\"calls\": [");
        for (int c = 0; c < CALLS; c++) /* (k, k) twice each: 4 distinct, 4 hits */
            len += snprintf(bodies[i] + len, sizeof(bodies[i]) - (size_t)len,
                            "%s{\"a\": %d, \"b\": %d}", c ? ", " : "", c / 2, i);
        snprintf(bodies[i] + len, sizeof(bodies[i]) - (size_t)len, "]}");
        ptrs[i] = bodies[i];
    }
    for (int round = 0; round < 3; round++) {
        httpMany m = {.s = &s, .method = "POST", .path = "/calculate", .bodies = ptrs, .n = N};
        REQUIRE(httpManyStart(&m));
        httpManyJoin(&m);
        for (int i = 0; i < N; i++) {
            CHECK_EQ(m.replies[i].status, 200);
            replyFree(&m.replies[i]);
        }
        free(m.replies);
    }
    long long stored = 3LL * N * CALLS / 2;
    CHECK_EQ(waitStatsInt(&s, "instances.live", 0, WAIT_MS), 0);
    CHECK_EQ(waitStatsInt(&s, "cache.left_with_instance", stored, WAIT_MS), stored);
    CHECK_EQ(statsInt(&s, "cache.misses"), stored);
    CHECK_EQ(statsInt(&s, "cache.hits"), stored);
    CHECK_EQ(statsInt(&s, "cache.currsize"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

int main(void) {
    static const harnessTest tests[] = {
        TEST(bad_values_exit_2_naming_the_setting),
        TEST(expired_entries_free_global_instances_without_traffic),
        TEST(an_expired_entry_is_a_miss_and_counts_as_expired),
        TEST(maxbytes_in_global_counts_each_instance_once),
        TEST(maxbytes_in_shared_counts_the_entries_own_bytes),
        TEST(whichever_bound_binds_first_evicts),
        TEST(weak_entries_leave_with_their_instance),
        TEST(weak_removal_holds_under_concurrency),
    };
    return harnessMain(tests, sizeof(tests) / sizeof(tests[0]));
}
