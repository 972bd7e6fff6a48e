/* test_limits.c -- requests at the documented limits fit the default
 * per-connection memory (--connection-memory-bytes), and beyond what fits
 * the client gets a clear 431 or 413, never a reset.
 *
 * The limits: 4 KiB of request headers (one long field or forty short
 * ones), a --max-body-bytes body (Content-Length or chunked), a 64-call
 * batch of the largest integers, each followed by a second request on the
 * same connection (keep-alive survives the pool's reuse). Over raw sockets,
 * so that nothing normalises the headers.
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
#define READ_MS 5000
#define HEADER_BYTES 4096 /* the request headers docs/limits.md promises */
#define MAX_BODY 16384    /* the default --max-body-bytes */
#define BIG_BODY_LIMIT "1048576"
#define BIG_BODY (1u << 20)
#define ANSWER_CAP 16384

static const char SMALL[] = "{\"a\": 1, \"b\": 2}";

/* ------------------------------------------------------------ raw sockets */

/* A POST /calculate with extra header lines (may be "") and body. Owned by
 * the caller (free). */
static char *post(const char *extra, const char *body, size_t body_len, size_t *len) {
    size_t cap = strlen(extra) + body_len + 256;
    char *req = malloc(cap);
    REQUIRE(req != NULL);
    int n = snprintf(req, cap,
                     "POST /calculate HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: %zu\r\n\r\n",
                     extra, body_len);
    memcpy(req + n, body, body_len);
    *len = (size_t)n + body_len;
    return req;
}

/* Sends req on fd and reads one answer; its status (0: closed or reset
 * without one), the body in out. */
static int ask(int fd, const char *req, size_t len, char *out) {
    if (!rawSendAll(fd, req, len))
        return 0;
    return rawRead(fd, READ_MS, out, ANSWER_CAP);
}

/* The status of req on a fresh connection, then of a small request on the
 * same connection (0 when the first closed it). */
static void askTwice(const server *s, const char *req, size_t len, int *first, int *second,
                     char *out) {
    int fd = rawConnect(s);
    REQUIRE(fd >= 0);
    *first = ask(fd, req, len, out);
    size_t n;
    char *again = post("", SMALL, sizeof(SMALL) - 1, &n);
    char scratch[ANSWER_CAP];
    *second = *first == 200 ? ask(fd, again, n, scratch) : 0;
    free(again);
    close(fd);
}

/* n header lines of one byte each short of filling total bytes together. */
static char *manyHeaders(unsigned lines, size_t total) {
    char *h = malloc(total + 1);
    REQUIRE(h != NULL);
    size_t per = total / lines, at = 0;
    for (unsigned i = 0; i < lines; i++) {
        int n = snprintf(h + at, total + 1 - at, "X-Pad-%03u: ", i);
        size_t fill = per - (size_t)n - 2;
        memset(h + at + n, 'a', fill);
        at += (size_t)n + fill;
        h[at++] = '\r';
        h[at++] = '\n';
    }
    h[at] = '\0';
    return h;
}

/* ------------------------------------------------------------ the limits */

