/* http.c -- the routes of the contract on libmicrohttpd: the daemon, the
 * route table and its dispatcher (route.h), the small routes, the
 * connection limit and the graceful stop. POST /calculate lives in calc.c,
 * GET and DELETE /cache in cacheroute.c, the answers' plumbing in reply.c.
 */
#include "daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cache_info.h"
#include "calculate.h"
#include "duration.h"
#include "connections.h"
#include "framing.h"
#include "guard.h"
#include "history.h"
#include "instances.h"
#include "page.h"
#include "reply.h"
#include "route.h"
#include "scope.h"
#include "stats.h"
#include "text.h"
#include "timer.h"

/* ------------------------------------------------------------------ types */

typedef enum routeId {
    R_CALCULATE,
    R_STATS,
    R_METRICS,
    R_CACHE,
    R_HEALTHZ,
    R_READYZ,
    R_PAGE,
    R_INSTANCES, /* /instances and /instances/{id} (instancesMatch) */
    R_HISTORY,
    R_NONE /* no such path */
} routeId;

#define LISTEN_BACKLOG 4096
#define DRAIN_POLL_NS 5000000L
#define FLUSH_NS 1000000000ull /* after the grace, for hurried answers to go out */

static struct {
    const config *cfg;
    struct MHD_Daemon *daemon;
    struct MHD_Response *ok; /* the fixed answers, built once, shared */
    struct MHD_Response *page;
} H;

/* ------------------------------------------------------------ small routes */

/* Each answers on its call after the first (route.h); none takes a body. */

static enum MHD_Result statsRoute(routeRequest *rq, const char *data, size_t *size) {
    (void)data;
    (void)size;
    char buf[STATS_BUF_BYTES];
    statsSnapshot s;
    statsTake(&s, H.cfg);
    bool prometheus = rq->route == R_METRICS;
    size_t n = prometheus ? statsFormatPrometheus(&s, buf, sizeof(buf))
                          : statsFormatJson(&s, buf, sizeof(buf));
    if (n == 0)
        return replyError(rq->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "statistics do not fit", NULL);
    return replyQueue(rq->conn, MHD_HTTP_OK, prometheus ? REPLY_PROMETHEUS : REPLY_JSON, buf, n,
                      NULL);
}

