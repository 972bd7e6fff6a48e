/* test_hostile.c -- clients that idle, crawl, vanish or crowd cannot starve
 * the server, make it leak, or hang it.
 *
 * Against the real binary over raw sockets: thousands of idle connections,
 * idle connections timing out, slowloris, clients that go away in the middle
 * of a body or of a delay (also while others wait on their computation), and
 * a full connection table (in test_crowd.c: idle connections make room,
 * newcomers to a table of busy ones are refused at once). Every timing is a
 * deadline polled for, never a sleep.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "harness.h"

#define STOP_MS 15000
#define IDLE_CONNECTIONS 2000
#define FD_HEADROOM 256        /* descriptors beyond the connections we hold */
#define PROMPT_MS 1000         /* "promptly": a fresh client's answer within this */
#define PROBES 10              /* fresh /healthz requests per check */
#define IDLE_TIMEOUT_S "2"     /* --timeout-s for the timeout test */
#define IDLE_EARLIEST_MS 1000  /* an idle connection must outlive this... */
#define IDLE_LATEST_MS 6000    /* ...and be closed by this */
#define SLOW_CONNECTIONS 200   /* slowloris clients */
#define SLOW_STEP_MS 200       /* each sends one header byte this often */
#define SLOW_ROUNDS 15         /* 3 s of crawling */
#define VANISHERS 20           /* clients that go away mid-request */
#define VANISH_DELAY_MS "1000" /* the delay they do not wait for */
#define SETTLE_MS 8000         /* for the server to settle (accepts, counts) */

static const char HEALTHZ[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
static const char HEALTHZ_OK[] = "{\"status\":\"ok\"}";
/* A request after which the connection stays open (libmicrohttpd 0.9.75
 * closes it after an answer given on the handler's first call, as every GET
 * route is answered now; /calculate answers once the body is in). */
static const char KEEP[] = "POST /calculate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Length: 16\r\n\r\n{\"a\": 1, \"b\": 2}";
static const char KEEP_OK[] = "\"result\":3";

/* ------------------------------------------------------------ raw sockets */

/* A connected TCP socket to the server, non-blocking; -1 on failure. */
static int connectTo(const server *s) {
    int fd = rawConnect(s);
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static bool sendBytes(int fd, const void *buf, size_t len) {
    const char *p = buf;
    uint64_t deadline = nowMs() + PROMPT_MS;
    while (len > 0 && nowMs() < deadline) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return false;
        } else {
            struct pollfd pf = {fd, POLLOUT, 0};
            poll(&pf, 1, 10);
        }
    }
    return len == 0;
}

/* Closes with a reset instead of a FIN, as a crashed client would. */
static void resetConnection(int fd) {
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

/* Reads until want appears in what the server sent, it closes, or timeout_ms
 * passes. Returns whether want came. */
static bool readUntil(int fd, const char *want, unsigned timeout_ms) {
    char buf[4096];
    size_t len = 0;
    uint64_t deadline = nowMs() + timeout_ms;
    while (nowMs() < deadline) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 10) <= 0)
            continue;
        ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return false;
        if (n > 0) {
            len += (size_t)n;
            buf[len] = '\0';
            if (strstr(buf, want))
                return true;
            if (len == sizeof(buf) - 1)
                len = 0; /* keep reading; want is short */
        }
    }
    return false;
}

/* Has the server closed fd (EOF or reset)? Does not wait. Data the server
 * sent is read and dropped. */
static bool isClosed(int fd) {
    char buf[512];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0)
            return true;
        if (n < 0)
            return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    }
}

/* Milliseconds until the server closes fd, or -1 if it is still open after
 * timeout_ms. */
static long closedWithin(int fd, unsigned timeout_ms) {
    uint64_t t0 = nowMs(), deadline = t0 + timeout_ms;
    for (;;) {
        if (isClosed(fd))
            return (long)(nowMs() - t0);
        uint64_t now = nowMs();
        if (now >= deadline)
            return -1;
        struct pollfd p = {fd, POLLIN, 0};
        poll(&p, 1, (int)(deadline - now < 50 ? deadline - now : 50));
    }
}

/* The slowest of PROBES fresh /healthz requests, in ms; a failed one counts
 * as UINT_MAX. */
