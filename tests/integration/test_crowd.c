/* test_crowd.c -- a full connection table: idle connections make room,
 * work slots held by slow requests leave the service answering, and one
 * client address is held to a share.
 *
 * The table holds --max-connections + --reserved-connections. A full table
 * of idle keep-alive connections must not lock a newcomer out: the one idle
 * the longest is closed for it (as nginx reuses its keep-alive
 * connections). With every work slot (--max-connections) held by a slow
 * request, /healthz, /readyz, /metrics and /stats still answer within a
 * second, and a new POST /calculate gets 503 with Retry-After, not a
 * closed socket. --max-connections-per-ip (by default half of
 * --max-connections) holds one address to its share, tested from several
 * loopback source addresses (127.0.0.2, 127.0.0.3, ...). Every timing is a
 * deadline polled for, never a sleep.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "harness.h"

#define STOP_MS 15000
#define LIMIT 40          /* the table: --max-connections + --reserved-connections */
#define WORK_TEXT "36"    /* --max-connections */
#define RESERVED_TEXT "4" /* --reserved-connections */
#define SLOTS 8           /* --max-connections of the work slots' test */
#define SLOTS_TEXT "8"
#define PROBE_MS 1000     /* a probe's answer within this, as an orchestrator's timeout */
#define HALF 20           /* the default --max-connections-per-ip of --max-connections 40 */
#define PROMPT_MS 2000    /* a newcomer's answer, or its close, within this */
#define SETTLE_MS 8000    /* for the server to read what was sent */
#define SLOW_MS "3000"    /* the delay that keeps a connection busy */
#define PER_IP 3          /* --max-connections-per-ip */
#define PER_IP_TEXT "3"   /* the same, for the command line */
#define UNLIMITED_FROM 30 /* connections from one address with no per-IP limit */

/* A request after which the connection stays open, and its answer. */
static const char KEEP[] = "POST /calculate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Length: 16\r\n\r\n{\"a\": 1, \"b\": 2}";
static const char KEEP_OK[] = "\"result\":3";
/* A request that keeps its connection busy for SLOW_MS. */
#define SLOW_BODY "{\"a\": 1, \"b\": 2, \"delay_ms\": " SLOW_MS "}"
static const char SLOW[] = "POST /calculate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Length: 34\r\n\r\n" SLOW_BODY;
_Static_assert(sizeof(SLOW_BODY) - 1 == 34, "SLOW's Content-Length");

/* ------------------------------------------------------------ raw sockets */

/* A TCP connection to the server from source address from (127.0.0.x). */
static int connectFrom(const server *s, const char *from) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
    inet_pton(AF_INET, from, &src.sin_addr);
    dst.sin_port = htons((uint16_t)s->port);
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
        connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Has the server closed fd (EOF or reset)? Waits up to ms; data the server
 * sent is read and dropped. */
static bool closedWithin(int fd, unsigned ms) {
    uint64_t deadline = nowMs() + ms;
    char buf[512];
    do {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 10) == 1) {
            ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                return true;
        }
    } while (nowMs() < deadline);
    return false;
}

static bool stillOpen(int fd) {
    return !closedWithin(fd, 0);
}

/* Sends KEEP on fd and reads its answer: the connection is then idle. */
static bool wasServed(int fd) {
    char body[256];
    return rawSendAll(fd, KEEP, sizeof(KEEP) - 1) &&
           rawRead(fd, PROMPT_MS, body, sizeof(body)) == 200 && strstr(body, KEEP_OK) != NULL;
}

/* Waits until the server has read everything sent to it on every
 * connection to its port, and closed every connection its client closed
 * (the kernel's receive queues and CLOSE_WAIT sockets, /proc/net/tcp): each
 * request sent is then in the server's hands, and the table holds exactly
 * the connections still open. */
