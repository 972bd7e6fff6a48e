/* harness.c -- the real server, started and asked, for integration tests. */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#define START_TIMEOUT_MS 10000
#define MAX_ARGS 64
#define REQUEST_TIMEOUT_MS 30000L

/* ---------------------------------------------------------------- checks */

/* The servers started and not yet stopped, by value: a case that a REQUIRE
 * stopped has left its frame (and its server struct) behind. */
#define MAX_LIVE 64
static struct {
    pid_t pid;
    int log_fd;
} live[MAX_LIVE];

static void liveAdd(const server *s) {
    for (size_t i = 0; i < MAX_LIVE; i++)
        if (live[i].pid <= 0) {
            live[i].pid = s->pid;
            live[i].log_fd = s->log_fd;
            return;
        }
}

static void liveRemove(pid_t pid) {
    for (size_t i = 0; i < MAX_LIVE; i++)
        if (live[i].pid == pid)
            live[i].pid = 0;
}

/* After each case: stops (by PID) every server the case left running. */
static void stopLeftovers(void) {
    for (size_t i = 0; i < MAX_LIVE; i++) {
        if (live[i].pid <= 0)
            continue;
        fprintf(stderr, "  the case left server %d running: killing it\n", (int)live[i].pid);
        kill(live[i].pid, SIGKILL);
        waitpid(live[i].pid, NULL, 0);
        close(live[i].log_fd);
        live[i].pid = 0;
    }
}

int harnessMain(const harnessTest *tests, size_t n) {
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    checkOnCaseEnd(stopLeftovers);
    int status = checkMain(tests, n);
    curl_global_cleanup();
    return status;
}

