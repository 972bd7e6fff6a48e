/* harness.h -- start the real memoscope binary and talk to it over HTTP.
 *
 * Integration tests run the binary built beside them (MEMOSCOPE_BIN) on
 * 127.0.0.1 with --port 0, read the chosen port from its startup line, and
 * ask it with libcurl. Every function here fails loudly rather than guess.
 *
 * A test program is a list of TEST functions run in order by harnessMain
 * (checkMain of tests/check.h, with libcurl set up around it).
 */
#ifndef HARNESS_H
#define HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/types.h>

#include "check.h"

/* ------------------------------------------------------------ the checks */

/* CHECK..., REQUIRE... and TEST come from tests/check.h. A server a case
 * leaves running (a REQUIRE stopped it, or it forgot serverStop) is killed
 * by PID when the case ends. */
typedef checkTest harnessTest;

/* Runs every test (with libcurl set up); returns the process exit status. */
int harnessMain(const harnessTest *tests, size_t n);

/* ------------------------------------------------------------ the server */

typedef struct server {
    pid_t pid;
    unsigned port;
    int log_fd; /* the server's stderr, read end */
} server;

/* Starts MEMOSCOPE_BIN with --bind 127.0.0.1 --port 0 and args (NULL
 * terminated), and waits up to 10 s for its startup line. */
bool serverStart(server *s, const char *const *args);

/* Sends sig (SIGTERM to stop) and waits up to timeout_ms for the exit.
 * Returns the exit status, 128 + signal if killed by one, or -1 if it had
 * not exited in time (it is then killed). */
int serverStop(server *s, int sig, unsigned timeout_ms);

/* ------------------------------------------------------------ HTTP */

typedef struct reply {
    long status; /* 0 when the request failed at the transport level */
    char *body;  /* NUL-terminated, owned: free with replyFree */
    size_t len;
    char content_type[128];
    char allow[128];
} reply;

/* Many requests at once, each on its own connection, run by a thread of
 * their own so that the caller can watch the server meanwhile. */
typedef struct httpMany {
    const server *s;
    const char *method, *path;
    const char *const *bodies; /* n bodies */
    size_t n;
    reply *replies; /* n replies, filled by httpManyJoin */
    pthread_t thread;
} httpMany;

bool httpManyStart(httpMany *m);
void httpManyJoin(httpMany *m); /* then replyFree each reply */

/* One request on a fresh connection. body may be NULL (no body). */
reply httpDo(const server *s, const char *method, const char *path, const char *body);
void replyFree(reply *r);

/* ------------------------------------------------------------ raw HTTP */

/* For what libcurl hides: keep-alive on one socket, a client that leaves,
 * bytes no client library sends. */

/* A blocking TCP connection to the server; -1 on failure, errno from
 * connect. */
int rawConnect(const server *s);

/* Writes all of buf unless the peer stops reading (closed or reset). */
bool rawSendAll(int fd, const void *buf, size_t len);

/* Sends one request on fd (a kept connection), Content-Length always given;
 * body may be NULL (empty). False when it does not fit RAW_REQUEST_MAX bytes
 * or the peer stops reading. */
#define RAW_REQUEST_MAX 1024
bool rawRequest(int fd, const char *method, const char *path, const char *body);

/* Reads one response (its Content-Length tells where it ends); returns its
 * status, or 0 when the connection closed or timeout_ms passed first. The
 * body goes to out (cap bytes, NUL-terminated). */
int rawRead(int fd, unsigned timeout_ms, char *out, size_t cap);

/* A number from a JSON body by dotted path ("instances.live"); LLONG_MIN
 * when absent or not a number. Exact for every integer up to 2^63. */
long long jsonInt(const char *json, const char *path);

/* Does the JSON body hold a string at path equal to want? */
bool jsonStrEq(const char *json, const char *path, const char *want);

/* GET /stats and one figure of it. */
long long statsInt(const server *s, const char *path);

/* Polls GET /stats until path equals want or timeout_ms passes. Returns the
 * last value read. */
long long waitStatsInt(const server *s, const char *path, long long want, unsigned timeout_ms);

/* Milliseconds on the monotonic clock. */
uint64_t nowMs(void);

#endif /* HARNESS_H */
