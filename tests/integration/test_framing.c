/* test_framing.c -- requests whose framing could be read two ways get 400
 * and a closed connection; a client that half-closes gets its answer.
 *
 * Over raw sockets, since libcurl would never send these. The cases are
 * the rows of framing_cases.txt (framing_nginx.py sends the same ones to
 * nginx): two Content-Lengths, Content-Length with Transfer-Encoding, a
 * Transfer-Encoding other than chunked, whitespace before a colon (whose
 * body would run as a second request), folded lines, NULs and control
 * bytes in fields and in the target, HTTP/1.1 without Host, and requests
 * that must be served. Each refusal must be answered once, with 400, the
 * connection closed, and nothing computed. Then clients that send their
 * request and shutdown(SHUT_WR): the same answer whatever the delay.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "harness.h"

#define STOP_MS 15000
#define READ_MS 5000 /* a whole answer and the close, at most */
#define ANSWER_CAP 8192

static const char *const SHARED[] = {"--cache-scope", "shared", "--delay-ms", "0", NULL};

/* ------------------------------------------------------------ raw sockets */

/* Sends req on a fresh connection, optionally half-closes, and reads all
 * the server sends until it closes or READ_MS pass. Returns the bytes read
 * (NUL-terminated in out) and sets *closed when the server closed. */
static size_t exchange(const server *s, const char *req, size_t len, bool half_close, char *out,
                       size_t cap, bool *closed) {
    size_t got = 0;
    *closed = false;
    out[0] = '\0';
    int fd = rawConnect(s);
    if (fd < 0 || !rawSendAll(fd, req, len)) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    if (half_close)
        shutdown(fd, SHUT_WR);
    uint64_t deadline = nowMs() + READ_MS;
    while (nowMs() < deadline && got < cap - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = recv(fd, out + got, cap - 1 - got, 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
            *closed = true;
            break;
        }
        if (n > 0)
            got += (size_t)n;
    }
    out[got] = '\0';
    close(fd);
    return got;
}

static int statusOf(const char *answer) {
    return strncmp(answer, "HTTP/1.", 7) == 0 ? atoi(answer + 9) : 0;
}

/* How many status lines ("HTTP/1.1 NNN ") the server wrote. */
static int answers(const char *answer) {
    int n = 0;
    for (const char *p = answer; (p = strstr(p, "HTTP/1.1 ")) != NULL; p++)
        n += p[9] >= '1' && p[9] <= '5' && p[10] >= '0' && p[10] <= '9' && p[11] >= '0' &&
             p[11] <= '9' && p[12] == ' ';
    return n;
}

static const char *bodyOf(const char *answer) {
    const char *end = strstr(answer, "\r\n\r\n");
    return end ? end + 4 : "";
}

/* ------------------------------------------------------------ the table */

#define CALC "POST /calculate HTTP/1.1\r\n"
#define BODY "{\"a\": 1, \"b\": 2}" /* 16 bytes */

/* One row of framing_cases.txt (its head says what the fields mean). */
typedef struct framingCase {
    char what[128];
    char ours[32];      /* "400", or "200:3" */
    char fragment[128]; /* of the error message, "" for none */
    char request[1024];
    size_t len;
} framingCase;

#define CASES_MAX 128

static const struct {
    const char *name, *text;
} placeholders[] = {
    {"$CALC", CALC},
    {"$BODY", BODY},
    {"$CHUNKED", "10\r\n" BODY "\r\n0\r\n\r\n"},
    {"$SMUGGLED", CALC "Host: x\r\nContent-Length: 16\r\n\r\n" BODY},
};

static int hexDigit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Expands the request field's escapes and placeholders into c->request. */
static bool expand(framingCase *c, const char *in) {
    size_t n = 0, cap = sizeof(c->request);
    while (*in) {
        const char *add = NULL;
        size_t add_len = 1;
        char one;
        if (*in == '$') {
            for (size_t i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++)
                if (strncmp(in, placeholders[i].name, strlen(placeholders[i].name)) == 0) {
                    add = placeholders[i].text;
                    add_len = strlen(add);
                    in += strlen(placeholders[i].name);
                    break;
                }
        }
        if (!add && *in == '\\') {
            char e = in[1];
            in += 2;
            one = e == 'r' ? '\r' : e == 'n' ? '\n' : e == 't' ? '\t' : e == '0' ? '\0' : e;
            if (e == 'x') {
                if (hexDigit(in[0]) < 0 || hexDigit(in[1]) < 0)
                    return false;
                one = (char)(hexDigit(in[0]) * 16 + hexDigit(in[1]));
                in += 2;
            } else if (!strchr("rnt0\\", e)) {
                return false;
            }
            add = &one;
        } else if (!add) {
            one = *in++;
            add = &one;
        }
        if (n + add_len > cap)
            return false;
        memcpy(c->request + n, add, add_len);
        n += add_len;
    }
    c->len = n;
    return true;
}