static unsigned probeHealthz(const server *s) {
    unsigned worst = 0;
    for (int i = 0; i < PROBES; i++) {
        uint64_t t0 = nowMs();
        reply r = httpDo(s, "GET", "/healthz", NULL);
        unsigned ms = r.status == 200 ? (unsigned)(nowMs() - t0) : UINT_MAX;
        replyFree(&r);
        if (ms > worst)
            worst = ms;
    }
    return worst;
}

/* Opens up to n connections into fds; returns how many opened. */
static size_t openMany(const server *s, int *fds, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if ((fds[i] = connectTo(s)) < 0)
            break;
    return i;
}

static void closeAll(int *fds, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* How many descriptors the server process holds now (each accepted
 * connection is one). */
static size_t serverFds(const server *s) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)s->pid);
    DIR *d = opendir(path);
    size_t n = 0;
    if (!d)
        return 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Every connection must hold this many descriptors in this process. */
static bool raiseFileLimit(rlim_t want) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return false;
    if (rl.rlim_cur >= want)
        return true;
    rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want)
        fprintf(stderr, "  the file limit (%llu) cannot hold %llu descriptors\n",
                (unsigned long long)rl.rlim_cur, (unsigned long long)want);
    return rl.rlim_cur >= want;
}

/* ------------------------------------------------------------ idle clients */

static void idle_connections_do_not_starve_a_fresh_client(void) {
    const char *const args[] = {"--delay-ms", "0", "--threads", "2", NULL};
    CHECK(raiseFileLimit(IDLE_CONNECTIONS + FD_HEADROOM));
    server s;
    if (!serverStart(&s, args)) {
        CHECK(false);
        return;
    }
    int *fds = calloc(IDLE_CONNECTIONS, sizeof(int));
    size_t n = openMany(&s, fds, IDLE_CONNECTIONS);
    CHECK_EQ(n, IDLE_CONNECTIONS);

    /* Once the server has taken them all in (a burst of connections waits
     * in the kernel's queue until accepted), a fresh client is served at
     * once, whatever they do not say. */
    uint64_t t0 = nowMs(), deadline = t0 + SETTLE_MS;
    while (serverFds(&s) < n && nowMs() < deadline) {
        struct timespec nap = {0, 10000000L};
        nanosleep(&nap, NULL);
    }
    CHECK(serverFds(&s) >= n);
    fprintf(stderr, "  %zu connections accepted in %llu ms\n", n,
            (unsigned long long)(nowMs() - t0));
    unsigned worst = probeHealthz(&s);
    fprintf(stderr, "  %zu idle connections: slowest of %d fresh /healthz %u ms\n", n, PROBES,
            worst);
    CHECK(worst < PROMPT_MS);

    /* The idle ones are held, not dropped to make room: a request on the
     * last one opened is answered. */
    size_t dropped = 0;
    for (size_t i = 0; i < n; i++)
        dropped += isClosed(fds[i]);
    CHECK_EQ(dropped, 0);
    CHECK(n > 0 && sendBytes(fds[n - 1], HEALTHZ, sizeof(HEALTHZ) - 1));
    CHECK(n > 0 && readUntil(fds[n - 1], HEALTHZ_OK, PROMPT_MS * 5));

    /* SIGTERM with all of them still open: a clean exit within the grace. */
    t0 = nowMs();
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
    fprintf(stderr, "  stopped with %zu connections open in %llu ms\n", n,
            (unsigned long long)(nowMs() - t0));
    closeAll(fds, n);
    free(fds);
}

