/* test_probe.c -- memoscope --probe [PATH], the health check a container
 * runs without a shell: exit 0 on a 200 from the server on this machine,
 * 1 on anything else (another status, nothing listening, an answer that is
 * not HTTP, no answer within PROBE_TIMEOUT_MS), 2 on a bad path. The port
 * is the server's setting: --port (before or after --probe) or
 * MEMOSCOPE_PORT. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "probe.h" /* PROBE_TIMEOUT_MS */

#define STOP_MS 15000
#define RUN_LIMIT_MS (PROBE_TIMEOUT_MS + 8000) /* a probe still running then has hung */
#define START_SLACK_MS 3000 /* a process start on a busy machine, sanitizers on */

/* ------------------------------------------------------------- tools */

typedef struct run {
    int status; /* the exit status; -1 when killed at RUN_LIMIT_MS */
    uint64_t elapsed_ms;
    char out[2048]; /* stdout and stderr */
} run;

/* Runs MEMOSCOPE_BIN with args (NULL terminated), env ("NAME=value" or
 * NULL) added; kills it at RUN_LIMIT_MS. */
static void runBinary(const char *const *args, const char *env, run *r) {
    const char *argv[16] = {MEMOSCOPE_BIN};
    size_t argc = 1;
    for (size_t i = 0; args[i] && argc < 15; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    memset(r, 0, sizeof(*r));
    r->status = -1;
    int fds[2];
    if (pipe(fds) != 0)
        return;
    uint64_t t0 = nowMs();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        unsetenv("MEMOSCOPE_PORT");
        if (env)
            putenv((char *)env);
        execv(MEMOSCOPE_BIN, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    bool killed = false;
    for (;;) {
        uint64_t now = nowMs();
        if (now - t0 >= RUN_LIMIT_MS) {
            kill(pid, SIGKILL);
            killed = true;
            break;
        }
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        if (poll(&p, 1, (int)(RUN_LIMIT_MS - (now - t0))) <= 0)
            continue;
        ssize_t n = read(fds[0], r->out + len, sizeof(r->out) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof(r->out) - 1)
            break;
    }
    r->out[len] = '\0';
    close(fds[0]);
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && !killed && WIFEXITED(status))
        r->status = WEXITSTATUS(status);
    r->elapsed_ms = nowMs() - t0;
}

/* A loopback listener that completes connections (the kernel's backlog)
 * and never accepts or answers them. Returns the socket; *port its port. */
static int silentListener(unsigned *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* A port nothing listens on: one the kernel just gave out, closed again. */
static unsigned deadPort(void) {
    unsigned port = 0;
    int fd = silentListener(&port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Accepts one connection on the listener and writes junk, then closes. */
static void *answerJunk(void *arg) {
    int lfd = *(int *)arg;
    int c = accept(lfd, NULL, NULL);
    if (c >= 0) {
        static const char junk[] = "SSH-2.0-OpenSSH_9.2\r\n";
        ssize_t n = write(c, junk, sizeof(junk) - 1);
        (void)n;
        close(c);
    }
    return NULL;
}

/* --------------------------------------------------------------- cases */

static void probe_exits_0_on_a_200_from_a_live_server(void) {
    server s;
    REQUIRE(serverStart(&s, NULL));
    char port[16];
    snprintf(port, sizeof(port), "%u", s.port);
    run r;
    const char *const before[] = {"--port", port, "--probe", NULL};
    runBinary(before, NULL, &r);
    CHECK_EQ(r.status, 0);
    CHECK(strstr(r.out, "/healthz: 200") != NULL);

    const char *const after[] = {"--probe", "/stats", "--port", port, NULL};
    runBinary(after, NULL, &r);
    CHECK_EQ(r.status, 0);
    CHECK(strstr(r.out, "/stats: 200") != NULL);

    char env[32];
    snprintf(env, sizeof(env), "MEMOSCOPE_PORT=%u", s.port);
    const char *const from_env[] = {"--probe", NULL};
    runBinary(from_env, env, &r);
    CHECK_EQ(r.status, 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void probe_exits_1_on_another_status(void) {
    server s;
    REQUIRE(serverStart(&s, NULL));
    char port[16];
    snprintf(port, sizeof(port), "%u", s.port);
    run r;
    const char *const args[] = {"--probe", "/nope", "--port", port, NULL};
    runBinary(args, NULL, &r);
    CHECK_EQ(r.status, 1);
    CHECK(strstr(r.out, "/nope: 404, not 200") != NULL);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void probe_exits_1_where_nothing_listens(void) {
    char port[16];
    snprintf(port, sizeof(port), "%u", deadPort());
    run r;
    const char *const args[] = {"--probe", "--port", port, NULL};
    runBinary(args, NULL, &r);
    CHECK_EQ(r.status, 1);
    CHECK(strstr(r.out, "Connection refused") != NULL);
}

static void probe_exits_1_within_its_timeout_when_nobody_answers(void) {
    unsigned p = 0;
    int lfd = silentListener(&p);
    REQUIRE(lfd >= 0);
    char port[16];
    snprintf(port, sizeof(port), "%u", p);
    run r;
    const char *const args[] = {"--probe", "--port", port, NULL};
    runBinary(args, NULL, &r);
    close(lfd);
    CHECK_EQ(r.status, 1); /* -1: it was still waiting at RUN_LIMIT_MS */
    CHECK(strstr(r.out, "no answer within") != NULL);
    CHECK_UINT_GE(r.elapsed_ms, PROBE_TIMEOUT_MS); /* it waited its whole timeout */
    CHECK_UINT_LT(r.elapsed_ms, PROBE_TIMEOUT_MS + START_SLACK_MS);
}

static void probe_exits_1_on_an_answer_that_is_not_http(void) {
    unsigned p = 0;
    int lfd = silentListener(&p);
    REQUIRE(lfd >= 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, answerJunk, &lfd) == 0);
    char port[16];
    snprintf(port, sizeof(port), "%u", p);
    run r;
    const char *const args[] = {"--probe", "--port", port, NULL};
    runBinary(args, NULL, &r);
    pthread_join(t, NULL);
    close(lfd);
    CHECK_EQ(r.status, 1);
    CHECK(strstr(r.out, "not HTTP") != NULL);
}

static void probe_refuses_a_bad_path_or_port_0(void) {
    run r;
    const char *const spaced[] = {"--probe=/a b", NULL};
    runBinary(spaced, NULL, &r);
    CHECK_EQ(r.status, 2);
    CHECK(strstr(r.out, "bad --probe") != NULL);
    const char *const relative[] = {"--probe", "healthz", NULL};
    runBinary(relative, NULL, &r);
    CHECK_EQ(r.status, 2);
    const char *const any_port[] = {"--probe", "--port", "0", NULL};
    runBinary(any_port, NULL, &r);
    CHECK_EQ(r.status, 1);
    CHECK(strstr(r.out, "port 0") != NULL);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    static const harnessTest tests[] = {
        TEST(probe_exits_0_on_a_200_from_a_live_server),
        TEST(probe_exits_1_on_another_status),
        TEST(probe_exits_1_where_nothing_listens),
        TEST(probe_exits_1_within_its_timeout_when_nobody_answers),
        TEST(probe_exits_1_on_an_answer_that_is_not_http),
        TEST(probe_refuses_a_bad_path_or_port_0),
    };
    return harnessMain(tests, sizeof(tests) / sizeof(tests[0]));
}