/* Reads framing_cases.txt into cases; returns how many (0 on a bad file). */
static size_t readCases(framingCase *cases, size_t cap) {
    FILE *f = fopen(FRAMING_CASES, "r");
    if (!f)
        return 0;
    char line[2048];
    size_t n = 0;
    while (fgets(line, sizeof(line), f) && n < cap) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *field[6], *save = NULL, *p = line;
        size_t k = 0;
        for (; k < 6 && (field[k] = strtok_r(p, "\t", &save)) != NULL; k++)
            p = NULL;
        framingCase *c = &cases[n];
        if (k != 6 || !expand(c, field[5])) {
            fprintf(stderr, "framing_cases.txt: bad line: %s\n", line);
            fclose(f);
            return 0;
        }
        snprintf(c->what, sizeof(c->what), "%s", field[0]);
        snprintf(c->ours, sizeof(c->ours), "%s", field[1]);
        snprintf(c->fragment, sizeof(c->fragment), "%s", strcmp(field[2], "-") ? field[2] : "");
        n++;
    }
    fclose(f);
    return n;
}

static framingCase cases[CASES_MAX];

/* Refused cases: answered once, with 400 and the message, the connection
 * closed, nothing computed (every one is refused before its body). Served
 * ones: 200 with their result, sent with a half-close. */
static void every_case_of_the_table_is_framed_as_it_says(void) {
    size_t n = readCases(cases, CASES_MAX);
    REQUIRE(n > 0);
    server s;
    REQUIRE(serverStart(&s, SHARED));
    char answer[ANSWER_CAP];
    long long refused = 0;
    /* the refusals first: nothing may have been computed after them */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            const framingCase *c = &cases[i];
            bool refuse = strncmp(c->ours, "200", 3) != 0, closed;
            if (refuse != (pass == 0))
                continue;
            exchange(&s, c->request, c->len, !refuse, answer, sizeof(answer), &closed);
            checkContext("case: %s\n  ... got: %s", c->what, answer);
            CHECK_EQ(statusOf(answer), atoi(c->ours));
            CHECK_EQ(answers(answer), 1); /* no second request ran */
            if (refuse) {
                refused++;
                CHECK(closed);
                CHECK(strcasestr(answer, "\r\nConnection: close\r\n") != NULL);
                CHECK(strstr(bodyOf(answer), "{\"error\":\"") == bodyOf(answer));
                CHECK(strstr(bodyOf(answer), c->fragment) != NULL);
            } else {
                char want[48];
                snprintf(want, sizeof(want), "\"result\":%s", strchr(c->ours, ':') + 1);
                CHECK(strstr(bodyOf(answer), want) != NULL);
            }
        }
        checkContext(NULL);
        if (pass == 0)
            CHECK_EQ(statsInt(&s, "instances.created"), 0);
    }
    CHECK_EQ(statsInt(&s, "requests.errors"), refused);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* The checks read each request where libmicrohttpd keeps it, which moves
 * between the requests of one connection: requests one after another on a
 * kept-alive connection, and pipelined in one write, all pass. */
