/* daemon.c -- the HTTP server on libmicrohttpd: the daemon, the dispatcher
 * of the route table (route.h), the connection limit and the graceful stop.
 * The routes themselves live in the layer above (server/routes/), the
 * answers' plumbing in reply.c.
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

#include "connections.h"
#include "counters.h"
#include "duration.h"
#include "framing.h"
#include "reply.h"
#include "text.h"
#include "clock.h"

#define LISTEN_BACKLOG 4096
#define DRAIN_POLL_NS 5000000L
#define FLUSH_NS 1000000000ull /* after the grace, for hurried answers to go out */

static struct {
    httpSettings settings;
    httpRoutes routes;
    struct MHD_Daemon *daemon;
    atomic_bool stopping; /* httpStop has begun: new work gets 503 */
} state;

/* ------------------------------------------------------------ routing */

static enum MHD_Result notFound(routeRequest *rq, const char *data, size_t *size) {
    (void)data;
    (void)size;
    return replyError(rq->conn, MHD_HTTP_NOT_FOUND, "no such path: see GET / for the live page",
                      NULL);
}

static enum MHD_Result wrongMethod(routeRequest *rq, const char *data, size_t *size);

static const routeHandlers not_found = {.next = notFound};
static const routeHandlers wrong_method = {.next = wrongMethod};

/* The index of url's route in the table, or the table's count for none. */
static unsigned findRoute(const char *url) {
    const httpRoutes *t = &state.routes;
    for (unsigned r = 0; r < t->count; r++) {
        const httpRoute *e = &t->route[r];
        if (e->match ? e->match(url) : strcmp(url, e->path) == 0)
            return r;
    }
    return t->count;
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
    const httpRoute *e = &state.routes.route[rq->route];
    textStr(&t, e->path);
    TEXT_LIT(&t, " takes ");
    textStr(&t, e->allow);
    msg[textEnd(&t)] = '\0';
    return replyError(rq->conn, MHD_HTTP_METHOD_NOT_ALLOWED, msg, e->allow);
}

/* ------------------------------------------------------------- dispatcher */

/* The record connections.c keeps of conn's connection (NULL if it has none). */
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
    const char *ambiguous = framingCheck(conn, url, method, version);
    if (ambiguous)
        return replyError(conn, MHD_HTTP_BAD_REQUEST, ambiguous, NULL);

    unsigned r = findRoute(url);
    const routeHandlers *h = r == state.routes.count ? &not_found
                             : allowed(state.routes.route[r].allow, method)
                                 ? state.routes.route[r].h
                                 : &wrong_method;
    if (!h->takes_body && hasBody(conn)) {
        routeRequest now = {conn, method, url, r, h, clockNow(), true};
        return h->next(&now, data, size);
    }
    rq = calloc(1, sizeof(*rq) + h->state_bytes);
    if (!rq)
        return replyError(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory", NULL);
    *rq = (routeRequest){conn, method, url, r, h, clockNow(), false};
    *req_cls = rq;
    return h->begin ? h->begin(rq) : MHD_YES;
}

/* The connection limit. libmicrohttpd's own one makes it stop polling the
 * listen socket when the table is full, so a newcomer waits in the backlog
 * for as long as the table stays full: a hang. This accept policy (connections.c)
 * makes room by closing the connection idle the longest, or refuses the
 * newcomer (libmicrohttpd closes it at once); libmicrohttpd's limit is set
 * where no worker reaches it. A connection counts from here until its
 * CLOSED notification (an allocation failure inside libmicrohttpd between
 * the two would leave it counted: out of memory, the limit is the least of
 * the troubles). */
/* The table's figures, for /stats (counters.h). */
static void readConnections(connectionCounters *c) {
    c->open = connsOpen();
    c->working = connsWorking();
    c->work_slots = state.settings.max_connections;
}

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
    if (!rq->h->times_itself)
        durationObserve(rq->route < state.routes.count ? state.routes.route[rq->route].duration_slot
                                                       : state.routes.other_slot,
                        clockNow() - rq->start_ns);
    free(rq);
    *req_cls = NULL;
}

/* -------------------------------------------------------------------- API */