static void idle_connections_time_out(void) {
    const char *const args[] = {"--delay-ms", "0", "--timeout-s", IDLE_TIMEOUT_S, NULL};
    enum { SILENT = 20, KEPT_ALIVE = 10 };
    server s;
    if (!serverStart(&s, args)) {
        CHECK(false);
        return;
    }
    int fds[SILENT + KEPT_ALIVE];
    CHECK_EQ(openMany(&s, fds, SILENT + KEPT_ALIVE), SILENT + KEPT_ALIVE);
    /* Some say nothing at all; some finish one request and stay. */
    for (int i = SILENT; i < SILENT + KEPT_ALIVE; i++) {
        CHECK(sendBytes(fds[i], KEEP, sizeof(KEEP) - 1));
        CHECK(readUntil(fds[i], KEEP_OK, PROMPT_MS * 5));
    }
    uint64_t t0 = nowMs();
    long earliest = LONG_MAX, latest = 0;
    for (int i = 0; i < SILENT + KEPT_ALIVE; i++) {
        uint64_t now = nowMs() - t0;
        long ms = closedWithin(fds[i], now < IDLE_LATEST_MS ? IDLE_LATEST_MS - (unsigned)now : 0);
        CHECK(ms >= 0); /* closed by the server in time */
        if (ms >= 0) {
            ms += (long)now;
            earliest = ms < earliest ? ms : earliest;
            latest = ms > latest ? ms : latest;
        }
    }
    fprintf(stderr, "  --timeout-s %s: idle connections closed after %ld to %ld ms\n",
            IDLE_TIMEOUT_S, earliest, latest);
    CHECK(earliest >= IDLE_EARLIEST_MS);
    closeAll(fds, SILENT + KEPT_ALIVE);
    CHECK(probeHealthz(&s) < PROMPT_MS);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void slowloris_does_not_block_others(void) {
    const char *const args[] = {"--delay-ms", "0", NULL};
    static const char line[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    static const char crawl[] = "X-Slow: a-header-that-never-seems-to-end";
    server s;
    if (!serverStart(&s, args)) {
        CHECK(false);
        return;
    }
    int fds[SLOW_CONNECTIONS];
    size_t n = openMany(&s, fds, SLOW_CONNECTIONS);
    CHECK_EQ(n, SLOW_CONNECTIONS);

    /* Every connection sends its request line, then crawls through one more
     * header a byte per step; a fresh client asks between steps. */
    for (size_t i = 0; i < n; i++)
        CHECK(sendBytes(fds[i], line, sizeof(line) - 1));
    unsigned worst = 0;
    struct timespec step = {0, SLOW_STEP_MS * 1000000L};
    for (int round = 0; round < SLOW_ROUNDS; round++) {
        for (size_t i = 0; i < n; i++)
            CHECK(sendBytes(fds[i], &crawl[round % (sizeof(crawl) - 1)], 1));
        unsigned w = probeHealthz(&s);
        worst = w > worst ? w : worst;
        nanosleep(&step, NULL); /* the attacker's pace, not a wait for a result */
    }
    fprintf(stderr, "  %zu slowloris clients for %d ms: slowest fresh /healthz %u ms\n", n,
            SLOW_ROUNDS * SLOW_STEP_MS, worst);
    CHECK(worst < PROMPT_MS);

    /* They were served, only slowly: finishing their headers gets answers. */
    size_t answered = 0;
    for (size_t i = 0; i < n; i++)
        answered +=
            sendBytes(fds[i], "\r\n\r\n", 4) && readUntil(fds[i], HEALTHZ_OK, PROMPT_MS * 5);
    CHECK_EQ(answered, n);
    closeAll(fds, n);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* ---------------------------------------------------------- vanishing */

static void clients_that_vanish_mid_body_leave_nothing_behind(void) {
    const char *const args[] = {"--cache-scope", "local", "--delay-ms", "0", NULL};
    static const char half[] = "POST /calculate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Content-Length: 100\r\n\r\n{\"a\": 1, \"b\": 2, ";
    server s;
    if (!serverStart(&s, args)) {
        CHECK(false);
        return;
    }
    int fds[VANISHERS];
    CHECK_EQ(openMany(&s, fds, VANISHERS), VANISHERS);
    for (int i = 0; i < VANISHERS; i++)
        CHECK(sendBytes(fds[i], half, sizeof(half) - 1));
    CHECK_EQ(waitStatsInt(&s, "requests.in_flight", VANISHERS, SETTLE_MS), VANISHERS);
    for (int i = 0; i < VANISHERS; i++) {
        if (i % 2)
            resetConnection(fds[i]);
        else
            close(fds[i]);
    }
    CHECK_EQ(waitStatsInt(&s, "requests.in_flight", 0, SETTLE_MS), 0);
    CHECK_EQ(statsInt(&s, "instances.created"), 0); /* the body never ended */
    CHECK_EQ(statsInt(&s, "instances.live"), 0);
    reply r = httpDo(&s, "POST", "/calculate", "{\"a\": 1, \"b\": 2}");
    CHECK_EQ(r.status, 200);
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void clients_that_vanish_mid_delay_leave_nothing_behind(void) {
    const char *const args[] = {"--cache-scope", "local", "--delay-ms", VANISH_DELAY_MS, NULL};
    server s;
    if (!serverStart(&s, args)) {
        CHECK(false);
        return;
    }
    int fds[VANISHERS];
    CHECK_EQ(openMany(&s, fds, VANISHERS), VANISHERS);
    for (int i = 0; i < VANISHERS; i++) {
        char req[256];
        int len = snprintf(req, sizeof(req),
                           "POST /calculate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Length: %d\r\n\r\n{\"a\":%d,\"b\":2}",
                           (int)strlen("{\"a\":100,\"b\":2}"), 100 + i);
        CHECK(sendBytes(fds[i], req, (size_t)len));
    }
    /* All of them are waiting out their delay, each holding an instance. */
    CHECK_EQ(waitStatsInt(&s, "instances.live", VANISHERS, SETTLE_MS), VANISHERS);
    CHECK_EQ(statsInt(&s, "requests.in_flight"), VANISHERS);
    for (int i = 0; i < VANISHERS; i++) {
        if (i % 2)
            resetConnection(fds[i]);
        else
            close(fds[i]);
    }
    CHECK_EQ(waitStatsInt(&s, "instances.live", 0, SETTLE_MS), 0);
    CHECK_EQ(waitStatsInt(&s, "requests.in_flight", 0, SETTLE_MS), 0);
    CHECK_EQ(statsInt(&s, "instances.created"), VANISHERS);
    CHECK_EQ(statsInt(&s, "instances.freed"), VANISHERS);
    CHECK_EQ(statsInt(&s, "instances.live_bytes"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void a_vanished_leader_still_feeds_its_followers(void) {
    /* Shared scope: the first request for a key computes it, the later ones
     * wait for that computation. Its client leaving must not strand them. */
    const char *const args[] = {"--cache-scope", "shared", "--delay-ms", VANISH_DELAY_MS, NULL};
    static const char body[] = "{\"a\": 7, \"b\": 7}";
    char req[256];
    int len = snprintf(req, sizeof(req),
                       "POST /calculate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n"
                       "\r\n%s",
                       sizeof(body) - 1, body);
    server s;
    if (!serverStart(&s, args)) {
        CHECK(false);
        return;
    }
    int leader = connectTo(&s);
    CHECK(leader >= 0 && sendBytes(leader, req, (size_t)len));
    CHECK_EQ(waitStatsInt(&s, "requests.in_flight", 1, SETTLE_MS), 1);

    enum { FOLLOWERS = 4 };
    const char *bodies[FOLLOWERS] = {body, body, body, body};
    httpMany many = {
        .s = &s, .method = "POST", .path = "/calculate", .bodies = bodies, .n = FOLLOWERS};
    CHECK(httpManyStart(&many));
    CHECK_EQ(waitStatsInt(&s, "requests.in_flight", 1 + FOLLOWERS, SETTLE_MS), 1 + FOLLOWERS);
    resetConnection(leader);

    httpManyJoin(&many);
    for (int i = 0; i < FOLLOWERS; i++) {
        CHECK_EQ(many.replies[i].status, 200);
        CHECK_EQ(jsonInt(many.replies[i].body, "result"), 14);
        replyFree(&many.replies[i]);
    }
    free(many.replies);
    CHECK_EQ(waitStatsInt(&s, "requests.in_flight", 0, SETTLE_MS), 0);
    CHECK_EQ(waitStatsInt(&s, "instances.live", 0, SETTLE_MS), 0);
    CHECK_EQ(statsInt(&s, "cache.coalesced"), FOLLOWERS);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

int main(void) {
    static const harnessTest tests[] = {
        TEST(idle_connections_do_not_starve_a_fresh_client),
        TEST(idle_connections_time_out),
        TEST(slowloris_does_not_block_others),
        TEST(clients_that_vanish_mid_body_leave_nothing_behind),
        TEST(clients_that_vanish_mid_delay_leave_nothing_behind),
        TEST(a_vanished_leader_still_feeds_its_followers),
    };
    return harnessMain(tests, sizeof(tests) / sizeof(tests[0]));
}