static void kept_alive_and_pipelined_requests_pass_the_checks(void) {
    server s;
    REQUIRE(serverStart(&s, SHARED));
    static const char calc[] = CALC "Host: x\r\nContent-Length: 16\r\n\r\n" BODY;
    static const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\r\n";
    char answer[ANSWER_CAP];
    int fd = rawConnect(&s);
    REQUIRE(fd >= 0);
    for (int i = 0; i < 3; i++) {
        CHECK(rawSendAll(fd, calc, strlen(calc)));
        CHECK_EQ(rawRead(fd, READ_MS, answer, sizeof(answer)), 200);
        CHECK(rawSendAll(fd, get, strlen(get)));
        CHECK_EQ(rawRead(fd, READ_MS, answer, sizeof(answer)), 200);
    }
    close(fd);
    char many[2048];
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        memcpy(many + n, calc, strlen(calc));
        n += strlen(calc);
        memcpy(many + n, get, strlen(get));
        n += strlen(get);
    }
    bool closed;
    exchange(&s, many, n, true, answer, sizeof(answer), &closed);
    checkContext("got: %s", answer);
    CHECK_EQ(answers(answer), 8);
    CHECK(strstr(answer, "HTTP/1.1 4") == NULL);
    checkContext(NULL);
    CHECK_EQ(statsInt(&s, "requests.errors"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* A Content-Length libmicrohttpd cannot read is refused by the library
 * before any handler runs (docs/limits.md: 0.9.75 writes that answer's
 * head twice). What we can promise: an error status, a close, no work. */
static void a_content_length_the_library_refuses_is_closed_without_work(void) {
    static const char *const reqs[] = {
        CALC "Host: x\r\nContent-Length: 99999999999999999999999\r\n\r\n" BODY,
        CALC "Host: x\r\nContent-Length: -1\r\n\r\n" BODY,
        CALC "Host: x\r\nContent-Length: 1x\r\n\r\n" BODY,
    };
    server s;
    REQUIRE(serverStart(&s, SHARED));
    char answer[ANSWER_CAP];
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        bool closed;
        exchange(&s, reqs[i], strlen(reqs[i]), false, answer, sizeof(answer), &closed);
        int st = statusOf(answer);
        CHECK(st == 400 || st == 413);
        CHECK(closed);
    }
    CHECK_EQ(statsInt(&s, "instances.created"), 0);
    reply r = httpDo(&s, "GET", "/healthz", NULL);
    CHECK_EQ(r.status, 200);
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* ------------------------------------------------------------ Expect */

/* Expect: 100-continue with a Content-Length over --max-body-bytes is
 * answered 413 at once, without a 100 Continue, and closed; the client has
 * sent no body and need not wait for one to be asked. Within the limit the
 * library's 100 Continue comes, then the answer. */
static void expect_100_continue_over_the_limit_gets_413_at_once(void) {
    const char *const args[] = {"--cache-scope", "off", "--max-body-bytes", "1024", NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    char answer[ANSWER_CAP];
    static const char over[] =
        CALC "Host: x\r\nContent-Length: 2048\r\nExpect: 100-continue\r\n\r\n";
    bool closed;
    uint64_t t0 = nowMs();
    exchange(&s, over, strlen(over), false, answer, sizeof(answer), &closed);
    checkContext("got: %s", answer);
    CHECK_EQ(statusOf(answer), 413);
    CHECK(strstr(answer, " 100 ") == NULL);
    CHECK(closed);
    CHECK(nowMs() - t0 < READ_MS); /* answered, not waited out */
    static const char capitals[] =
        CALC "Host: x\r\nContent-Length: 2048\r\nEXPECT: 100-Continue\r\n\r\n";
    exchange(&s, capitals, strlen(capitals), false, answer, sizeof(answer), &closed);
    CHECK_EQ(statusOf(answer), 413);
    CHECK(closed);
    checkContext(NULL);

    int fd = rawConnect(&s);
    REQUIRE(fd >= 0);
    static const char within[] =
        CALC "Host: x\r\nContent-Length: 16\r\nExpect: 100-continue\r\n\r\n";
    CHECK(rawSendAll(fd, within, strlen(within)));
    CHECK_EQ(rawRead(fd, READ_MS, answer, sizeof(answer)), 100);
    CHECK(rawSendAll(fd, BODY, strlen(BODY)));
    CHECK_EQ(rawRead(fd, READ_MS, answer, sizeof(answer)), 200);
    CHECK(strstr(answer, "\"result\":3") != NULL);
    close(fd);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* ------------------------------------------------------------ half-closed */

/* Sends a POST /calculate of body and half-closes; answer gets all the
 * server wrote. Returns whether the server closed the connection after. */
static bool halfClosed(const server *s, const char *body, char answer[ANSWER_CAP]) {
    char req[512];
    int n = snprintf(req, sizeof(req), CALC "Host: x\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
    bool closed;
    exchange(s, req, (size_t)n, true, answer, ANSWER_CAP, &closed);
    return closed;
}

static void halfClosedGetsItsAnswer(const server *s, const char *body, const char *want) {
    char answer[ANSWER_CAP];
    bool closed = halfClosed(s, body, answer);
    checkContext("body: %s\n  ... got: %s", body, answer);
    CHECK_EQ(statusOf(answer), 200);
    CHECK(strstr(bodyOf(answer), want) != NULL);
    CHECK(closed); /* once answered, the end of its stream closes it */
    checkContext(NULL);
}

static void a_half_closed_client_gets_its_answer_whatever_the_delay(void) {
    const char *const args[] = {"--cache-scope", "off", NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    halfClosedGetsItsAnswer(&s, "{\"a\": 1, \"b\": 2, \"delay_ms\": 0}", "\"result\":3");
    halfClosedGetsItsAnswer(&s, "{\"a\": 1, \"b\": 2, \"delay_ms\": 5}", "\"result\":3");
    halfClosedGetsItsAnswer(&s, "{\"a\": 1, \"b\": 2, \"delay_ms\": 300}", "\"result\":3");
    /* A batch suspends once per call. */
    halfClosedGetsItsAnswer(&s,
                            "{\"calls\": [{\"a\": 1, \"b\": 2}, {\"a\": 3, \"b\": 4}], "
                            "\"delay_ms\": 50}",
                            "{\"results\":[{\"result\":3,\"cached\":false},"
                            "{\"result\":7,\"cached\":false}]");
    CHECK_EQ(waitStatsInt(&s, "requests.in_flight", 0, READ_MS), 0);
    CHECK_EQ(statsInt(&s, "requests.errors"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

typedef struct halfClosedWaiter {
    const server *s;
    pthread_t thread;
    char answer[ANSWER_CAP];
} halfClosedWaiter;

static void *waiterThread(void *arg) {
    halfClosedWaiter *w = arg;
    halfClosed(w->s, "{\"a\": 40, \"b\": 2}", w->answer);
    return NULL;
}

/* In shared scope a half-closed waiter behind a half-closed owner: both
 * are answered, the waiter from the owner's computation. */
static void half_closed_clients_of_one_flight_are_all_answered(void) {
    const char *const args[] = {"--cache-scope", "shared", "--delay-ms", "500", NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    static halfClosedWaiter w;
    w.s = &s;
    /* The owner's request goes first; the waiter joins while it computes. */
    char req[256], answer[ANSWER_CAP];
    int n = snprintf(req, sizeof(req), CALC "Host: x\r\nContent-Length: 17\r\n\r\n%s",
                     "{\"a\": 40, \"b\": 2}");
    int fd = rawConnect(&s);
    CHECK(fd >= 0 && rawSendAll(fd, req, (size_t)n));
    shutdown(fd, SHUT_WR);
    CHECK_EQ(waitStatsInt(&s, "cache.misses", 1, READ_MS), 1);
    REQUIRE(pthread_create(&w.thread, NULL, waiterThread, &w) == 0);
    CHECK_EQ(rawRead(fd, READ_MS, answer, sizeof(answer)), 200);
    CHECK(strstr(answer, "\"result\":42,\"cached\":false") != NULL);
    close(fd);
    pthread_join(w.thread, NULL);
    CHECK_EQ(statusOf(w.answer), 200);
    CHECK(strstr(bodyOf(w.answer), "\"result\":42,\"cached\":true") != NULL);
    CHECK_EQ(statsInt(&s, "cache.coalesced"), 1);
    CHECK_EQ(statsInt(&s, "cache.misses"), 1);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

int main(void) {
    static const harnessTest tests[] = {
        TEST(every_case_of_the_table_is_framed_as_it_says),
        TEST(kept_alive_and_pipelined_requests_pass_the_checks),
        TEST(a_content_length_the_library_refuses_is_closed_without_work),
        TEST(expect_100_continue_over_the_limit_gets_413_at_once),
        TEST(a_half_closed_client_gets_its_answer_whatever_the_delay),
        TEST(half_closed_clients_of_one_flight_are_all_answered),
    };
    return harnessMain(tests, sizeof(tests) / sizeof(tests[0]));
}