static enum MHD_Result healthzRoute(routeRequest *rq, const char *data, size_t *size) {
    (void)data;
    (void)size;
    if (!calcTaking())
        return replyError(rq->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    return replyShared(rq->conn, H.ok);
}

static enum MHD_Result pageRoute(routeRequest *rq, const char *data, size_t *size) {
    (void)data;
    (void)size;
    return replyShared(rq->conn, H.page);
}

static enum MHD_Result notFound(routeRequest *rq, const char *data, size_t *size) {
    (void)data;
    (void)size;
    return replyError(rq->conn, MHD_HTTP_NOT_FOUND, "no such path: see GET / for the live page",
                      NULL);
}

static enum MHD_Result wrongMethod(routeRequest *rq, const char *data, size_t *size);

#define SMALL_ROUTE(fn)                                                                            \
    { .next = (fn) }

static const routeHandlers stats_handlers = SMALL_ROUTE(statsRoute);
static const routeHandlers healthz_handlers = SMALL_ROUTE(healthzRoute);
static const routeHandlers page_handlers = SMALL_ROUTE(pageRoute);
static const routeHandlers not_found = SMALL_ROUTE(notFound);
static const routeHandlers wrong_method = SMALL_ROUTE(wrongMethod);

/* ------------------------------------------------------------ route table */

static const struct {
    const char *path;
    const char *allow; /* the methods it takes: the Allow header of a 405 */
    const routeHandlers *h;
} routes[] = {
    [R_CALCULATE] = {"/calculate", "POST", &calc_handlers},
    [R_STATS] = {"/stats", "GET, HEAD", &stats_handlers},
    [R_METRICS] = {"/metrics", "GET, HEAD", &stats_handlers},
    [R_CACHE] = {"/cache", "GET, HEAD, DELETE", &cache_handlers},
    [R_HEALTHZ] = {"/healthz", "GET, HEAD", &healthz_handlers},
    [R_READYZ] = {"/readyz", "GET, HEAD", &readyz_handlers},
    [R_PAGE] = {"/", "GET, HEAD", &page_handlers},
    [R_INSTANCES] = {INSTANCES_PATH, "GET, HEAD", &instances_handlers},
    [R_HISTORY] = {"/history", "GET, HEAD", &history_handlers},
};

static routeId findRoute(const char *url) {
    for (routeId r = 0; r < R_NONE; r++)
        if (strcmp(url, routes[r].path) == 0)
            return r;
    return instancesMatch(url) ? R_INSTANCES : R_NONE;
}

/* Is method one of the comma-separated tokens of allow? */
static bool allowed(const char *allow, const char *method) {
    size_t m = strlen(method);
    for (const char *p = allow; *p;) {
        size_t n = strcspn(p, ",");
        if (n == m && strncmp(p, method, m) == 0)
            return true;
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return false;
}

static enum MHD_Result wrongMethod(routeRequest *rq, const char *data, size_t *size) {
    (void)data;
    (void)size;
    char msg[96];
    textBuf t = textOn(msg, sizeof(msg) - 1); /* room for the NUL */
    textStr(&t, routes[rq->route].path);
    TEXT_LIT(&t, " takes ");
    textStr(&t, routes[rq->route].allow);
    msg[textEnd(&t)] = '\0';
    return replyError(rq->conn, MHD_HTTP_METHOD_NOT_ALLOWED, msg, routes[rq->route].allow);
}

/* ------------------------------------------------------------- dispatcher */

/* The record conns.c keeps of conn's connection (NULL if it has none). */
static connsEntry *connEntry(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* Does the request announce a body? */
static bool hasBody(struct MHD_Connection *conn) {
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return (cl && strtoull(cl, NULL, 10) > 0) ||
           MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

/* The handler of every call of every request; the one place of route.h's
 * rule: the first call makes the request's state and begins the route,
 * every later one goes to the route's next. A request with a body on a
 * route that takes none is answered at once (connection closed) rather
 * than read. */
static enum MHD_Result onAccess(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *data,
                                size_t *size, void **req_cls) {
    (void)cls;
    routeRequest *rq = *req_cls;
    if (rq)
        return rq->h->next(rq, data, size);

    connsBusy(connEntry(conn));
    /* Answered on the first call: libmicrohttpd closes the connection. */
    const char *ambiguous = framingCheck(conn, version);
    if (ambiguous)
        return replyError(conn, MHD_HTTP_BAD_REQUEST, ambiguous, NULL);

    routeId r = findRoute(url);
    const routeHandlers *h = r == R_NONE                        ? &not_found
                             : allowed(routes[r].allow, method) ? routes[r].h
                                                                : &wrong_method;
    if (!h->takes_body && hasBody(conn)) {
        routeRequest now = {conn, method, url, r, h, timerNow(), true};
        return h->next(&now, data, size);
    }
    rq = calloc(1, sizeof(*rq) + h->state_bytes);
    if (!rq)
        return replyError(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory", NULL);
    *rq = (routeRequest){conn, method, url, r, h, timerNow(), false};
    *req_cls = rq;
    return h->begin ? h->begin(rq) : MHD_YES;
}

/* The connection limit. libmicrohttpd's own one makes it stop polling the
 * listen socket when the table is full, so a newcomer waits in the backlog
 * for as long as the table stays full: a hang. This accept policy (conns.c)
 * makes room by closing the connection idle the longest, or refuses the
 * newcomer (libmicrohttpd closes it at once); libmicrohttpd's limit is set
 * where no worker reaches it. A connection counts from here until its
 * CLOSED notification (an allocation failure inside libmicrohttpd between
 * the two would leave it counted: out of memory, the limit is the least of
 * the troubles). */
static enum MHD_Result admit(void *cls, const struct sockaddr *addr, socklen_t addrlen) {
    (void)cls;
    (void)addr;
    (void)addrlen;
    return connsAdmit() ? MHD_YES : MHD_NO;
}

static void connectionNotify(void *cls, struct MHD_Connection *conn, void **socket_context,
                             enum MHD_ConnectionNotificationCode toe) {
    (void)cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? connsOpened(ci->connect_fd) : NULL;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        connsClosed(*socket_context);
        *socket_context = NULL;
    }
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                      enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)toe;
    connsIdle(connEntry(conn));
    routeRequest *rq = *req_cls;
    if (!rq)
        return; /* answered on its first call, without state */
    if (rq->h->done)
        rq->h->done(rq);
    if (rq->h != &calc_handlers) /* calc times itself, with its cached label */
        durationObserve(rq->route == R_CALCULATE ? DURATION_CALC_MISSED : DURATION_ROUTE(rq->route),
                        timerNow() - rq->start_ns);
    free(rq);
    *req_cls = NULL;
}

/* -------------------------------------------------------------------- API */

static bool parseAddress(const config *cfg, struct sockaddr_storage *sa, bool *v6) {
    memset(sa, 0, sizeof(*sa));
    struct sockaddr_in *in4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
    if (inet_pton(AF_INET, cfg->bind, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)cfg->port);
        *v6 = false;
        return true;
    }
    if (inet_pton(AF_INET6, cfg->bind, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)cfg->port);
        *v6 = true;
        return true;
    }
    return false;
}

bool httpStart(const config *cfg, unsigned *port) {
    static const char ok[] = "{\"status\":\"ok\"}\n";
    struct sockaddr_storage sa;
    bool v6;

    memset(&H, 0, sizeof(H));
    H.cfg = cfg;
    calcInit(cfg);
    instancesInit(cfg);
    durationName(DURATION_CALC_CACHED, routes[R_CALCULATE].path, "true");
    durationName(DURATION_CALC_MISSED, routes[R_CALCULATE].path, "false");
    for (routeId r = R_CALCULATE + 1; r <= R_NONE; r++)
        durationName(DURATION_ROUTE(r), r == R_NONE ? "other" : routes[r].path, NULL);
    connsInit(cfg->max_connections);
    if (!parseAddress(cfg, &sa, &v6)) {
        fprintf(stderr, "memoscope: bad bind address '%s'\n", cfg->bind);
        return false;
    }
    H.ok = replyPrebuilt(ok, sizeof(ok) - 1, REPLY_JSON);
    H.page = replyPrebuilt(page_index_html, page_index_html_len, REPLY_HTML);
    if (!H.ok || !H.page) {
        httpStop(0);
        return false;
    }

    /* poll(), not epoll: in 0.9.75 MHD_quiesce_daemon races a pool worker
     * that drops the listen socket from its epoll set first, and panics on
     * the ENOENT (seen in our SIGTERM tests); single-thread epoll also stalls
     * past 128 connections (70k req/s at 64, a few req/s at 256: it sleeps in
     * epoll_wait while every socket holds an unread request). poll() has
     * neither problem, and epoll was not faster with the pool: at 10,000
     * waiting connections 97.6 % against 96.4 % of connections / delay,
     * 4 µs more CPU a request, a longer /healthz p99 (README, "10,000
     * connections"). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_POLL |
                     (v6 ? MHD_USE_IPv6 : 0);
    /* libmicrohttpd splits its limit evenly between the pool's workers and
     * a worker may be the one to accept every connection: give each worker
     * room for all of them, so that only admit's limit applies; twice,
     * for the connections shut down to make room, which stay in the table
     * until libmicrohttpd has closed them. */
    unsigned workers = cfg->threads > 1 ? cfg->threads : 1;
    unsigned mhd_limit = cfg->max_connections > UINT_MAX / workers / 2
                             ? UINT_MAX
                             : cfg->max_connections * workers * 2;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &sa},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, NULL},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)connectionNotify, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, mhd_limit, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_connections_per_ip, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)cfg->connection_memory_bytes, NULL},
        {MHD_OPTION_LISTEN_BACKLOG_SIZE, LISTEN_BACKLOG, NULL},
        {cfg->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, cfg->threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    H.daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, admit, NULL, onAccess, NULL,
                                MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!H.daemon) {
        fprintf(stderr, "memoscope: cannot listen on %s port %u: %s\n", cfg->bind, cfg->port,
                strerror(errno ? errno : EADDRINUSE));
        httpStop(0);
        return false;
    }

    const union MHD_DaemonInfo *di = MHD_get_daemon_info(H.daemon, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    *port = cfg->port;
    if (di && getsockname(di->listen_fd, (struct sockaddr *)&bound, &blen) == 0)
        *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    return true;
}

