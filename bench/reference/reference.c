/* reference.c -- the ceiling for memoscope: the smallest libmicrohttpd
 * program that answers POST /calculate {"a": 1, "b": 2} with {"result": 3}.
 *
 *   reference [--port N] [--bind ADDR] [--threads N]
 *
 * It parses the body with cJSON as memoscope does and runs libmicrohttpd the
 * way memoscope's httpStart does (internal polling thread in poll() mode, a
 * thread pool when --threads > 1, suspend/resume allowed, the same
 * connection limit, timeout and backlog), so that the difference between the
 * two is memoscope's own code: no scope, no SlowAdder, no statistics.
 * Writes "reference listening on ADDR port=N threads=N" to stderr; SIGTERM or
 * SIGINT stops it and it exits 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#define BODY_CAP 1024 /* larger bodies get 413: the benchmark sends ~20 bytes */
#define MAX_CONNECTIONS 4096
#define TIMEOUT_S 30
#define LISTEN_BACKLOG 4096
#define ANSWER_BYTES 64
#define JSON_TYPE "application/json"

typedef struct body {
    size_t len;
    char buf[BODY_CAP + 1];
} body;

/* ---------------------------------------------------------------- private */

static enum MHD_Result _answer(struct MHD_Connection *conn, unsigned status, const char *text,
                               size_t len) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, JSON_TYPE);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

#define ANSWER_LITERAL(conn, status, text) _answer(conn, status, text, sizeof(text) - 1)

#define MAX_INT 9007199254740991.0 /* 2^53 - 1, as in docs/api.md */

static bool _isInt(const cJSON *item) {
    return cJSON_IsNumber(item) && item->valuedouble >= -MAX_INT && item->valuedouble <= MAX_INT;
}

/* Both fields are JSON numbers within +-(2^53 - 1); anything else is a 400. */
static bool _sum(const body *b, long long *out) {
    cJSON *root = cJSON_ParseWithLength(b->buf, b->len + 1); /* + 1: the NUL */
    if (!root)
        return false;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "a");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "b");
    bool ok = _isInt(a) && _isInt(c);
    if (ok)
        *out = (long long)a->valuedouble + (long long)c->valuedouble;
    cJSON_Delete(root);
    return ok;
}

static enum MHD_Result _access(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **req_cls) {
    (void)cls;
    (void)version;
    body *b = *req_cls;
    if (!b) {
        if (strcmp(url, "/calculate") != 0)
            return ANSWER_LITERAL(conn, MHD_HTTP_NOT_FOUND, "{\"error\":\"no such path\"}");
        if (strcmp(method, "POST") != 0)
            return ANSWER_LITERAL(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "{\"error\":\"POST only\"}");
        b = malloc(sizeof(*b));
        if (!b)
            return MHD_NO;
        b->len = 0;
        *req_cls = b;
        return MHD_YES;
    }
    if (*size) {
        if (b->len + *size > BODY_CAP) {
            *size = 0;
            b->len = BODY_CAP + 1; /* too large (for good): answered when the body ends */
            return MHD_YES;
        }
        memcpy(b->buf + b->len, data, *size);
        b->len += *size;
        *size = 0;
        return MHD_YES;
    }
    if (b->len > BODY_CAP)
        return ANSWER_LITERAL(conn, MHD_HTTP_CONTENT_TOO_LARGE, "{\"error\":\"body too large\"}");
    b->buf[b->len] = '\0';
    long long sum;
    if (!_sum(b, &sum))
        return ANSWER_LITERAL(conn, MHD_HTTP_BAD_REQUEST,
                              "{\"error\":\"want {\\\"a\\\": 1, "
                              "\\\"b\\\": 2}\"}");
    char text[ANSWER_BYTES];
    int n = snprintf(text, sizeof(text), "{\"result\":%lld}", sum);
    return _answer(conn, MHD_HTTP_OK, text, (size_t)n);
}

static void _completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                       enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)conn;
    (void)toe;
    free(*req_cls);
    *req_cls = NULL;
}

static bool _argUint(const char *s, unsigned max, unsigned *out) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

static int _usage(void) {
    fprintf(stderr, "usage: reference [--port N] [--bind IPv4] [--threads N]\n");
    return 2;
}

/* -------------------------------------------------------------------- main */

int main(int argc, char **argv) {
    unsigned port = 8080, threads = 1;
    const char *bind = "127.0.0.1";
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return _usage();
        if (strcmp(argv[i], "--port") == 0 && _argUint(v, 65535, &port))
            i++;
        else if (strcmp(argv[i], "--threads") == 0 && _argUint(v, 256, &threads) && threads)
            i++;
        else if (strcmp(argv[i], "--bind") == 0)
            bind = argv[++i];
        else
            return _usage();
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, bind, &sa.sin_addr) != 1)
        return _usage();

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    /* memoscope's setup, option for option (server/http/daemon.c, httpStart). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_POLL;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &sa},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)_completed, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, MAX_CONNECTIONS, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, TIMEOUT_S, NULL},
        {MHD_OPTION_LISTEN_BACKLOG_SIZE, LISTEN_BACKLOG, NULL},
        {threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, _access, NULL,
                                            MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "reference: cannot listen on %s port %u\n", bind, port);
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, "reference listening on %s port=%u threads=%u\n", bind, di ? di->port : port,
            threads);

    int sig = 0;
    sigwait(&stop, &sig);
    MHD_stop_daemon(d);
    fprintf(stderr, "reference: stopped\n");
    return 0;
}