static bool serverSettled(const server *s, unsigned ms) {
    uint64_t deadline = nowMs() + ms;
    do {
        FILE *f = fopen("/proc/net/tcp", "r");
        if (!f)
            return false;
        char line[512];
        bool pending = false;
        while (fgets(line, sizeof(line), f)) {
            unsigned lport, st, tx, rx;
            if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %x:%x", &lport, &st, &tx, &rx) == 4 &&
                lport == s->port &&
                ((st == 1 /* ESTABLISHED */ && rx > 0) || st == 8 /* CLOSE_WAIT */))
                pending = true;
        }
        fclose(f);
        if (!pending)
            return true;
        struct pollfd none = {-1, 0, 0};
        poll(&none, 1, 10);
    } while (nowMs() < deadline);
    return false;
}

/* GET /healthz on a fresh connection from 127.0.0.1: its status, 0 when
 * closed unanswered within PROMPT_MS. */
static int healthzFrom(const server *s, const char *from) {
    int fd = connectFrom(s, from);
    if (fd < 0)
        return 0;
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    char body[256];
    int st = rawSendAll(fd, req, sizeof(req) - 1) ? rawRead(fd, PROMPT_MS, body, sizeof(body)) : 0;
    close(fd);
    return st;
}

/* Sends req on a fresh connection from 127.0.0.1 and reads its whole
 * answer (head and body) into out within ms; returns its status, 0 when
 * closed unanswered or late. */
static int askWithin(const server *s, const char *req, unsigned ms, char *out, size_t cap) {
    int fd = connectFrom(s, "127.0.0.1");
    if (fd < 0)
        return 0;
    int status = 0;
    size_t len = 0;
    uint64_t deadline = nowMs() + ms;
    if (!rawSendAll(fd, req, strlen(req)))
        goto done;
    while (nowMs() < deadline && len < cap - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(deadline - nowMs())) <= 0)
            continue;
        ssize_t n = recv(fd, out + len, cap - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        out[len] = '\0';
        char *end = strstr(out, "\r\n\r\n");
        const char *cl = end ? strcasestr(out, "\r\ncontent-length:") : NULL;
        if (cl && len - (size_t)(end + 4 - out) >= strtoul(cl + 17, NULL, 10)) {
            status = atoi(out + 9); /* "HTTP/1.1 200" */
            break;
        }
    }
done:
    out[len] = '\0';
    close(fd);
    return status;
}