static bool parseAddress(const httpSettings *cfg, struct sockaddr_storage *sa, bool *v6) {
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

bool httpStart(const httpSettings *settings, const httpRoutes *routes, unsigned *port) {
    struct sockaddr_storage sa;
    bool v6;

    memset(&state, 0, sizeof(state));
    state.settings = *settings;
    state.routes = *routes;
    const httpSettings *cfg = &state.settings;
    connsInit(cfg->max_connections, cfg->reserved_connections);
    countersConnectionsFrom(readConnections);
    if (!parseAddress(cfg, &sa, &v6)) {
        fprintf(stderr, "memoscope: bad bind address '%s'\n", cfg->bind);
        return false;
    }

    /* poll(), not epoll: in 0.9.75 MHD_quiesce_daemon races a pool worker
     * that drops the listen socket from its epoll set first, and panics on
     * the ENOENT; single-thread epoll also stalls past 128 connections (it
     * sleeps in epoll_wait while every socket holds an unread request).
     * poll() has neither problem, and epoll was not faster with the pool
     * (docs/benchmarks.md, "10,000 connections"). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_POLL |
                     (v6 ? MHD_USE_IPv6 : 0);
    /* libmicrohttpd splits its limit evenly between the pool's workers and
     * a worker may be the one to accept every connection: give each worker
     * room for all of them, so that only admit's limit applies; twice,
     * for the connections shut down to make room, which stay in the table
     * until libmicrohttpd has closed them. */
    unsigned workers = cfg->threads > 1 ? cfg->threads : 1;
    unsigned table = cfg->max_connections > UINT_MAX - cfg->reserved_connections
                         ? UINT_MAX
                         : cfg->max_connections + cfg->reserved_connections;
    unsigned mhd_limit = table > UINT_MAX / workers / 2 ? UINT_MAX : table * workers * 2;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &sa},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, NULL},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)connectionNotify, NULL},
        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)framingUnescape, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, mhd_limit, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_connections_per_ip, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)cfg->connection_memory_bytes, NULL},
        {MHD_OPTION_LISTEN_BACKLOG_SIZE, LISTEN_BACKLOG, NULL},
        {cfg->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, cfg->threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    state.daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, admit, NULL, onAccess, NULL,
                                    MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!state.daemon) {
        fprintf(stderr, "memoscope: cannot listen on %s port %u: %s\n", cfg->bind, cfg->port,
                strerror(errno ? errno : EADDRINUSE));
        httpStop(0);
        return false;
    }

    const union MHD_DaemonInfo *di = MHD_get_daemon_info(state.daemon, MHD_DAEMON_INFO_LISTEN_FD);
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

/* Sums one of the routes' wait counts (routeWaits). */
static unsigned waiting(bool suspended) {
    unsigned n = 0;
    for (unsigned r = 0; r < state.routes.count; r++) {
        const routeWaits *w = state.routes.route[r].h->waits;
        if (w)
            n += suspended ? w->suspended() : w->open();
    }
    return n;
}

static void hurryAll(void) {
    for (unsigned r = 0; r < state.routes.count; r++) {
        const routeWaits *w = state.routes.route[r].h->waits;
        if (w)
            w->hurry();
    }
}

bool httpTaking(void) {
    return !atomic_load(&state.stopping);
}

void httpStop(unsigned grace_ms) {
    if (!state.daemon)
        return;
    atomic_store(&state.stopping, true);
    MHD_socket listen_fd = MHD_quiesce_daemon(state.daemon);
    /* Refuse new connections now rather than leave them in the backlog,
     * unanswered until the exit resets them. shutdown, not close: the
     * descriptor stays ours until MHD is stopped, and quiesced workers
     * neither poll nor accept on it. */
    if (listen_fd != MHD_INVALID_SOCKET)
        shutdown(listen_fd, SHUT_RDWR);

    uint64_t deadline = clockNow() + (uint64_t)grace_ms * 1000000ull;
    while (waiting(false) > 0 && clockNow() < deadline)
        nap(DRAIN_POLL_NS);

    /* Grace is over: cut every wait short (a clear of the cache ends at its
     * next step, within one backend reply timeout). Nothing suspends any
     * more, so once the last suspended connection has been resumed,
     * stopping the daemon is safe (0.9.75 aborts on a suspended
     * connection). */
    hurryAll();
    while (waiting(true) > 0)
        nap(DRAIN_POLL_NS / 5);
    /* The last ones resumed have queued their answers, not sent them:
     * stopping now would close their connections with nothing written. A
     * request completes once its answer is sent; give them a bounded
     * moment. */
    uint64_t flush = clockNow() + FLUSH_NS;
    while (waiting(false) > 0 && clockNow() < flush)
        nap(DRAIN_POLL_NS / 5);

    MHD_stop_daemon(state.daemon);
    if (listen_fd != MHD_INVALID_SOCKET)
        close(listen_fd);
    state.daemon = NULL;
}
