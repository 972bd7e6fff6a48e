/* test_answers.c -- what a newcomer checks first, against the real binary:
 * every answer ends with a newline (two curls print on two lines), every
 * answered POST /calculate counts once in requests.total (so that errors
 * never outnumber it), GET /cache in off scope shows no cache, the GET
 * routes answer HEAD, a port already taken is exit status 1, and --help
 * prints and exits 0 even with a bad MEMOSCOPE_* variable. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define STOP_MS 15000
#define RAW_TIMEOUT_MS 10000

/* Does the body end with exactly one newline, after the JSON or text? */
static bool endsWithNewline(const reply *r) {
    return r->len >= 2 && r->body[r->len - 1] == '\n' && r->body[r->len - 2] != '\n';
}

static void every_answer_ends_with_a_newline(void) {
    static const struct {
        const char *method, *path, *body;
        long status;
    } cases[] = {
        {"POST", "/calculate", "{\"a\": 1, \"b\": 2}", 200},
        {"POST", "/calculate", "{\"calls\": [{\"a\": 1, \"b\": 2}, {\"a\": 3, \"b\": 4}]}", 200},
        {"POST", "/calculate", "not json", 400},
        {"POST", "/calculate",
         "{\"a\": 1, \"b\": 2, \"pad\": \"" /* over the limit */
         "0123456789012345678901234567890123456789"
         "0123456789012345678901234567890123456789\"}",
         413},
        {"GET", "/calculate", NULL, 405},
        {"GET", "/nope", NULL, 404},
        {"GET", "/stats", NULL, 200},
        {"GET", "/metrics", NULL, 200},
        {"GET", "/cache", NULL, 200},
        {"DELETE", "/cache", NULL, 200},
        {"GET", "/healthz", NULL, 200},
        {"GET", "/", NULL, 200},
    };
    const char *const args[] = {"--delay-ms", "0", "--max-body-bytes", "64", NULL};
    server s;
    CHECK(serverStart(&s, args));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reply r = httpDo(&s, cases[i].method, cases[i].path, cases[i].body);
        CHECK_EQ(r.status, cases[i].status);
        if (!endsWithNewline(&r))
            fprintf(stderr, "  %s %s: answer does not end with one newline: %s\n", cases[i].method,
                    cases[i].path, r.body);
        CHECK(endsWithNewline(&r));
        replyFree(&r);
    }
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void every_answered_calculate_counts_once_in_total(void) {
    const char *const args[] = {"--delay-ms", "0", "--max-body-bytes", "64", NULL};
    char over[128];
    snprintf(over, sizeof(over), "{\"a\": 1, \"b\": 2, \"pad\": \"%080d\"}", 0);
    server s;
    CHECK(serverStart(&s, args));
    reply r = httpDo(&s, "POST", "/calculate", "{\"a\": 1, \"b\": 2}");
    CHECK_EQ(r.status, 200);
    replyFree(&r);
    r = httpDo(&s, "POST", "/calculate", "not json");
    CHECK_EQ(r.status, 400);
    replyFree(&r);
    r = httpDo(&s, "POST", "/calculate", over); /* refused by its Content-Length */
    CHECK_EQ(r.status, 413);
    replyFree(&r);
    CHECK_EQ(statsInt(&s, "requests.total"), 3);
    CHECK_EQ(statsInt(&s, "requests.errors"), 2);
    CHECK_EQ(statsInt(&s, "requests.in_flight"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void a_calculate_refused_while_stopping_counts_in_total(void) {
    const char *const args[] = {"--delay-ms", "0", NULL};
    char body[1024];
    server s;
    CHECK(serverStart(&s, args));
    /* Two connections kept from before the signal: one to be refused on,
     * one to read /stats on (the 503 closes its connection). */
    int refused = rawConnect(&s), watch = rawConnect(&s);
    CHECK(refused >= 0 && watch >= 0);
    CHECK(rawRequest(refused, "POST", "/calculate", "{\"a\": 1, \"b\": 1}"));
    CHECK_EQ(rawRead(refused, RAW_TIMEOUT_MS, body, sizeof(body)), 200);
    CHECK(rawRequest(watch, "GET", "/stats", NULL));
    CHECK_EQ(rawRead(watch, RAW_TIMEOUT_MS, body, sizeof(body)), 200);

    /* A slow request holds the server in its grace period. */
    static const char *const slow[] = {"{\"a\": 2, \"b\": 2, \"delay_ms\": 3000}"};
    httpMany m = {&s, "POST", "/calculate", slow, 1, NULL, 0};
    CHECK(httpManyStart(&m));
    CHECK_EQ(waitStatsInt(&s, "requests.in_flight", 1, 5000), 1);
    kill(s.pid, SIGTERM);
    int status = 0;
    for (uint64_t deadline = nowMs() + 5000; status != 503 && nowMs() < deadline;) {
        CHECK(rawRequest(watch, "GET", "/healthz", NULL)); /* 503 once the signal is taken */
        status = rawRead(watch, RAW_TIMEOUT_MS, body, sizeof(body));
    }
    CHECK_EQ(status, 503);

    CHECK(rawRequest(refused, "POST", "/calculate", "{\"a\": 1, \"b\": 1}"));
    CHECK_EQ(rawRead(refused, RAW_TIMEOUT_MS, body, sizeof(body)), 503);
    CHECK(strstr(body, "shutting down") != NULL);
    CHECK(rawRequest(watch, "GET", "/stats", NULL));
    CHECK_EQ(rawRead(watch, RAW_TIMEOUT_MS, body, sizeof(body)), 200);
    CHECK_EQ(jsonInt(body, "requests.total"), 3); /* the first, the slow one, the refused one */
    CHECK(jsonInt(body, "requests.errors") <= jsonInt(body, "requests.total"));
    close(refused);
    close(watch);

    httpManyJoin(&m);
    CHECK_EQ(m.replies[0].status, 200);
    replyFree(&m.replies[0]);
    free(m.replies);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void cache_info_in_off_scope_shows_no_cache(void) {
    const char *const args[] = {"--delay-ms", "0", "--cache-scope", "off", "--maxsize", "64", NULL};
    server s;
    CHECK(serverStart(&s, args));
    reply r = httpDo(&s, "POST", "/calculate", "{\"a\": 1, \"b\": 2}");
    CHECK_EQ(r.status, 200);
    replyFree(&r);
    r = httpDo(&s, "GET", "/cache", NULL);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(jsonInt(r.body, "maxsize"), 0); /* not the 64 it was given: off holds nothing */
    CHECK_EQ(jsonInt(r.body, "currsize"), 0);
    CHECK_EQ(jsonInt(r.body, "hits"), 0);
    CHECK_EQ(jsonInt(r.body, "misses"), 0);
    replyFree(&r);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void get_routes_answer_head_with_headers_only(void) {
    static const char *const paths[] = {"/stats", "/metrics", "/cache", "/healthz", "/"};
    server s;
    CHECK(serverStart(&s, NULL));
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        int fd = rawConnect(&s);
        CHECK(fd >= 0);
        char req[128], got[8192];
        int n =
            snprintf(req, sizeof(req),
                     "HEAD %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", paths[i]);
        CHECK(rawSendAll(fd, req, (size_t)n));
        size_t len = 0;
        ssize_t r;
        while (len < sizeof(got) - 1 && (r = read(fd, got + len, sizeof(got) - 1 - len)) > 0)
            len += (size_t)r;
        got[len] = '\0';
        close(fd);
        checkContext("HEAD %s", paths[i]);
        CHECK(strncmp(got, "HTTP/1.1 200", 12) == 0);
        const char *end = strstr(got, "\r\n\r\n");
        CHECK(end != NULL && end[4] == '\0'); /* nothing after the headers */
        CHECK(strstr(got, "Content-Length: ") != NULL);
    }
    checkContext(NULL);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* Runs the binary with args (NULL-terminated) and, when env is not NULL, one
 * more NAME=VALUE in its environment; its stdout and stderr together go to
 * out (cap bytes, NUL-terminated; the rest is read and dropped). Returns its
 * exit status, or -1 when it did not exit normally. */
static int runBinary(const char *const *args, const char *env, char *out, size_t cap) {
    const char *argv[16] = {MEMOSCOPE_BIN};
    size_t argc = 1;
    for (size_t i = 0; args[i] && argc < 15; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        if (env)
            putenv((char *)env);
        execv(MEMOSCOPE_BIN, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    char drop[4096];
    ssize_t r;
    for (;;) {
        bool room = len < cap - 1;
        r = room ? read(fds[0], out + len, cap - 1 - len) : read(fds[0], drop, sizeof(drop));
        if (r <= 0)
            break;
        if (room)
            len += (size_t)r;
    }
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void a_port_already_taken_exits_1(void) {
    server s;
    CHECK(serverStart(&s, NULL));
    char port[16], msg[512];
    snprintf(port, sizeof(port), "%u", s.port);
    const char *const args[] = {"--bind", "127.0.0.1", "--port", port, NULL};
    CHECK_EQ(runBinary(args, NULL, msg, sizeof(msg)), 1);
    CHECK(strstr(msg, "cannot listen on 127.0.0.1 port") != NULL);
    CHECK(strstr(msg, "Address already in use") != NULL);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0); /* the first one is untouched */
}

static void help_prints_and_exits_0_despite_a_bad_variable(void) {
    char out[8192];
    const char *const help[] = {"--help", NULL};
    CHECK_EQ(runBinary(help, "MEMOSCOPE_THREADS=0", out, sizeof(out)), 0);
    CHECK(strstr(out, "bad MEMOSCOPE_THREADS '0'") != NULL); /* what to fix */
    CHECK(strstr(out, "usage: memoscope") != NULL);
    CHECK(strstr(out, "MEMOSCOPE_THREADS") != NULL);
    const char *const version[] = {"--version", NULL};
    CHECK_EQ(runBinary(version, "MEMOSCOPE_THREADS=0", out, sizeof(out)), 0);
    const char *const serve[] = {"--bind", "127.0.0.1", "--port", "0", NULL};
    CHECK_EQ(runBinary(serve, "MEMOSCOPE_THREADS=0", out, sizeof(out)), 2); /* not served */
}

int main(void) {
    static const harnessTest tests[] = {
        TEST(every_answer_ends_with_a_newline),
        TEST(every_answered_calculate_counts_once_in_total),
        TEST(a_calculate_refused_while_stopping_counts_in_total),
        TEST(cache_info_in_off_scope_shows_no_cache),
        TEST(get_routes_answer_head_with_headers_only),
        TEST(a_port_already_taken_exits_1),
        TEST(help_prints_and_exits_0_despite_a_bad_variable),
    };
    return harnessMain(tests, sizeof(tests) / sizeof(tests[0]));
}