static void closeAll(int *fds, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* ------------------------------------------------------------ the table */

#define TABLE_ARGS                                                                                 \
    "--max-connections", WORK_TEXT, "--reserved-connections", RESERVED_TEXT,                       \
        "--max-connections-per-ip", "0"

static void idle_connections_make_room_oldest_first(void) {
    const char *const args[] = {"--delay-ms", "0", TABLE_ARGS, NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    int fds[LIMIT];
    size_t served = 0;
    REQUIRE(serverSettled(&s, SETTLE_MS)); /* the harness's own connections are gone */
    for (int i = 0; i < LIMIT; i++) {
        fds[i] = connectFrom(&s, "127.0.0.1");
        served += fds[i] >= 0 && wasServed(fds[i]);
    }
    REQUIRE_EQ(served, LIMIT); /* the table is full of idle keep-alive connections */

    /* A newcomer is served at once, and the oldest idle one made room. */
    uint64_t t0 = nowMs();
    int first = connectFrom(&s, "127.0.0.1");
    CHECK(first >= 0 && wasServed(first));
    fprintf(stderr, "  a newcomer to a full table of idle connections: served in %llu ms\n",
            (unsigned long long)(nowMs() - t0));
    CHECK(closedWithin(fds[0], PROMPT_MS));
    size_t open = 0;
    for (int i = 1; i < LIMIT; i++)
        open += stillOpen(fds[i]);
    CHECK_EQ(open, LIMIT - 1);

    /* A newcomer that stays (idle after its answer) takes the next
     * oldest's place; the one after it, the next. */
    int stay = connectFrom(&s, "127.0.0.1");
    CHECK(stay >= 0 && wasServed(stay));
    CHECK(closedWithin(fds[1], PROMPT_MS));
    CHECK(stillOpen(stay));
    CHECK(wasServed(fds[2])); /* served again: now younger than fds[3] */
    int next = connectFrom(&s, "127.0.0.1");
    CHECK(next >= 0 && wasServed(next));
    CHECK(closedWithin(fds[3], PROMPT_MS));
    CHECK(stillOpen(fds[2]));
    close(first);
    close(stay);
    close(next);
    CHECK(wasServed(fds[LIMIT - 1])); /* the youngest is still served */
    closeAll(fds, LIMIT);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* Clients that never finish their headers (slowloris) count as idle: a
 * full table of them makes room too. */
static void clients_still_sending_headers_make_room_too(void) {
    const char *const args[] = {"--delay-ms", "0", TABLE_ARGS, NULL};
    static const char partial[] = "POST /calculate HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    server s;
    REQUIRE(serverStart(&s, args));
    REQUIRE(serverSettled(&s, SETTLE_MS));
    int fds[LIMIT];
    size_t sent = 0;
    for (int i = 0; i < LIMIT; i++) {
        fds[i] = connectFrom(&s, "127.0.0.1");
        sent += fds[i] >= 0 && rawSendAll(fds[i], partial, sizeof(partial) - 1);
    }
    REQUIRE_EQ(sent, LIMIT);
    REQUIRE(serverSettled(&s, SETTLE_MS)); /* the server holds every partial header */
    CHECK_EQ(healthzFrom(&s, "127.0.0.1"), 200);
    /* One of them made room (which one depends on the order two workers
     * took them in); the others are still open. */
    size_t closed = 0;
    for (int i = 0; i < LIMIT; i++)
        closed += closedWithin(fds[i], i == 0 ? PROMPT_MS : 0);
    CHECK_EQ(closed, 1);
    closeAll(fds, LIMIT);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void with_every_work_slot_held_probes_answer_and_work_gets_503(void) {
    const char *const args[] = {"--cache-scope",
                                "off",
                                "--max-connections",
                                SLOTS_TEXT,
                                "--reserved-connections",
                                SLOTS_TEXT,
                                "--max-connections-per-ip",
                                "0",
                                NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    int fds[SLOTS];
    size_t sent = 0;
    for (int i = 0; i < SLOTS; i++) {
        fds[i] = connectFrom(&s, "127.0.0.1");
        sent += fds[i] >= 0 && rawSendAll(fds[i], SLOW, sizeof(SLOW) - 1);
    }
    REQUIRE_EQ(sent, SLOTS);
    REQUIRE_EQ(waitStatsInt(&s, "connections.working", SLOTS, SETTLE_MS), SLOTS);

    /* The probes and the scrapers are answered within a second... */
    static const char *const probes[] = {"/healthz", "/readyz", "/metrics", "/stats"};
    static char out[131072];
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        char req[128];
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", probes[i]);
        checkContext("GET %s", probes[i]);
        CHECK_EQ(askWithin(&s, req, PROBE_MS, out, sizeof(out)), 200);
        checkContext(NULL);
    }
    /* ... and more work gets a quick 503 that says when to come back. */
    CHECK_EQ(askWithin(&s, SLOW, PROBE_MS, out, sizeof(out)), 503);
    CHECK(strcasestr(out, "\r\nRetry-After: 1\r\n") != NULL);
    CHECK(strcasestr(out, "\r\nContent-Type: application/json") != NULL);
    CHECK(strstr(out, "{\"error\":\"every work slot is taken") != NULL);
    CHECK_EQ(statsInt(&s, "connections.refused_busy"), 1);

    /* No busy connection was closed for them: each gets its answer. */
    size_t answered = 0;
    for (int i = 0; i < SLOTS; i++) {
        char body[256];
        answered += rawRead(fds[i], 2 * PROMPT_MS + 3000, body, sizeof(body)) == 200 &&
                    strstr(body, KEEP_OK) != NULL;
    }
    CHECK_EQ(answered, SLOTS);
    /* The slots are free again: work is taken. */
    CHECK_EQ(askWithin(&s, KEEP, PROMPT_MS + 3000, out, sizeof(out)), 200);
    closeAll(fds, SLOTS);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* ------------------------------------------------------------ per address */

static void one_address_is_held_to_max_connections_per_ip(void) {
    const char *const args[] = {"--delay-ms", "0", "--max-connections-per-ip", PER_IP_TEXT, NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    int fds[PER_IP + 1];
    size_t served = 0;
    for (int i = 0; i < PER_IP; i++) {
        fds[i] = connectFrom(&s, "127.0.0.2");
        served += fds[i] >= 0 && wasServed(fds[i]);
    }
    CHECK_EQ(served, PER_IP);
    /* One more from the same address is closed unanswered... */
    fds[PER_IP] = connectFrom(&s, "127.0.0.2");
    REQUIRE(fds[PER_IP] >= 0);
    CHECK(!wasServed(fds[PER_IP]));
    /* ... while other addresses are served, */
    CHECK_EQ(healthzFrom(&s, "127.0.0.3"), 200);
    CHECK_EQ(healthzFrom(&s, "127.0.0.4"), 200);
    /* and the address gets its place back when one of its own closes. */
    close(fds[0]);
    fds[0] = -1;
    uint64_t deadline = nowMs() + SETTLE_MS;
    int st = 0;
    while (st != 200 && nowMs() < deadline)
        st = healthzFrom(&s, "127.0.0.2");
    CHECK_EQ(st, 200);
    closeAll(fds, PER_IP + 1);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* One address, by default, holds half the work slots: the other half
 * stays for the other clients. */
static void by_default_one_address_holds_half_of_max_connections(void) {
    const char *const args[] = {"--delay-ms", "0", "--max-connections", "40", NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    REQUIRE(serverSettled(&s, SETTLE_MS)); /* the harness's own connections are gone */
    int fds[HALF + 1];
    size_t served = 0;
    for (int i = 0; i < HALF; i++) {
        fds[i] = connectFrom(&s, "127.0.0.2");
        served += fds[i] >= 0 && wasServed(fds[i]);
    }
    CHECK_EQ(served, HALF);
    fds[HALF] = connectFrom(&s, "127.0.0.2");
    REQUIRE(fds[HALF] >= 0);
    CHECK(!wasServed(fds[HALF])); /* closed unanswered */
    CHECK_EQ(healthzFrom(&s, "127.0.0.3"), 200);
    closeAll(fds, HALF + 1);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void with_zero_one_address_may_hold_many(void) {
    const char *const args[] = {
        "--delay-ms", "0", "--max-connections", "40", "--max-connections-per-ip", "0", NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    int fds[UNLIMITED_FROM];
    size_t served = 0;
    for (int i = 0; i < UNLIMITED_FROM; i++) {
        fds[i] = connectFrom(&s, "127.0.0.2");
        served += fds[i] >= 0 && wasServed(fds[i]);
    }
    CHECK_EQ(served, UNLIMITED_FROM);
    closeAll(fds, UNLIMITED_FROM);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

int main(void) {
    static const harnessTest tests[] = {
        TEST(idle_connections_make_room_oldest_first),
        TEST(clients_still_sending_headers_make_room_too),
        TEST(with_every_work_slot_held_probes_answer_and_work_gets_503),
        TEST(one_address_is_held_to_max_connections_per_ip),
        TEST(by_default_one_address_holds_half_of_max_connections),
        TEST(with_zero_one_address_may_hold_many),
    };
    return harnessMain(tests, sizeof(tests) / sizeof(tests[0]));
}
