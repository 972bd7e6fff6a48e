/* test_redis.c -- global and shared scope on a real Redis, shared
 * by two replicas, and the faults that must lose nothing.
 *
 * The test starts its own redis-server on a free loopback port (no
 * persistence) and stops it by PID. Waits are polls with deadlines.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "harness.h"

#define STOP_MS 15000
#define READY_MS 10000
#define MANY 64
#define FLIGHT_DELAY_MS 800 /* long enough for 64 requests to overlap */
#define FAULT_DELAY_MS 200
#define GENEROUS "2000"      /* ms: the reply timeout of tests not about faults */
#define ANSWER_SLACK_MS 1500 /* a hang shows; a loaded machine does not fail us */

static pid_t redis_pid;
static unsigned redis_port;

/* ------------------------------------------------------------- redis */

static unsigned freePort(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    unsigned port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* A synchronous connection for the test's own looks at Redis. */
static redisContext *redisOpen(void) {
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", (int)redis_port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static void redisStop(int sig) {
    if (redis_pid > 0) {
        kill(redis_pid, sig);
        waitpid(redis_pid, NULL, 0);
        redis_pid = 0;
    }
}

static void redisStopAtExit(void) {
    redisStop(SIGKILL);
}

/* Starts redis-server on redis_port (a new free one when 0) and waits for
 * its PONG. extra: more arguments (NULL-terminated) or NULL. */
static bool redisStart(const char *const *extra) {
    if (!redis_port)
        redis_port = freePort();
    char port[16];
    snprintf(port, sizeof(port), "%u", redis_port);
    const char *argv[24] = {"redis-server", "--port",     port,           "--bind", "127.0.0.1",
                            "--save",       "",           "--appendonly", "no",     "--daemonize",
                            "no",           "--loglevel", "warning"};
    int argc = 13;
    for (int i = 0; extra && extra[i] && argc < 22; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a test killed by a timeout */
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    redis_pid = pid;
    static bool registered;
    if (!registered)
        atexit(redisStopAtExit);
    registered = true;
    uint64_t deadline = nowMs() + READY_MS;
    struct timespec nap = {0, 20000000};
    while (nowMs() < deadline) {
        redisContext *c = redisOpen();
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            bool up = r && (r->type == REDIS_REPLY_STATUS ||
                            (r->type == REDIS_REPLY_ERROR && strstr(r->str, "NOAUTH")));
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (up)
                return true;
        }
        nanosleep(&nap, NULL);
    }
    fprintf(stderr, "  redis-server did not answer on port %u\n", redis_port);
    return false;
}

/* How many keys match pattern. KEYS, not SCAN: SCAN may return a key twice
 * while Redis resizes its table (after a big clear it shrinks), and a test
 * that counts must count each key once. */
static long long redisCount(const char *pattern) {
    redisContext *c = redisOpen();
    if (!c)
        return -1;
    redisReply *r = redisCommand(c, "KEYS %s", pattern);
    long long n = r && r->type == REDIS_REPLY_ARRAY ? (long long)r->elements : -1;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return n;
}

static bool redisSet(const char *key, const char *value) {
    redisContext *c = redisOpen();
    if (!c)
        return false;
    redisReply *r = redisCommand(c, "SET %s %s", key, value);
    bool ok = r && r->type == REDIS_REPLY_STATUS;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* Writes n keys <prefix><i>:0 (value "1") with MSET, pipelined: a big
 * keyspace in a blink. With prefix <ours>shared: they have the shape of
 * our keys (shared:<a>:<b>), which is all that DELETE /cache removes. */
#define MSET_KEYS 1000
static bool redisFill(const char *prefix, int n) {
    redisContext *c = redisOpen();
    if (!c)
        return false;
    static char names[MSET_KEYS][64];
    const char *argv[1 + 2 * MSET_KEYS];
    int batches = 0;
    for (int from = 0; from < n; from += MSET_KEYS, batches++) {
        int k = n - from < MSET_KEYS ? n - from : MSET_KEYS;
        argv[0] = "MSET";
        for (int i = 0; i < k; i++) {
            snprintf(names[i], sizeof(names[i]), "%s%d:0", prefix, from + i);
            argv[1 + 2 * i] = names[i];
            argv[2 + 2 * i] = "1";
        }
        redisAppendCommandArgv(c, 1 + 2 * k, argv, NULL); /* copied: names may be reused */
    }
    bool ok = true;
    for (int i = 0; i < batches; i++) {
        redisReply *r = NULL;
        ok = redisGetReply(c, (void **)&r) == REDIS_OK && r && r->type == REDIS_REPLY_STATUS && ok;
        if (r)
            freeReplyObject(r);
    }
    redisFree(c);
    return ok;
}

/* One command on a connection of its own; true when Redis said OK. */
static bool redisDo(const char *cmd) {
    redisContext *c = redisOpen();
    if (!c)
        return false;
    redisReply *r = redisCommand(c, cmd);
    bool ok = r && r->type == REDIS_REPLY_STATUS;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* Redis's INFO clients blocked_clients: a client whose write command
 * waits out a CLIENT PAUSE WRITE counts there (-1 on failure). */
static long long redisBlocked(void) {
    redisContext *c = redisOpen();
    if (!c)
        return -1;
    redisReply *r = redisCommand(c, "INFO clients");
    long long n = -1;
    const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "blocked_clients:") : NULL;
    if (p)
        n = strtoll(p + strlen("blocked_clients:"), NULL, 10);
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return n;
}

/* Polls until a client of Redis is blocked (our clear's UNLINK, paused). */
static bool waitBlocked(unsigned timeout_ms) {
    uint64_t deadline = nowMs() + timeout_ms;
    struct timespec nap = {0, 5000000};
    while (redisBlocked() < 1 && nowMs() < deadline)
        nanosleep(&nap, NULL);
    return redisBlocked() >= 1;
}

/* ------------------------------------------------------------- replicas */

/* Starts a replica on our Redis (or url). timeout_ms: the reply timeout, or
 * NULL for the default (100 ms). Tests that are not about faults give
 * Redis a generous one, so that a machine slowed by sanitizers and other
 * jobs does not turn a late reply into a fault they do not test. */
static bool replicaStart(server *s, const char *scope, const char *replica, const char *prefix,
                         const char *url, const char *delay_ms, const char *timeout_ms) {
    char default_url[64];
    snprintf(default_url, sizeof(default_url), "redis://127.0.0.1:%u/0", redis_port);
    const char *args[] = {"--cache-backend",
                          "redis",
                          "--cache-scope",
                          scope,
                          "--replica",
                          replica,
                          "--redis-prefix",
                          prefix,
                          "--redis-url",
                          url ? url : default_url,
                          "--delay-ms",
                          delay_ms,
                          "--threads",
                          "2",
                          timeout_ms ? "--redis-timeout-ms" : NULL,
                          timeout_ms,
                          NULL};
    return serverStart(s, args);
}

/* Polls /stats until backend.connected is want. */
static bool waitConnected(const server *s, bool want, unsigned timeout_ms) {
    uint64_t deadline = nowMs() + timeout_ms;
    struct timespec nap = {0, 20000000};
    const char *needle = want ? "\"connected\":true" : "\"connected\":false";
    do {
        reply r = httpDo(s, "GET", "/stats", NULL);
        bool yes = r.status == 200 && strstr(r.body, needle);
        replyFree(&r);
        if (yes)
            return true;
        nanosleep(&nap, NULL);
    } while (nowMs() < deadline);
    return false;
}

static reply calc(const server *s, long long a, long long b) {
    char body[96];
    snprintf(body, sizeof(body), "{\"a\": %lld, \"b\": %lld}", a, b);
    return httpDo(s, "POST", "/calculate", body);
}

/* Is r a correct answer for a + b, cached as said (-1: either)? */
static bool answered(const reply *r, long long a, long long b, int cached) {
    if (r->status != 200 || jsonInt(r->body, "result") != a + b)
        return false;
    if (cached < 0)
        return true;
    return strstr(r->body, cached ? "\"cached\":true" : "\"cached\":false") != NULL;
}

static long elapsedMs(const char *body) {
    const char *p = strstr(body, "\"elapsed_ms\":");
    return p ? strtol(p + 13, NULL, 10) : -1;
}

/* ------------------------------------------------------------- tests */

static void a_shared_key_computed_on_one_replica_is_a_hit_on_the_other(void) {
    REQUIRE(redisStart(NULL));
    server a, b;
    REQUIRE(replicaStart(&a, "shared", "ra", "t1:", NULL, "50", GENEROUS));
    REQUIRE(replicaStart(&b, "shared", "rb", "t1:", NULL, "50", GENEROUS));
    REQUIRE(waitConnected(&a, true, READY_MS) && waitConnected(&b, true, READY_MS));

    reply r1 = calc(&a, 20, 22);
    CHECK(answered(&r1, 20, 22, 0));
    reply r2 = calc(&b, 20, 22);
    CHECK(answered(&r2, 20, 22, 1));
    replyFree(&r1);
    replyFree(&r2);
    CHECK_EQ(statsInt(&a, "cache.misses"), 1);
    CHECK_EQ(statsInt(&b, "cache.hits"), 1);
    CHECK_EQ(statsInt(&b, "cache.misses"), 0);
    CHECK_EQ(redisCount("t1:shared:20:22"), 1);
    /* a hit costs one command (GET) on the replica that had it */
    CHECK_EQ(statsInt(&b, "backend.errors"), 0);
    CHECK_EQ(serverStop(&a, SIGTERM, STOP_MS), 0);
    CHECK_EQ(serverStop(&b, SIGTERM, STOP_MS), 0);
}

static void sixty_four_requests_for_one_key_over_both_replicas_cost_one_miss(void) {
    server a, b;
    char delay[16];
    snprintf(delay, sizeof(delay), "%u", FLIGHT_DELAY_MS);
    REQUIRE(replicaStart(&a, "shared", "ra", "t2:", NULL, delay, GENEROUS));
    REQUIRE(replicaStart(&b, "shared", "rb", "t2:", NULL, delay, GENEROUS));
    REQUIRE(waitConnected(&a, true, READY_MS) && waitConnected(&b, true, READY_MS));

    const char *bodies[MANY / 2];
    for (size_t i = 0; i < MANY / 2; i++)
        bodies[i] = "{\"a\": 7, \"b\": 35}";
    httpMany ma = {&a, "POST", "/calculate", bodies, MANY / 2, NULL, 0};
    httpMany mb = {&b, "POST", "/calculate", bodies, MANY / 2, NULL, 0};
    CHECK(httpManyStart(&ma));
    CHECK(httpManyStart(&mb));
    httpManyJoin(&ma);
    httpManyJoin(&mb);
    int ok = 0, uncached = 0;
    for (size_t i = 0; i < MANY / 2; i++) {
        reply *ra = &ma.replies[i], *rb = &mb.replies[i];
        ok += answered(ra, 7, 35, -1) + answered(rb, 7, 35, -1);
        uncached += answered(ra, 7, 35, 0) + answered(rb, 7, 35, 0);
        replyFree(ra);
        replyFree(rb);
    }
    free(ma.replies);
    free(mb.replies);
    CHECK_EQ(ok, MANY);
    CHECK_EQ(uncached, 1);
    CHECK_EQ(statsInt(&a, "cache.misses") + statsInt(&b, "cache.misses"), 1);
    CHECK_EQ(statsInt(&a, "cache.hits") + statsInt(&b, "cache.hits"), MANY - 1);
    CHECK(statsInt(&a, "cache.coalesced") + statsInt(&b, "cache.coalesced") >= 1);
    CHECK_EQ(redisCount("t2:lock:*"), 0); /* the lock went with the store */
    CHECK_EQ(serverStop(&a, SIGTERM, STOP_MS), 0);
    CHECK_EQ(serverStop(&b, SIGTERM, STOP_MS), 0);
}

static void global_adds_one_key_per_request_and_the_replica_stays_flat(void) {
    server g;
    REQUIRE(replicaStart(&g, "global", "rg", "t3:", NULL, "0", GENEROUS));
    REQUIRE(waitConnected(&g, true, READY_MS));
    const int n = 50;
    for (int i = 0; i < n; i++) {
        reply r = calc(&g, 1, 2); /* the same call: the instance in the key makes it new */
        CHECK(answered(&r, 1, 2, 0));
        replyFree(&r);
    }
    /* the stores are fire-and-forget: they land within a round trip */
    uint64_t deadline = nowMs() + READY_MS;
    struct timespec nap = {0, 10000000};
    while (redisCount("t3:global:rg:*") < n && nowMs() < deadline)
        nanosleep(&nap, NULL);
    CHECK_EQ(redisCount("t3:global:rg:*"), n);
    CHECK_EQ(statsInt(&g, "cache.hits"), 0);
    CHECK_EQ(statsInt(&g, "cache.misses"), n);
    CHECK_EQ(statsInt(&g, "instances.live"), 0); /* Redis holds no instance of ours */
    /* a batch on one instance hits its own entry */
    reply r = httpDo(&g, "POST", "/calculate", "{\"calls\":[{\"a\":3,\"b\":4},{\"a\":3,\"b\":4}]}");
    CHECK(r.status == 200 && strstr(r.body, "{\"result\":7,\"cached\":false}") &&
          strstr(r.body, "{\"result\":7,\"cached\":true}"));
    replyFree(&r);
    CHECK_EQ(serverStop(&g, SIGTERM, STOP_MS), 0);
}

static void delete_cache_removes_only_our_prefix(void) {
    CHECK(redisSet("other:keep", "1"));
    CHECK(redisSet("t1x:shared:1:1", "2")); /* a prefix that starts like ours */
    server a;
    REQUIRE(replicaStart(&a, "shared", "ra", "t1:", NULL, "0", GENEROUS));
    REQUIRE(waitConnected(&a, true, READY_MS));
    long long ours = redisCount("t1:*");
    CHECK(ours >= 1);
    reply r = httpDo(&a, "DELETE", "/cache", NULL);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(jsonInt(r.body, "entries_freed"), ours);
    replyFree(&r);
    CHECK_EQ(redisCount("t1:*"), 0);
    CHECK_EQ(redisCount("other:keep"), 1);
    CHECK_EQ(redisCount("t1x:*"), 1);
    CHECK(redisCount("t3:*") > 0);
    CHECK_EQ(serverStop(&a, SIGTERM, STOP_MS), 0);
}

static void redis_killed_mid_load_then_restarted_loses_nothing(void) {
    server a;
    char delay[16];
    snprintf(delay, sizeof(delay), "%u", FAULT_DELAY_MS);
    REQUIRE(replicaStart(&a, "shared", "ra", "t4:", NULL, delay, NULL));
    REQUIRE(waitConnected(&a, true, READY_MS));

    char bufs[MANY][96];
    const char *bodies[MANY];
    for (size_t i = 0; i < MANY; i++) {
        snprintf(bufs[i], sizeof(bufs[i]), "{\"a\": %zu, \"b\": 1000}", i);
        bodies[i] = bufs[i];
    }
    httpMany m = {&a, "POST", "/calculate", bodies, MANY, NULL, 0};
    CHECK(httpManyStart(&m));
    struct timespec mid = {0, FAULT_DELAY_MS / 2 * 1000000L};
    nanosleep(&mid, NULL); /* not a race to hide: any moment of the kill must be survived */
    redisStop(SIGKILL);
    httpManyJoin(&m);
    int ok = 0;
    long slowest = 0;
    for (size_t i = 0; i < MANY; i++) {
        reply *r = &m.replies[i];
        ok += answered(r, (long long)i, 1000, -1);
        long e = r->status == 200 ? elapsedMs(r->body) : LONG_MAX;
        slowest = e > slowest ? e : slowest;
        replyFree(r);
    }
    free(m.replies);
    CHECK_EQ(ok, MANY);
    CHECK(slowest < FAULT_DELAY_MS + 100 + ANSWER_SLACK_MS);
    CHECK(waitConnected(&a, false, READY_MS));

    /* down: answers are computed without the cache, and counted */
    long long errors = statsInt(&a, "backend.errors");
    reply r = calc(&a, 5, 5);
    CHECK(answered(&r, 5, 5, 0));
    CHECK(elapsedMs(r.body) < FAULT_DELAY_MS + 100 + ANSWER_SLACK_MS);
    replyFree(&r);
    CHECK(statsInt(&a, "backend.errors") > errors);

    /* back: the replica reconnects by itself and caches again */
    REQUIRE(redisStart(NULL));
    REQUIRE(waitConnected(&a, true, READY_MS));
    r = calc(&a, 6, 6);
    CHECK(answered(&r, 6, 6, 0));
    replyFree(&r);
    r = calc(&a, 6, 6);
    CHECK(answered(&r, 6, 6, 1));
    replyFree(&r);
    CHECK(statsInt(&a, "backend.reconnects") >= 1);
    CHECK_EQ(serverStop(&a, SIGTERM, STOP_MS), 0);
}

static void a_slow_redis_costs_a_timeout_not_a_hang(void) {
    server a;
    REQUIRE(replicaStart(&a, "shared", "ra", "t5:", NULL, "0", NULL));
    REQUIRE(waitConnected(&a, true, READY_MS));
    kill(redis_pid, SIGSTOP); /* Redis stops answering; its socket stays open */
    reply r = calc(&a, 8, 9);
    CHECK(answered(&r, 8, 9, 0));
    CHECK(elapsedMs(r.body) < 100 + ANSWER_SLACK_MS);
    replyFree(&r);
    CHECK(waitConnected(&a, false, READY_MS));
    kill(redis_pid, SIGCONT);
    REQUIRE(waitConnected(&a, true, READY_MS));
    CHECK_EQ(serverStop(&a, SIGTERM, STOP_MS), 0);
}

/* Reads what the server writes to stderr into buf until needle shows up
 * or timeout_ms passes; true when it did. */
static bool logUntil(server *s, char *buf, size_t cap, const char *needle, unsigned timeout_ms) {
    size_t len = 0;
    uint64_t deadline = nowMs() + timeout_ms;
    int fl = fcntl(s->log_fd, F_GETFL);
    fcntl(s->log_fd, F_SETFL, fl | O_NONBLOCK);
    buf[0] = '\0';
    while (!strstr(buf, needle) && nowMs() < deadline) {
        struct pollfd p = {s->log_fd, POLLIN, 0};
        poll(&p, 1, 50);
        ssize_t n = read(s->log_fd, buf + len, cap - 1 - len);
        if (n > 0)
            len += (size_t)n;
        buf[len] = '\0';
    }
    return strstr(buf, needle) != NULL;
}

static void the_password_never_shows(void) {
    redisStop(SIGTERM);
    const char *pw[] = {"--requirepass", "s3cret-pw", NULL};
    REQUIRE(redisStart(pw));
    char url[96];
    snprintf(url, sizeof(url), "redis://:s3cret-pw@127.0.0.1:%u/0", redis_port);
    server a;
    REQUIRE(replicaStart(&a, "shared", "ra", "t6:", url, "0", GENEROUS));
    REQUIRE(waitConnected(&a, true, READY_MS));
    reply st = httpDo(&a, "GET", "/stats", NULL);
    reply me = httpDo(&a, "GET", "/metrics", NULL);
    CHECK(st.status == 200 && !strstr(st.body, "s3cret") && strstr(st.body, ":***@"));
    CHECK(me.status == 200 && !strstr(me.body, "s3cret"));
    replyFree(&st);
    replyFree(&me);
    char log[8192];
    kill(a.pid, SIGTERM); /* all it logs, to its last line */
    CHECK(logUntil(&a, log, sizeof(log), "stopped cleanly", STOP_MS));
    CHECK(!strstr(log, "s3cret"));
    CHECK_EQ(serverStop(&a, SIGTERM, STOP_MS), 0);

    /* a wrong password: refused, said so, still not shown */
    snprintf(url, sizeof(url), "redis://:wrong-s3cret@127.0.0.1:%u/0", redis_port);
    server b;
    REQUIRE(replicaStart(&b, "shared", "rb", "t6:", url, "0", GENEROUS));
    reply r = calc(&b, 1, 1);
    CHECK(answered(&r, 1, 1, 0));
    replyFree(&r);
    CHECK(waitConnected(&b, false, READY_MS));
    CHECK(statsInt(&b, "backend.errors") >= 1);
    kill(b.pid, SIGTERM);
    CHECK(logUntil(&b, log, sizeof(log), "stopped cleanly", STOP_MS));
    CHECK(!strstr(log, "s3cret"));
    CHECK_EQ(serverStop(&b, SIGTERM, STOP_MS), 0);
    redisStop(SIGTERM);
}

static void redis_down_at_start_then_up(void) {
    redis_port = freePort(); /* nothing listens there yet */
    server a;
    REQUIRE(replicaStart(&a, "shared", "ra", "t7:", NULL, "0", GENEROUS));
    reply r = calc(&a, 2, 3);
    CHECK(answered(&r, 2, 3, 0));
    replyFree(&r);
    CHECK(waitConnected(&a, false, READY_MS));
    REQUIRE(redisStart(NULL));
    REQUIRE(waitConnected(&a, true, READY_MS));
    r = calc(&a, 2, 3);
    CHECK(answered(&r, 2, 3, 0));
    replyFree(&r);
    r = calc(&a, 2, 3);
    CHECK(answered(&r, 2, 3, 1));
    replyFree(&r);
    CHECK_EQ(serverStop(&a, SIGTERM, STOP_MS), 0);
    redisStop(SIGTERM);
}

/* --ttl-s is Redis' own expiry: the key is stored with PX, and once Redis
 * has dropped it the next request is a miss again. */
static void ttl_is_redis_px(void) {
    REQUIRE(redisStart(NULL));
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%u/0", redis_port);
    server s;
    REQUIRE(serverStart(&s, (const char *const[]){"--cache-backend", "redis", "--cache-scope",
                                                  "shared", "--redis-prefix", "ttl:", "--redis-url",
                                                  url, "--delay-ms", "0", "--redis-timeout-ms",
                                                  GENEROUS, "--ttl-s", "1", NULL}));
    REQUIRE(waitConnected(&s, true, READY_MS));
    reply r = calc(&s, 4, 5);
    CHECK(answered(&r, 4, 5, 0));
    replyFree(&r);
    /* The SET leaves after the answer: poll until the key is there. */
    redisContext *c = redisOpen();
    REQUIRE(c != NULL);
    long long pttl = -2;
    uint64_t deadline = nowMs() + READY_MS;
    while (pttl == -2 && nowMs() < deadline) {
        redisReply *x = redisCommand(c, "PTTL ttl:shared:4:5");
        pttl = x && x->type == REDIS_REPLY_INTEGER ? x->integer : -3;
        if (x)
            freeReplyObject(x);
    }
    redisFree(c);
    CHECK(pttl > 0 && pttl <= 1000); /* PX 1000: a TTL, and no more than ours */
    struct timespec nap = {0, 20000000};
    deadline = nowMs() + READY_MS;
    while (redisCount("ttl:shared:*") != 0 && nowMs() < deadline)
        nanosleep(&nap, NULL);
    CHECK_EQ(redisCount("ttl:shared:*"), 0);
    r = calc(&s, 4, 5);
    CHECK(answered(&r, 4, 5, 0)); /* a miss again: Redis expired it */
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

#define BIG_CLEAR 50000
#define FOREIGN_KEYS 1000
#define PAUSE_MS "2000" /* CLIENT PAUSE: our clear's UNLINKs wait this long in Redis */
#define PATIENT "5000"  /* ms: a reply timeout longer than the pause */

/* One worker thread: a clear that held it would hold every other request. */
static bool clearerStart(server *s, const char *prefix, const char *timeout_ms) {
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%u/0", redis_port);
    return serverStart(s, (const char *const[]){"--cache-backend", "redis", "--cache-scope",
                                                "shared", "--redis-prefix", prefix, "--redis-url",
                                                url, "--delay-ms", "0", "--threads", "1",
                                                "--redis-timeout-ms", timeout_ms, NULL});
}

static bool redisUp(void) {
    return redis_pid > 0 || redisStart(NULL);
}

/* DELETE /cache holds no thread while Redis works: with one worker and the
 * clear's UNLINKs held in Redis by CLIENT PAUSE WRITE, other requests are
 * answered while the clear is still waiting; then the clear answers with
 * every key of our prefix and none of the others. */
static void a_big_clear_removes_only_our_keys_while_other_requests_are_served(void) {
    REQUIRE(redisUp());
    REQUIRE(redisFill("t8:shared:", BIG_CLEAR));
    REQUIRE(redisFill("other8:", FOREIGN_KEYS));
    REQUIRE(redisFill("t8x:shared:", FOREIGN_KEYS)); /* a prefix that starts like ours */
    server s;
    REQUIRE(clearerStart(&s, "t8:", PATIENT));
    REQUIRE(waitConnected(&s, true, READY_MS));

    REQUIRE(redisDo("CLIENT PAUSE " PAUSE_MS " WRITE"));
    const char *none[] = {NULL};
    httpMany del = {&s, "DELETE", "/cache", none, 1, NULL, 0};
    CHECK(httpManyStart(&del));
    CHECK(waitBlocked(READY_MS)); /* the clear waits on Redis now */
    reply h = httpDo(&s, "GET", "/healthz", NULL);
    reply st = httpDo(&s, "GET", "/stats", NULL);
    CHECK_EQ(h.status, 200);
    CHECK_EQ(st.status, 200);
    CHECK_EQ(redisBlocked(), 1); /* both answered while the clear still waited */
    replyFree(&h);
    replyFree(&st);

    httpManyJoin(&del);
    CHECK_EQ(del.replies[0].status, 200);
    CHECK_EQ(jsonInt(del.replies[0].body, "entries_freed"), BIG_CLEAR);
    CHECK_EQ(jsonInt(del.replies[0].body, "instances_freed"), 0);
    replyFree(&del.replies[0]);
    free(del.replies);
    CHECK_EQ(redisCount("t8:*"), 0);
    CHECK_EQ(redisCount("other8:*"), FOREIGN_KEYS);
    CHECK_EQ(redisCount("t8x:*"), FOREIGN_KEYS);
    CHECK_EQ(statsInt(&s, "backend.errors"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* A fault mid-clear ends it with an answer that says what failed and how
 * much was removed, counted in backend.errors: Redis down, or Redis that
 * stops answering (the reply timeout). */
static void a_clear_with_redis_down_or_silent_answers_503_and_counts_an_error(void) {
    REQUIRE(redisUp());
    REQUIRE(redisFill("t9:shared:", FOREIGN_KEYS));
    server s;
    REQUIRE(clearerStart(&s, "t9:", "100"));
    REQUIRE(waitConnected(&s, true, READY_MS));

    long long errors = statsInt(&s, "backend.errors");
    kill(redis_pid, SIGSTOP); /* silent: the socket stays open */
    uint64_t t0 = nowMs();
    reply r = httpDo(&s, "DELETE", "/cache", NULL);
    uint64_t took = nowMs() - t0;
    kill(redis_pid, SIGCONT);
    CHECK_EQ(r.status, 503);
    CHECK(r.body && strstr(r.body, "cleared in part") && strstr(r.body, "did not answer"));
    CHECK_EQ(jsonInt(r.body, "entries_freed"), 0); /* its first SCAN got no reply */
    CHECK(took < 100 + ANSWER_SLACK_MS);
    replyFree(&r);
    CHECK(statsInt(&s, "backend.errors") > errors);

    REQUIRE(waitConnected(&s, true, READY_MS)); /* back by itself */
    redisStop(SIGKILL);
    REQUIRE(waitConnected(&s, false, READY_MS));
    errors = statsInt(&s, "backend.errors");
    r = httpDo(&s, "DELETE", "/cache", NULL);
    CHECK_EQ(r.status, 503);
    CHECK(r.body && strstr(r.body, "cleared in part") && strstr(r.body, "not connected"));
    CHECK_EQ(jsonInt(r.body, "entries_freed"), 0);
    replyFree(&r);
    CHECK_EQ(statsInt(&s, "backend.errors"), errors + 1);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* A clear that outlasts --max-wait-ms is answered 504 at its deadline,
 * while it goes on: every key of our prefix is still removed. */
static void a_clear_past_max_wait_ms_answers_504_and_goes_on(void) {
    REQUIRE(redisUp());
    REQUIRE(redisFill("t11:shared:", BIG_CLEAR));
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%u/0", redis_port);
    server s;
    REQUIRE(serverStart(&s, (const char *const[]){"--cache-backend", "redis", "--cache-scope",
                                                  "shared", "--redis-prefix", "t11:", "--redis-url",
                                                  url, "--redis-timeout-ms", PATIENT,
                                                  "--max-wait-ms", "300", NULL}));
    REQUIRE(waitConnected(&s, true, READY_MS));
    REQUIRE(redisDo("CLIENT PAUSE " PAUSE_MS " WRITE"));
    uint64_t t0 = nowMs();
    reply r = httpDo(&s, "DELETE", "/cache", NULL);
    uint64_t took = nowMs() - t0;
    CHECK_EQ(r.status, 504);
    CHECK(r.body && strstr(r.body, "{\"error\":\"gave up waiting for the clear") == r.body);
    CHECK(took < 300 + ANSWER_SLACK_MS); /* not the pause's 2 s */
    replyFree(&r);
    CHECK_EQ(statsInt(&s, "connections.waits_expired"), 1);
    uint64_t deadline = nowMs() + READY_MS;
    long long left = -1;
    while ((left = redisCount("t11:*")) != 0 && nowMs() < deadline) {
        struct timespec nap = {0, 20000000};
        nanosleep(&nap, NULL);
    }
    CHECK_EQ(left, 0); /* the clear went on after its answer */
    CHECK_EQ(statsInt(&s, "connections.working"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* SIGTERM while a clear waits on Redis: the clear is a request in flight,
 * finished within the grace and answered; the server then exits cleanly
 * (libmicrohttpd 0.9.75 aborts if stopped with a connection suspended). */
static void sigterm_during_a_clear_answers_it_and_exits_cleanly(void) {
    REQUIRE(redisUp());
    REQUIRE(redisFill("t10:shared:", BIG_CLEAR));
    server s;
    REQUIRE(clearerStart(&s, "t10:", PATIENT));
    REQUIRE(waitConnected(&s, true, READY_MS));
    REQUIRE(redisDo("CLIENT PAUSE " PAUSE_MS " WRITE"));
    const char *none[] = {NULL};
    httpMany del = {&s, "DELETE", "/cache", none, 1, NULL, 0};
    CHECK(httpManyStart(&del));
    CHECK(waitBlocked(READY_MS));
    kill(s.pid, SIGTERM);
    httpManyJoin(&del);
    CHECK_EQ(del.replies[0].status, 200);
    CHECK_EQ(jsonInt(del.replies[0].body, "entries_freed"), BIG_CLEAR);
    replyFree(&del.replies[0]);
    free(del.replies);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
    CHECK_EQ(redisCount("t10:*"), 0);
}

/* A Redis of our own without a password, whatever a case before left. */
static bool redisFresh(void) {
    redisStop(SIGTERM);
    return redisStart(NULL);
}

/* Polls until pattern matches want keys or READY_MS passes; the last count. */
static long long waitCount(const char *pattern, long long want) {
    uint64_t deadline = nowMs() + READY_MS;
    struct timespec nap = {0, 10000000};
    long long n;
    while ((n = redisCount(pattern)) != want && nowMs() < deadline)
        nanosleep(&nap, NULL);
    return n;
}

/* ------------------------------------------------ secrets and escaping */

#define EXIT_MS 10000

/* Runs the binary with args, reads all it writes to stderr into out and
 * returns its exit status. A server that starts (its startup line shows)
 * is stopped with SIGTERM, so that out holds its whole life. -1: it did
 * not exit within EXIT_MS. */
static int runLog(const char *const *args, char *out, size_t cap) {
    const char *argv[32] = {MEMOSCOPE_BIN, "--bind", "127.0.0.1", "--port", "0"};
    size_t argc = 5;
    for (size_t i = 0; args[i] && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    bool stopped = false;
    uint64_t deadline = nowMs() + EXIT_MS;
    out[0] = '\0';
    while (nowMs() < deadline && len < cap - 1) {
        struct pollfd p = {fds[0], POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(fds[0], out + len, cap - 1 - len);
        if (n <= 0)
            break; /* it exited */
        len += (size_t)n;
        out[len] = '\0';
        const char *port = strstr(out, " port=");
        if (!stopped && port && strchr(port, '\n')) {
            kill(pid, SIGTERM);
            stopped = true;
        }
    }
    close(fds[0]);
    int status;
    struct timespec nap = {0, 10000000};
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (nowMs() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        nanosleep(&nap, NULL);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Does text hold s, or any 4-byte piece of it without a space? A redaction
 * cut at the wrong '/' or '@' leaves a piece. */
static bool leaks(const char *text, const char *s) {
    for (size_t i = 0; i + 4 <= strlen(s); i++) {
        char piece[5];
        memcpy(piece, s + i, 4);
        piece[4] = '\0';
        if (!strchr(piece, ' ') && strstr(text, piece))
            return true;
    }
    return false;
}

/* A password with every character a URL gives a meaning to: '/', '@', ':',
 * a space, and '%' (written %25). */
#define ODD_PASSWORD "S3cr/et@k3y:Z9 q%x"
#define ODD_WRITTEN "S3cr/et@k3y:Z9 q%25x"

static void a_bad_url_exits_2_naming_the_part_and_never_shows_the_password(void) {
    static const struct {
        const char *fmt, *part;
    } bad[] = {
        {"redis://:%s@127.0.0.1:6x379/0", "the port is not a number"},
        {"redis://:%s@127.0.0.1:6379/db1", "the database"},
        {"redis://:%s@host name/0", "the host"},
        {"redis://:%s%%zz@127.0.0.1/0", "two hex digits"},
        {"redis:/:%s@127.0.0.1/0", "must start with redis:// or unix://"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char url[256], err[4096];
        snprintf(url, sizeof(url), bad[i].fmt, ODD_WRITTEN);
        checkContext("%s", url);
        const char *args[] = {
            "--cache-backend", "redis", "--cache-scope", "shared", "--redis-url", url, NULL};
        CHECK_EQ(runLog(args, err, sizeof(err)), 2);
        CHECK(strstr(err, "bad --redis-url: ") && strstr(err, bad[i].part));
        CHECK(!leaks(err, ODD_PASSWORD));
        CHECK(!leaks(err, ODD_WRITTEN));
    }
    checkContext(NULL);
}

/* The same password, given to a real Redis: it is decoded and accepted,
 * and neither the startup line, nor any later line, nor /stats, nor
 * /metrics shows any piece of it. */
static void a_password_with_url_characters_connects_and_never_shows(void) {
    redisStop(SIGTERM);
    const char *pw[] = {"--requirepass", ODD_PASSWORD, NULL};
    REQUIRE(redisStart(pw));
    char url[128];
    snprintf(url, sizeof(url), "redis://:%s@127.0.0.1:%u/0", ODD_WRITTEN, redis_port);
    const char *args[] = {"--cache-backend",
                          "redis",
                          "--cache-scope",
                          "shared",
                          "--redis-url",
                          url,
                          "--redis-timeout-ms",
                          GENEROUS,
                          NULL};
    char log[8192];
    CHECK_EQ(runLog(args, log, sizeof(log)), 0);
    CHECK(strstr(log, " redis_url=redis://:***@127.0.0.1:") != NULL);
    CHECK(!leaks(log, ODD_PASSWORD));
    CHECK(!leaks(log, ODD_WRITTEN));

    server a;
    REQUIRE(replicaStart(&a, "shared", "ra", "t11:", url, "0", GENEROUS));
    REQUIRE(waitConnected(&a, true, READY_MS)); /* AUTH took the decoded password */
    reply r = calc(&a, 1, 2);
    CHECK(answered(&r, 1, 2, 0));
    replyFree(&r);
    reply st = httpDo(&a, "GET", "/stats", NULL);
    reply me = httpDo(&a, "GET", "/metrics", NULL);
    CHECK(st.status == 200 && !leaks(st.body, ODD_PASSWORD) && !leaks(st.body, ODD_WRITTEN));
    CHECK(strstr(st.body, "\"url\":\"redis://:***@127.0.0.1:") != NULL);
    CHECK(me.status == 200 && !leaks(me.body, ODD_PASSWORD) && !leaks(me.body, ODD_WRITTEN));
    replyFree(&st);
    replyFree(&me);
    kill(a.pid, SIGTERM);
    CHECK(logUntil(&a, log, sizeof(log), "stopped cleanly", STOP_MS));
    CHECK(!leaks(log, ODD_PASSWORD));
    CHECK_EQ(serverStop(&a, SIGTERM, STOP_MS), 0);
    redisStop(SIGTERM);
}

/* promtool check metrics on text, when promtool is installed; true when
 * it found nothing (or is not there: said on stderr). */
static bool promtoolClean(const char *text) {
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        fprintf(stderr, "  promtool not installed: /metrics not linted\n");
        return true;
    }
    FILE *p = popen("promtool check metrics 2>&1 >/dev/null", "w");
    if (!p)
        return false;
    fputs(text, p);
    return pclose(p) == 0;
}

/* A prefix holding '"' is escaped where it is written: /stats stays JSON
 * and says it whole, /metrics stays valid. */
static void a_prefix_with_a_quote_keeps_stats_json(void) {
    REQUIRE(redisFresh());
    const char *prefix = "q\"x,\"y\":1,\"z:";
    server a;
    REQUIRE(replicaStart(&a, "shared", "ra", prefix, NULL, "0", GENEROUS));
    REQUIRE(waitConnected(&a, true, READY_MS));
    reply r = calc(&a, 3, 4);
    CHECK(answered(&r, 3, 4, 0));
    replyFree(&r);
    reply st = httpDo(&a, "GET", "/stats", NULL);
    cJSON *root = cJSON_Parse(st.body);
    CHECK(root != NULL);
    cJSON *got = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "backend"),
                                                  "prefix");
    CHECK(cJSON_IsString(got) && strcmp(got->valuestring, prefix) == 0);
    cJSON_Delete(root);
    replyFree(&st);
    reply me = httpDo(&a, "GET", "/metrics", NULL);
    CHECK(me.status == 200 && promtoolClean(me.body));
    replyFree(&me);
    CHECK_EQ(serverStop(&a, SIGTERM, STOP_MS), 0);
}

/* A prefix holding SCAN MATCH's glob characters ('*', '?', '[', ']', '\'):
 * they are escaped in the pattern, so its keys are counted and cleared. */
static void a_prefix_with_glob_characters_counts_and_clears_its_keys(void) {
    REQUIRE(redisFresh());
    const char *prefix = "g[1]\\*?:";
    server a;
    REQUIRE(replicaStart(&a, "shared", "ra", prefix, NULL, "0", GENEROUS));
    REQUIRE(waitConnected(&a, true, READY_MS));
    reply r = calc(&a, 3, 4);
    CHECK(answered(&r, 3, 4, 0));
    replyFree(&r);
    CHECK_EQ(waitStatsInt(&a, "backend.keys", 1, READY_MS), 1); /* the sampler's SCAN finds it */
    reply d = httpDo(&a, "DELETE", "/cache", NULL);
    CHECK_EQ(d.status, 200);
    CHECK_EQ(jsonInt(d.body, "entries_freed"), 1);
    replyFree(&d);
    char key[64];
    snprintf(key, sizeof(key), "%sshared:3:4", prefix);
    redisContext *c = redisOpen();
    REQUIRE(c != NULL);
    redisReply *x = redisCommand(c, "EXISTS %s", key);
    CHECK(x && x->type == REDIS_REPLY_INTEGER && x->integer == 0);
    if (x)
        freeReplyObject(x);
    redisFree(c);
    CHECK_EQ(serverStop(&a, SIGTERM, STOP_MS), 0);
}

/* A prefix without a separator ("t12") starts another's keys too
 * ("t122shared:1:2" of a prefix "t122"): DELETE /cache and the key count
 * take only the keys our scopes write. */
static void a_prefix_without_separator_leaves_longer_prefixes_alone(void) {
    REQUIRE(redisFresh());
    CHECK(redisSet("t122shared:1:2", "3"));    /* prefix t122 */
    CHECK(redisSet("t12x", "1"));              /* not a key of ours */
    CHECK(redisSet("t12shared:1:2:3", "1"));   /* not a shape of ours */
    CHECK(redisSet("t12global:r:x:1:2", "1")); /* not a shape of ours */
    server a;
    REQUIRE(replicaStart(&a, "shared", "ra", "t12", NULL, "0", GENEROUS));
    REQUIRE(waitConnected(&a, true, READY_MS));
    reply r = calc(&a, 5, 5);
    CHECK(answered(&r, 5, 5, 0));
    replyFree(&r);
    CHECK_EQ(waitCount("t12shared:5:5", 1), 1);
    CHECK_EQ(waitStatsInt(&a, "backend.keys", 1, READY_MS), 1);
    r = httpDo(&a, "DELETE", "/cache", NULL);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(jsonInt(r.body, "entries_freed"), 1);
    replyFree(&r);
    CHECK_EQ(redisCount("t12shared:5:5"), 0);
    CHECK_EQ(redisCount("t122shared:1:2"), 1);
    CHECK_EQ(redisCount("t12x"), 1);
    CHECK_EQ(redisCount("t12shared:1:2:3"), 1);
    CHECK_EQ(redisCount("t12global:r:x:1:2"), 1);
    CHECK_EQ(serverStop(&a, SIGTERM, STOP_MS), 0);
}

static bool redisGetEq(const char *key, const char *want) {
    redisContext *c = redisOpen();
    if (!c)
        return false;
    redisReply *r = redisCommand(c, "GET %s", key);
    bool eq = r && r->type == REDIS_REPLY_STRING && strcmp(r->str, want) == 0;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return eq;
}

/* The shared lock expired while its leader computed and another replica
 * took it (played here by the test, which overwrites it): the leader's
 * store must leave the other's lock alone. */
static void a_replica_never_deletes_a_lock_that_is_not_its_own(void) {
    REQUIRE(redisFresh());
    server a;
    char delay[16];
    snprintf(delay, sizeof(delay), "%u", FLIGHT_DELAY_MS);
    REQUIRE(replicaStart(&a, "shared", "ra", "t13:", NULL, delay, GENEROUS));
    REQUIRE(waitConnected(&a, true, READY_MS));
    const char *body[] = {"{\"a\": 8, \"b\": 9}"};
    httpMany m = {&a, "POST", "/calculate", body, 1, NULL, 0};
    CHECK(httpManyStart(&m));
    /* the leader holds the lock and computes for FLIGHT_DELAY_MS */
    CHECK_EQ(waitCount("t13:lock:shared:8:9", 1), 1);
    CHECK(!redisGetEq("t13:lock:shared:8:9", "1")); /* a token, not a constant */
    CHECK(redisSet("t13:lock:shared:8:9", "another-replica"));
    httpManyJoin(&m);
    CHECK(answered(&m.replies[0], 8, 9, 0));
    replyFree(&m.replies[0]);
    free(m.replies);
    /* Commands leave in order on the one connection: once a later store
     * has landed, the unlock sent with the first one has run. */
    reply r = calc(&a, 10, 11);
    CHECK(answered(&r, 10, 11, 0));
    replyFree(&r);
    CHECK_EQ(waitCount("t13:shared:10:11", 1), 1);
    CHECK_EQ(redisCount("t13:shared:8:9"), 1);
    CHECK(redisGetEq("t13:lock:shared:8:9", "another-replica"));
    CHECK_EQ(redisCount("t13:lock:shared:10:11"), 0); /* its own lock it deletes */
    CHECK_EQ(serverStop(&a, SIGTERM, STOP_MS), 0);
}

int main(void) {
    static const harnessTest tests[] = {
        TEST(a_shared_key_computed_on_one_replica_is_a_hit_on_the_other),
        TEST(sixty_four_requests_for_one_key_over_both_replicas_cost_one_miss),
        TEST(global_adds_one_key_per_request_and_the_replica_stays_flat),
        TEST(delete_cache_removes_only_our_prefix),
        TEST(redis_killed_mid_load_then_restarted_loses_nothing),
        TEST(a_slow_redis_costs_a_timeout_not_a_hang),
        TEST(the_password_never_shows),
        TEST(redis_down_at_start_then_up),
        TEST(ttl_is_redis_px),
        TEST(a_big_clear_removes_only_our_keys_while_other_requests_are_served),
        TEST(a_clear_with_redis_down_or_silent_answers_503_and_counts_an_error),
        TEST(a_clear_past_max_wait_ms_answers_504_and_goes_on),
        TEST(sigterm_during_a_clear_answers_it_and_exits_cleanly),
        TEST(a_bad_url_exits_2_naming_the_part_and_never_shows_the_password),
        TEST(a_password_with_url_characters_connects_and_never_shows),
        TEST(a_prefix_with_a_quote_keeps_stats_json),
        TEST(a_prefix_with_glob_characters_counts_and_clears_its_keys),
        TEST(a_prefix_without_separator_leaves_longer_prefixes_alone),
        TEST(a_replica_never_deletes_a_lock_that_is_not_its_own),
    };
    return harnessMain(tests, sizeof(tests) / sizeof(tests[0]));
}