static void nap(long ns) {
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

void httpStop(unsigned grace_ms) {
    if (H.daemon) {
        calcStopTaking();
        MHD_socket listen_fd = MHD_quiesce_daemon(H.daemon);
        /* Refuse new connections now rather than leave them in the backlog,
         * unanswered until the exit resets them. shutdown, not close: the
         * descriptor stays ours until MHD is stopped, and quiesced workers
         * neither poll nor accept on it. */
        if (listen_fd != MHD_INVALID_SOCKET)
            shutdown(listen_fd, SHUT_RDWR);

        uint64_t deadline = timerNow() + (uint64_t)grace_ms * 1000000ull;
        while (calcOpen() + cacheRouteOpen() > 0 && timerNow() < deadline)
            nap(DRAIN_POLL_NS);

        /* Grace is over: cut every wait short (a clear of the cache ends at
         * its next step, within one backend reply timeout). Nothing suspends
         * any more, so once the last suspended connection has been resumed,
         * stopping the daemon is safe (0.9.75 aborts on a suspended
         * connection). */
        calcHurry();
        cacheRouteHurry();
        while (calcSuspended() + cacheRouteSuspended() > 0)
            nap(DRAIN_POLL_NS / 5);
        /* The last ones resumed have queued their answers, not sent them:
         * stopping now would close their connections with nothing written
         * (seen: 45 of 64 hurried answers lost). A request completes once
         * its answer is sent; give them a bounded moment. */
        uint64_t flush = timerNow() + FLUSH_NS;
        while (calcOpen() + cacheRouteOpen() > 0 && timerNow() < flush)
            nap(DRAIN_POLL_NS / 5);

        MHD_stop_daemon(H.daemon);
        if (listen_fd != MHD_INVALID_SOCKET)
            close(listen_fd);
        H.daemon = NULL;
    }
    if (H.ok)
        MHD_destroy_response(H.ok);
    if (H.page)
        MHD_destroy_response(H.page);
    H.ok = H.page = NULL;
}