static void four_kib_of_headers_are_served_and_keep_alive_holds(void) {
    const char *const args[] = {"--delay-ms", "0", NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    char out[ANSWER_CAP];
    /* The request line and Host take the rest of the 4 KiB. */
    static const unsigned shapes[] = {1, 40};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        char *extra = manyHeaders(shapes[i], HEADER_BYTES - 96);
        size_t len;
        char *req = post(extra, SMALL, sizeof(SMALL) - 1, &len);
        int first, second;
        askTwice(&s, req, len, &first, &second, out);
        checkContext("%u header lines", shapes[i]);
        CHECK_EQ(first, 200);
        CHECK(strstr(out, "\"result\":3") != NULL);
        CHECK_EQ(second, 200);
        checkContext(NULL);
        free(req);
        free(extra);
    }
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void headers_beyond_what_fits_get_431_not_a_reset(void) {
    const char *const args[] = {"--delay-ms", "0", NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    char out[ANSWER_CAP];
    static const size_t sizes[] = {16384, 65536};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *extra = manyHeaders(1, sizes[i]);
        size_t len;
        char *req = post(extra, SMALL, sizeof(SMALL) - 1, &len);
        int fd = rawConnect(&s);
        REQUIRE(fd >= 0);
        checkContext("%zu bytes of headers", sizes[i]);
        /* The server may answer before it has read all: send what it takes. */
        rawSendAll(fd, req, len);
        CHECK_EQ(rawRead(fd, READ_MS, out, sizeof(out)), 431);
        checkContext(NULL);
        close(fd);
        free(req);
        free(extra);
    }
    CHECK_EQ(statsInt(&s, "instances.created"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void a_max_body_bytes_body_is_served_by_length_and_chunked(void) {
    const char *const args[] = {"--delay-ms", "0", NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    char *body = malloc(MAX_BODY + 1);
    REQUIRE(body != NULL);
    memset(body, ' ', MAX_BODY); /* JSON allows the blanks */
    memcpy(body, SMALL, sizeof(SMALL) - 1);
    char out[ANSWER_CAP];
    int first, second;

    size_t len;
    char *req = post("", body, MAX_BODY, &len);
    askTwice(&s, req, len, &first, &second, out);
    CHECK_EQ(first, 200);
    CHECK(strstr(out, "\"result\":3") != NULL);
    CHECK_EQ(second, 200);
    free(req);

    char *chunked = malloc(MAX_BODY + 256);
    REQUIRE(chunked != NULL);
    int n = snprintf(chunked, 256,
                     "POST /calculate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n%x\r\n",
                     MAX_BODY);
    memcpy(chunked + n, body, MAX_BODY);
    memcpy(chunked + n + MAX_BODY, "\r\n0\r\n\r\n", 7);
    askTwice(&s, chunked, (size_t)n + MAX_BODY + 7, &first, &second, out);
    CHECK_EQ(first, 200);
    CHECK_EQ(second, 200);
    free(chunked);

    /* One byte more is a 413, with an answer. */
    body[MAX_BODY] = ' ';
    req = post("", body, MAX_BODY + 1, &len);
    int fd = rawConnect(&s);
    REQUIRE(fd >= 0);
    CHECK_EQ(ask(fd, req, len, out), 413);
    close(fd);
    free(req);
    free(body);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void a_large_max_body_bytes_streams_through_the_small_pool(void) {
    const char *const args[] = {"--delay-ms", "0", "--max-body-bytes", BIG_BODY_LIMIT, NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    char *body = malloc(BIG_BODY);
    REQUIRE(body != NULL);
    memset(body, ' ', BIG_BODY);
    memcpy(body, SMALL, sizeof(SMALL) - 1);
    size_t len;
    char *req = post("", body, BIG_BODY, &len);
    char out[ANSWER_CAP];
    int first, second;
    askTwice(&s, req, len, &first, &second, out);
    CHECK_EQ(first, 200);
    CHECK(strstr(out, "\"result\":3") != NULL);
    CHECK_EQ(second, 200);
    free(req);
    free(body);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void a_batch_of_sixty_four_of_the_largest_integers_is_served(void) {
    const char *const args[] = {"--delay-ms", "0", "--cache-scope", "off", NULL};
    server s;
    REQUIRE(serverStart(&s, args));
    char body[4096];
    size_t at = (size_t)snprintf(body, sizeof(body), "{\"calls\": [");
    for (int i = 0; i < 64; i++)
        at += (size_t)snprintf(body + at, sizeof(body) - at,
                               "%s{\"a\": 9007199254740991, \"b\": -9007199254740991}",
                               i ? ", " : "");
    at += (size_t)snprintf(body + at, sizeof(body) - at, "]}");
    REQUIRE(at < sizeof(body));
    size_t len;
    char *req = post("", body, at, &len);
    char out[ANSWER_CAP];
    int first, second;
    askTwice(&s, req, len, &first, &second, out);
    CHECK_EQ(first, 200);
    size_t results = 0;
    for (const char *p = out; (p = strstr(p, "{\"result\":0,")) != NULL; p++)
        results++;
    CHECK_EQ(results, 64);
    CHECK_EQ(second, 200);
    free(req);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

int main(void) {
    static const harnessTest tests[] = {
        TEST(four_kib_of_headers_are_served_and_keep_alive_holds),
        TEST(headers_beyond_what_fits_get_431_not_a_reset),
        TEST(a_max_body_bytes_body_is_served_by_length_and_chunked),
        TEST(a_large_max_body_bytes_streams_through_the_small_pool),
        TEST(a_batch_of_sixty_four_of_the_largest_integers_is_served),
    };
    return harnessMain(tests, sizeof(tests) / sizeof(tests[0]));
}