uint64_t nowMs(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---------------------------------------------------------------- server */

/* Reads the server's stderr until the startup line gives the port. */
static bool readPort(server *s) {
    char buf[4096];
    size_t len = 0;
    uint64_t deadline = nowMs() + START_TIMEOUT_MS;
    while (nowMs() < deadline && len < sizeof(buf) - 1) {
        struct pollfd p = {s->log_fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(s->log_fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            return false; /* it exited */
        len += (size_t)n;
        buf[len] = '\0';
        char *port = strstr(buf, " port=");
        if (port && strchr(port, '\n')) {
            s->port = (unsigned)strtoul(port + 6, NULL, 10);
            fputs(buf, stderr);
            return s->port != 0;
        }
    }
    return false;
}

bool serverStart(server *s, const char *const *args) {
    const char *argv[MAX_ARGS + 6] = {MEMOSCOPE_BIN, "--bind", "127.0.0.1", "--port", "0"};
    size_t argc = 5;
    for (size_t i = 0; args && args[i] && i < MAX_ARGS; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;

    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return false;
    memset(s, 0, sizeof(*s));
    s->pid = fork();
    if (s->pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return false;
    }
    if (s->pid == 0) {
        dup2(pipefd[1], STDERR_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    s->log_fd = pipefd[0];
    liveAdd(s);
    if (!readPort(s)) {
        fprintf(stderr, "  the server did not start\n");
        serverStop(s, SIGKILL, 1000);
        return false;
    }
    return true;
}

/* Copies what the server wrote since the startup line to our stderr. */
static void drainLog(server *s) {
    char buf[4096];
    int flags = fcntl(s->log_fd, F_GETFL);
    fcntl(s->log_fd, F_SETFL, flags | O_NONBLOCK);
    ssize_t n;
    while ((n = read(s->log_fd, buf, sizeof(buf))) > 0)
        fwrite(buf, 1, (size_t)n, stderr);
}

int serverStop(server *s, int sig, unsigned timeout_ms) {
    if (s->pid <= 0)
        return -1;
    kill(s->pid, sig);
    uint64_t deadline = nowMs() + timeout_ms;
    int status = 0;
    pid_t r;
    struct timespec nap = {0, 5000000};
    while ((r = waitpid(s->pid, &status, WNOHANG)) == 0 && nowMs() < deadline) {
        drainLog(s); /* keep the pipe from filling while it stops */
        nanosleep(&nap, NULL);
    }
    if (r == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
        status = -1;
    } else if (WIFEXITED(status)) {
        status = WEXITSTATUS(status);
    } else {
        status = 128 + WTERMSIG(status);
    }
    drainLog(s);
    close(s->log_fd);
    liveRemove(s->pid);
    s->pid = 0;
    return status;
}

/* ---------------------------------------------------------------- HTTP */

static size_t collect(char *data, size_t size, size_t n, void *arg) {
    reply *r = arg;
    size_t add = size * n;
    char *grown = realloc(r->body, r->len + add + 1);
    if (!grown)
        return 0;
    r->body = grown;
    memcpy(r->body + r->len, data, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static size_t header(char *data, size_t size, size_t n, void *arg) {
    reply *r = arg;
    size_t len = size * n;
    static const struct {
        const char *name;
        size_t off;
    } wanted[] = {{"content-type:", offsetof(reply, content_type)},
                  {"allow:", offsetof(reply, allow)}};
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        size_t k = strlen(wanted[i].name);
        if (len > k && strncasecmp(data, wanted[i].name, k) == 0) {
            char *dst = (char *)r + wanted[i].off;
            size_t v = len - k;
            const char *val = data + k;
            while (v && (*val == ' '))
                val++, v--;
            while (v && (val[v - 1] == '\r' || val[v - 1] == '\n'))
                v--;
            if (v > 127)
                v = 127;
            memcpy(dst, val, v);
            dst[v] = '\0';
        }
    }
    return len;
}

/* An easy handle set up for one request whose answer goes into r. */
static CURL *easyHandle(const server *s, const char *method, const char *path, const char *body,
                        reply *r) {
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", s->port, path);
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    return c;
}

reply httpDo(const server *s, const char *method, const char *path, const char *body) {
    reply r = {0};
    CURL *c = easyHandle(s, method, path, body, &r);
    if (c && curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    if (!r.body)
        r.body = calloc(1, 1);
    return r;
}

static void *many(void *arg) {
    httpMany *m = arg;
    CURLM *multi = curl_multi_init();
    CURL **easy = calloc(m->n, sizeof(*easy));
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    for (size_t i = 0; i < m->n; i++) {
        easy[i] = easyHandle(m->s, m->method, m->path, m->bodies[i], &m->replies[i]);
        curl_multi_add_handle(multi, easy[i]);
    }
    int running = 1;
    while (running) {
        curl_multi_perform(multi, &running);
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    for (size_t i = 0; i < m->n; i++) {
        curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &m->replies[i].status);
        curl_multi_remove_handle(multi, easy[i]);
        curl_easy_cleanup(easy[i]);
        if (!m->replies[i].body)
            m->replies[i].body = calloc(1, 1);
    }
    free(easy);
    curl_multi_cleanup(multi);
    return NULL;
}

bool httpManyStart(httpMany *m) {
    m->replies = calloc(m->n, sizeof(*m->replies));
    if (!m->replies)
        return false;
    return pthread_create(&m->thread, NULL, many, m) == 0;
}

void httpManyJoin(httpMany *m) {
    pthread_join(m->thread, NULL);
}

void replyFree(reply *r) {
    free(r->body);
    r->body = NULL;
}

/* ---------------------------------------------------------------- raw */

int rawConnect(const server *s) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

bool rawSendAll(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool rawRequest(int fd, const char *method, const char *path, const char *body) {
    char req[RAW_REQUEST_MAX];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n\r\n%s", method,
                     path, body ? strlen(body) : 0, body ? body : "");
    if (n < 0 || (size_t)n >= sizeof(req))
        return false;
    return rawSendAll(fd, req, (size_t)n);
}

int rawRead(int fd, unsigned timeout_ms, char *out, size_t cap) {
    char buf[131072]; /* /metrics, with its histograms, is ~20 KiB */
    size_t len = 0;
    uint64_t deadline = nowMs() + timeout_ms;
    for (;;) {
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            const char *cl = strcasestr(buf, "\r\ncontent-length:");
            size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
            size_t have = len - (size_t)(end + 4 - buf);
            if (have >= want) {
                snprintf(out, cap, "%.*s", (int)want, end + 4);
                return atoi(buf + 9); /* "HTTP/1.1 200" */
            }
        }
        uint64_t now = nowMs();
        if (now >= deadline || len >= sizeof(buf) - 1)
            return 0;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(deadline - now)) <= 0)
            continue;
        ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            return 0;
        len += (size_t)n;
    }
}

/* ---------------------------------------------------------------- JSON */

/* cJSON gives the structure; the number's own text gives its exact value
 * (cJSON holds numbers as doubles, exact only up to 2^53). */
static const char *findKey(const char *json, const char *path, char *key, size_t keycap) {
    const char *p = json;
    const char *seg = path;
    while (*seg) {
        size_t n = strcspn(seg, ".");
        snprintf(key, keycap, "\"%.*s\":", (int)n, seg);
        p = strstr(p, key);
        if (!p)
            return NULL;
        p += strlen(key);
        seg += n;
        if (*seg == '.')
            seg++;
    }
    while (*p == ' ')
        p++;
    return p;
}

long long jsonInt(const char *json, const char *path) {
    cJSON *root = cJSON_Parse(json);
    if (!root)
        return LLONG_MIN;
    cJSON_Delete(root);
    char key[128];
    const char *p = findKey(json, path, key, sizeof(key));
    if (!p || !(*p == '-' || (*p >= '0' && *p <= '9')))
        return LLONG_MIN;
    errno = 0;
    char *end;
    long long v = strtoll(p, &end, 10);
    if (errno || *end == '.' || *end == 'e' || *end == 'E')
        return LLONG_MIN;
    return v;
}

bool jsonStrEq(const char *json, const char *path, const char *want) {
    cJSON *root = cJSON_Parse(json);
    if (!root)
        return false;
    cJSON *node = root;
    char seg[64];
    for (const char *p = path; node && *p;) {
        size_t n = strcspn(p, ".");
        snprintf(seg, sizeof(seg), "%.*s", (int)n, p);
        node = cJSON_GetObjectItemCaseSensitive(node, seg);
        p += n + (p[n] == '.');
    }
    bool eq = node && cJSON_IsString(node) && strcmp(node->valuestring, want) == 0;
    cJSON_Delete(root);
    return eq;
}

long long statsInt(const server *s, const char *path) {
    reply r = httpDo(s, "GET", "/stats", NULL);
    long long v = r.status == 200 ? jsonInt(r.body, path) : LLONG_MIN;
    replyFree(&r);
    return v;
}

long long waitStatsInt(const server *s, const char *path, long long want, unsigned timeout_ms) {
    uint64_t deadline = nowMs() + timeout_ms;
    struct timespec nap = {0, 10000000};
    long long v;
    while ((v = statsInt(s, path)) != want && nowMs() < deadline)
        nanosleep(&nap, NULL);
    return v;
}
