/* http.c -- the routes of the contract on libmicrohttpd.
 *
 * A POST /calculate goes through phases, one handler call or more each:
 *
 *   BODY     gather the body across calls (up to max_body_bytes)
 *   RUN      parse it, make the SlowAdder, look each call up in the scope
 *   TIMER    suspended on a miss until the timer thread resumes it
 *   FLIGHT   suspended behind the same key's computation (shared scope)
 *   ANSWERED a response is queued; what the client still sends is dropped
 *
 * The other routes answer on their first call. Per-request state is freed
 * in the completion callback, whatever the outcome.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "adder.h"
#include "page.h"
#include "request.h"
#include "scope.h"
#include "stats.h"
#include "timer.h"

/* ------------------------------------------------------------------ types */

typedef enum routeId {
    R_CALCULATE,
    R_STATS,
    R_METRICS,
    R_CACHE,
    R_HEALTHZ,
    R_PAGE,
    R_NONE
} routeId;

static const struct {
    const char *path;
    const char *allow; /* the Allow header of a 405 */
} routes[] = {
    [R_CALCULATE] = {"/calculate", "POST"},  [R_STATS] = {"/stats", "GET, HEAD"},
    [R_METRICS] = {"/metrics", "GET, HEAD"}, [R_CACHE] = {"/cache", "GET, HEAD, DELETE"},
    [R_HEALTHZ] = {"/healthz", "GET, HEAD"}, [R_PAGE] = {"/", "GET, HEAD"},
};

typedef enum phase { PH_BODY, PH_TIMER, PH_FLIGHT, PH_ANSWERED } phase;

/* How a waiter and its handler agree on who resumes the connection: the
 * wake may come before the handler has suspended it. */
enum { W_IDLE, W_SUSPENDED, W_WOKEN };

/* A body this small (every single call) is kept in the request's state,
 * without an allocation of its own. */
#define BODY_INLINE_BYTES 256

typedef struct calcState {
    struct MHD_Connection *conn;
    phase phase;
    uint64_t start_ns;
    char *body; /* body_len bytes + '\0': body_inline, or owned when larger */
    size_t body_len, body_cap;
    size_t dropped; /* body bytes past max_body_bytes, read and dropped */
    calcRequest req;
    adder *ad; /* the request's reference */
    unsigned next;
    int64_t results[REQUEST_MAX_CALLS];
    bool cached[REQUEST_MAX_CALLS];
    timer tm;
    scopeWaiter waiter;
    atomic_int wait_state;
    bool suspended; /* counted in H.suspended; the handler has not run since */
    bool ended;     /* counted out of requests in flight */
    char body_inline[BODY_INLINE_BYTES];
} calcState;

#define JSON_TYPE "application/json"
#define PROMETHEUS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define HTML_TYPE "text/html; charset=utf-8"
#define LISTEN_BACKLOG 4096
#define ANSWER_BYTES 8192 /* a batch of 64 results fits with room to spare */
#define ERROR_BYTES 512
#define NS_PER_TENTH_MS 100000ull
/* A body with no Content-Length that outgrows max_body_bytes is read on and
 * dropped, up to this much more, so that it can get its 413 once it ends
 * (libmicrohttpd takes an answer only before the body or after all of it);
 * a longer one is cut short by closing the connection. */
#define DROP_MAX_BYTES (1u << 20)
#define DRAIN_POLL_NS 5000000L
#define FLUSH_NS 1000000000ull /* after the grace, for hurried answers to go out */

static struct {
    const config *cfg;
    struct MHD_Daemon *daemon;
    atomic_bool shutting_down;
    atomic_bool hurry;       /* grace period over: no more waiting */
    atomic_uint suspended;   /* connections suspended now */
    atomic_uint open;        /* calculate requests not yet completed by MHD */
    atomic_uint connections; /* admitted by _admit and not closed yet */
    struct MHD_Response *ok; /* the fixed answers, built once, shared */
    struct MHD_Response *page;
} H;

/* ---------------------------------------------------------------- answers */

static enum MHD_Result _queue(struct MHD_Connection *conn, unsigned status, const char *type,
                              const char *body, size_t len, const char *allow) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    if (status >= 400 && ret == MHD_YES) /* an answer the client will get */
        statsError();
    return ret;
}

/* The 200 answer of a POST /calculate. No Cache-Control: caches store no
 * answer to a POST that lacks explicit freshness (RFC 9110, 9.3.3), and each
 * header costs libmicrohttpd three allocations on every request. */
static enum MHD_Result _queueAnswer(struct MHD_Connection *conn, const char *body, size_t len) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, JSON_TYPE);
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* {"error": msg}, with msg escaped; bytes outside ASCII become '?' so that
 * a field name from the client can never make the answer invalid JSON. */
static enum MHD_Result _error(struct MHD_Connection *conn, unsigned status, const char *msg,
                              const char *allow) {
    char buf[ERROR_BYTES];
    size_t n = 0;
    const size_t room = sizeof(buf) - 8; /* for an escape and the closing "} */
    n += (size_t)snprintf(buf, sizeof(buf), "{\"error\":\"");
    for (const unsigned char *p = (const unsigned char *)msg; *p && n < room; p++) {
        if (*p == '"' || *p == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)*p;
        } else if (*p < 0x20) {
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\\u%04x", *p);
        } else {
            buf[n++] = *p < 0x80 ? (char)*p : '?';
        }
    }
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\"}");
    return _queue(conn, status, JSON_TYPE, buf, n, allow);
}

static enum MHD_Result _shared(struct MHD_Connection *conn, struct MHD_Response *r) {
    return MHD_queue_response(conn, MHD_HTTP_OK, r);
}

static struct MHD_Response *_prebuilt(const void *body, size_t len, const char *type) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (r) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    }
    return r;
}

/* ------------------------------------------------------------ other routes */

static enum MHD_Result _stats(struct MHD_Connection *conn, bool prometheus) {
    char buf[STATS_BUF_BYTES];
    statsSnapshot s;
    statsTake(&s, H.cfg);
    size_t n = prometheus ? statsFormatPrometheus(&s, buf, sizeof(buf))
                          : statsFormatJson(&s, buf, sizeof(buf));
    if (n == 0)
        return _error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "statistics do not fit", NULL);
    return _queue(conn, MHD_HTTP_OK, prometheus ? PROMETHEUS_TYPE : JSON_TYPE, buf, n, NULL);
}

static enum MHD_Result _cache(struct MHD_Connection *conn, bool clear) {
    char buf[256];
    int n;
    if (clear) {
        uint64_t entries, instances;
        scopeCacheClear(&entries, &instances);
        /* Hand the freed pages back to the kernel, so that RSS falls with
         * the instances, as a person watching the live page expects. */
        if (entries > 0)
            malloc_trim(0);
        n = snprintf(buf, sizeof(buf), "{\"entries_freed\":%llu,\"instances_freed\":%llu}",
                     (unsigned long long)entries, (unsigned long long)instances);
    } else {
        memoInfo info = scopeCacheInfo();
        char maxsize[CONFIG_MAXSIZE_LEN];
        n = snprintf(buf, sizeof(buf),
                     "{\"hits\":%llu,\"misses\":%llu,\"maxsize\":%s,\"currsize\":%zu}",
                     (unsigned long long)info.hits, (unsigned long long)info.misses,
                     configMaxsizeText(info.maxsize, "null", maxsize), info.currsize);
    }
    return _queue(conn, MHD_HTTP_OK, JSON_TYPE, buf, (size_t)n, NULL);
}

/* -------------------------------------------------------------- calculate */

static void _timerFired(timer *t) {
    calcState *cs = (calcState *)((char *)t - offsetof(calcState, tm));
    MHD_resume_connection(cs->conn);
}

static void _flightDone(scopeWaiter *w) {
    calcState *cs = (calcState *)((char *)w - offsetof(calcState, waiter));
    if (atomic_exchange(&cs->wait_state, W_WOKEN) == W_SUSPENDED)
        MHD_resume_connection(cs->conn);
}

/* A suspended connection's client may have gone: MHD does not look while it
 * is suspended. A peek at the socket tells. */
static bool _clientGone(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    char c;
    ssize_t n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void _record(calcState *cs, int64_t value, bool cached) {
    cs->results[cs->next] = value;
    cs->cached[cs->next] = cached;
    cs->next++;
}

/* The request's work is over: its instance is released and it leaves the
 * in-flight count before its answer is queued, so that a client that reads
 * /stats right after its answer sees its instance gone (local scope). */
static void _finish(calcState *cs) {
    if (cs->ended)
        return;
    cs->ended = true;
    cs->phase = PH_ANSWERED;
    adderRelease(cs->ad);
    cs->ad = NULL;
    statsRequestEnd();
}

/* An error answer for a request that has state. */
static enum MHD_Result _fail(calcState *cs, unsigned status, const char *msg) {
    _finish(cs);
    return _error(cs->conn, status, msg, NULL);
}

/* The answer is written piece by piece: snprintf cost more instructions
 * per request than cJSON's parse of the body (callgrind, bench_ceiling.sh). */
#define PUT(p, literal) ((char *)memcpy((p), (literal), sizeof(literal) - 1) + sizeof(literal) - 1)

/* The decimal text of v at p; returns its end. */
static char *_putUint(char *p, unsigned long long v) {
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = digits[--n];
    return p;
}

static char *_putInt(char *p, long long v) {
    if (v >= 0)
        return _putUint(p, (unsigned long long)v);
    *p++ = '-';
    return _putUint(p, 0ull - (unsigned long long)v);
}

/* {"result":R,"cached":C, without the closing brace: at most 45 bytes. */
static char *_putCall(char *p, int64_t result, bool cached) {
    p = PUT(p, "{\"result\":");
    p = _putInt(p, result);
    return cached ? PUT(p, ",\"cached\":true") : PUT(p, ",\"cached\":false");
}

_Static_assert(ANSWER_BYTES >= REQUEST_MAX_CALLS * 48 + 96, "a batch's answer must fit");

static enum MHD_Result _answer(calcState *cs) {
    char buf[ANSWER_BYTES];
    char *p = buf;
    /* elapsed_ms with one decimal: tenths of a millisecond, rounded. */
    unsigned long long tenths = (timerNow() - cs->start_ns + NS_PER_TENTH_MS / 2) / NS_PER_TENTH_MS;
    unsigned long long id = cs->ad->id;
    _finish(cs);
    if (!cs->req.batch) {
        p = _putCall(p, cs->results[0], cs->cached[0]);
        p = PUT(p, ",\"instance\":");
    } else {
        p = PUT(p, "{\"results\":[");
        for (unsigned i = 0; i < cs->req.ncalls; i++) {
            if (i)
                *p++ = ',';
            p = _putCall(p, cs->results[i], cs->cached[i]);
            *p++ = '}';
        }
        p = PUT(p, "],\"instance\":");
    }
    p = _putUint(p, id);
    p = PUT(p, ",\"elapsed_ms\":");
    p = _putUint(p, tenths / 10);
    *p++ = '.';
    *p++ = (char)('0' + tenths % 10);
    *p++ = '}';
    return _queueAnswer(cs->conn, buf, (size_t)(p - buf));
}

static enum MHD_Result _suspend(calcState *cs, phase ph) {
    cs->phase = ph;
    cs->suspended = true;
    atomic_fetch_add(&H.suspended, 1);
    MHD_suspend_connection(cs->conn);
    if (ph == PH_TIMER) {
        /* Added after the suspend, so the resume always comes after it. The
         * heap has room for one timer per connection; if it is ever full,
         * resume at once and compute without the wait. */
        if (!timerAdd(&cs->tm, cs->ad->delay_ms, _timerFired))
            MHD_resume_connection(cs->conn);
    } else if (atomic_exchange(&cs->wait_state, W_SUSPENDED) == W_WOKEN) {
        MHD_resume_connection(cs->conn); /* the value came before we slept */
    }
    return MHD_YES;
}

/* Works through the calls until one must wait, then suspends; or answers. */
static enum MHD_Result _run(calcState *cs) {
    while (cs->next < cs->req.ncalls) {
        const calcCall *c = &cs->req.calls[cs->next];
        bool hurry = atomic_load(&H.hurry);
        int64_t v;
        atomic_store(&cs->wait_state, W_IDLE);
        switch (scopeLookup(cs->ad, c->a, c->b, &v, &cs->waiter, !hurry)) {
        case SCOPE_HIT:
            _record(cs, v, true);
            break;
        case SCOPE_WAIT:
            return _suspend(cs, PH_FLIGHT);
        case SCOPE_MISS:
            if (cs->ad->delay_ms > 0 && !hurry)
                return _suspend(cs, PH_TIMER);
            v = adderCompute(cs->ad, c->a, c->b);
            scopeStore(cs->ad, c->a, c->b, v);
            _record(cs, v, false);
            break;
        }
    }
    return _answer(cs);
}

/* Back from a suspension: finish the call that waited. Runs from the
 * handler, or from the completion callback when MHD closed the resumed
 * connection without calling the handler (the client had gone): the value
 * a timer waited for must still be stored, or its waiters wait forever. */
static void _wake(calcState *cs) {
    const calcCall *c = &cs->req.calls[cs->next];
    cs->suspended = false;
    atomic_fetch_sub(&H.suspended, 1);
    if (cs->phase == PH_TIMER) {
        int64_t v = adderCompute(cs->ad, c->a, c->b);
        scopeStore(cs->ad, c->a, c->b, v); /* wakes any waiters, client or not */
        _record(cs, v, false);
    } else {
        _record(cs, cs->waiter.result, true);
    }
}

/* Back from a suspension in the handler: finish the call, then go on. */
static enum MHD_Result _resumed(calcState *cs) {
    _wake(cs);
    if (_clientGone(cs->conn))
        return MHD_NO; /* close it; the completion callback frees the rest */
    return _run(cs);
}

static void _bodyFree(calcState *cs) {
    if (cs->body != cs->body_inline)
        free(cs->body);
    cs->body = NULL;
    cs->body_len = cs->body_cap = 0;
}

static enum MHD_Result _bodyChunk(calcState *cs, const char *data, size_t *size) {
    size_t n = *size;
    *size = 0;
    if (cs->dropped || n > H.cfg->max_body_bytes - cs->body_len) {
        _bodyFree(cs); /* too large: _bodyDone answers 413 */
        cs->dropped += n;
        return cs->dropped <= DROP_MAX_BYTES ? MHD_YES : MHD_NO;
    }
    if (cs->body_len + n + 1 > cs->body_cap) {
        size_t cap = cs->body_cap ? cs->body_cap : BODY_INLINE_BYTES;
        while (cap < cs->body_len + n + 1)
            cap *= 2;
        if (cap > H.cfg->max_body_bytes + 1)
            cap = H.cfg->max_body_bytes + 1;
        bool was_inline = cs->body == cs->body_inline;
        char *grown = was_inline ? malloc(cap) : realloc(cs->body, cap);
        if (!grown)
            return _fail(cs, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
        if (was_inline)
            memcpy(grown, cs->body_inline, cs->body_len);
        cs->body = grown;
        cs->body_cap = cap;
    }
    memcpy(cs->body + cs->body_len, data, n);
    cs->body_len += n;
    return MHD_YES;
}

static enum MHD_Result _bodyDone(calcState *cs) {
    char err[REQUEST_ERR_LEN];
    if (cs->dropped)
        return _fail(cs, MHD_HTTP_CONTENT_TOO_LARGE, "the body is larger than max_body_bytes");
    static const char empty[1] = "";
    const char *body = cs->body ? cs->body : empty;
    if (cs->body)
        cs->body[cs->body_len] = '\0';
    if (!requestParse(body, cs->body_len, &cs->req, err))
        return _fail(cs, MHD_HTTP_BAD_REQUEST, err);
    _bodyFree(cs); /* parsed: the calls are all we need now */
    cs->ad = scopeNewAdder(cs->req.has_delay ? cs->req.delay_ms : H.cfg->delay_ms);
    if (!cs->ad)
        return _fail(cs, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    return _run(cs);
}

static enum MHD_Result _calculateFirst(struct MHD_Connection *conn, void **req_cls) {
    if (atomic_load(&H.shutting_down))
        return _error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > H.cfg->max_body_bytes)
        return _error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "the body is larger than max_body_bytes",
                      NULL);
    calcState *cs = calloc(1, sizeof(*cs));
    if (!cs)
        return _error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory", NULL);
    cs->conn = conn;
    cs->phase = PH_BODY;
    cs->body = cs->body_inline;
    cs->body_cap = sizeof(cs->body_inline);
    cs->start_ns = timerNow();
    cs->waiter.wake = _flightDone;
    statsRequestBegin();
    atomic_fetch_add(&H.open, 1);
    *req_cls = cs;
    return MHD_YES;
}

static enum MHD_Result _calculate(calcState *cs, const char *data, size_t *size) {
    switch (cs->phase) {
    case PH_BODY:
        return *size ? _bodyChunk(cs, data, size) : _bodyDone(cs);
    case PH_TIMER:
    case PH_FLIGHT:
        return _resumed(cs);
    case PH_ANSWERED:
        *size = 0; /* a response is queued: drop the rest of the body */
        return MHD_YES;
    }
    return MHD_NO;
}

/* ------------------------------------------------------------- dispatcher */

static routeId _route(const char *url) {
    for (routeId r = 0; r < R_NONE; r++)
        if (strcmp(url, routes[r].path) == 0)
            return r;
    return R_NONE;
}

/* Is method one of the comma-separated tokens of allow? */
static bool _allowed(const char *allow, const char *method) {
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

/* The request state of a route other than POST /calculate: the address of
 * its slot says which route (and R_NONE an unknown path). */
static char route_marks[R_NONE + 1];

static bool _isMark(const void *p) {
    return (const char *)p >= route_marks && (const char *)p <= route_marks + R_NONE;
}

/* Does the request announce a body? */
static bool _hasBody(struct MHD_Connection *conn) {
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return (cl && strtoull(cl, NULL, 10) > 0) ||
           MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

static enum MHD_Result _dispatch(struct MHD_Connection *conn, routeId r, const char *method) {
    if (r == R_NONE)
        return _error(conn, MHD_HTTP_NOT_FOUND, "no such path: see GET / for the live page", NULL);
    if (!_allowed(routes[r].allow, method)) {
        char msg[96];
        snprintf(msg, sizeof(msg), "%s takes %s", routes[r].path, routes[r].allow);
        return _error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, msg, routes[r].allow);
    }
    switch (r) {
    case R_STATS:
        return _stats(conn, false);
    case R_METRICS:
        return _stats(conn, true);
    case R_CACHE:
        return _cache(conn, strcmp(method, "DELETE") == 0);
    case R_HEALTHZ:
        if (atomic_load(&H.shutting_down))
            return _error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
        return _shared(conn, H.ok);
    case R_PAGE:
        return _shared(conn, H.page);
    case R_CALCULATE: /* only with a wrong method, answered above */
    case R_NONE:
        break;
    }
    return MHD_NO;
}

/* libmicrohttpd 0.9.75 closes the connection after an answer queued on a
 * request's first call, so every route answers on its second call (the
 * first only marks the route) and keep-alive works: the live page and a
 * scraper reuse one connection. A request with a body on another route is
 * answered at once, connection closed, rather than read. */
static enum MHD_Result _access(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **req_cls) {
    (void)cls;
    (void)version;
    if (*req_cls && !_isMark(*req_cls))
        return _calculate(*req_cls, data, size);
    if (*req_cls)
        return _dispatch(conn, (routeId)((char *)*req_cls - route_marks), method);

    routeId r = _route(url);
    if (r == R_CALCULATE && strcmp(method, "POST") == 0)
        return _calculateFirst(conn, req_cls);
    if (_hasBody(conn))
        return _dispatch(conn, r, method);
    *req_cls = &route_marks[r];
    return MHD_YES;
}

/* The connection limit. libmicrohttpd's own one makes it stop polling the
 * listen socket when the table is full, so a newcomer waits in the backlog
 * for as long as the table stays full: a hang. This accept policy refuses it
 * instead (libmicrohttpd closes it at once), and libmicrohttpd's limit is set
 * where no worker reaches it. A connection counts from here until its
 * CLOSED notification (an allocation failure inside libmicrohttpd between
 * the two would leave it counted: out of memory, the limit is the least of
 * the troubles). */
static enum MHD_Result _admit(void *cls, const struct sockaddr *addr, socklen_t addrlen) {
    (void)cls;
    (void)addr;
    (void)addrlen;
    if (atomic_fetch_add(&H.connections, 1) < H.cfg->max_connections)
        return MHD_YES;
    atomic_fetch_sub(&H.connections, 1);
    return MHD_NO;
}

static void _connectionNotify(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe) {
    (void)cls;
    (void)conn;
    (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
        atomic_fetch_sub(&H.connections, 1);
}

static void _completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                       enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)conn;
    (void)toe;
    calcState *cs = *req_cls;
    if (!cs || _isMark(cs))
        return;
    *req_cls = NULL;
    if (cs->suspended)
        _wake(cs); /* resumed, then closed by MHD: its client had gone */
    _finish(cs);   /* when it ended without an answer: the client went away */
    _bodyFree(cs);
    free(cs);
    atomic_fetch_sub(&H.open, 1);
}

/* -------------------------------------------------------------------- API */

static bool _address(const config *cfg, struct sockaddr_storage *sa, bool *v6) {
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
    static const char ok[] = "{\"status\":\"ok\"}";
    struct sockaddr_storage sa;
    bool v6;

    memset(&H, 0, sizeof(H));
    H.cfg = cfg;
    if (!_address(cfg, &sa, &v6)) {
        fprintf(stderr, "memoscope: bad bind address '%s'\n", cfg->bind);
        return false;
    }
    H.ok = _prebuilt(ok, sizeof(ok) - 1, JSON_TYPE);
    H.page = _prebuilt(page_index_html, page_index_html_len, HTML_TYPE);
    if (!H.ok || !H.page) {
        httpStop(0);
        return false;
    }

    /* poll(), not epoll: in 0.9.75 MHD_quiesce_daemon races a pool worker
     * that drops the listen socket from its epoll set first, and panics on
     * the ENOENT (seen in our SIGTERM tests); single-thread epoll also stalls
     * past 128 connections (NOTES.md). poll() has neither problem. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_POLL |
                     (v6 ? MHD_USE_IPv6 : 0);
    /* libmicrohttpd splits its limit evenly between the pool's workers and
     * a worker may be the one to accept every connection: give each worker
     * room for all of them, so that only _admit's limit applies. */
    unsigned workers = cfg->threads > 1 ? cfg->threads : 1;
    unsigned mhd_limit =
        cfg->max_connections > UINT_MAX / workers ? UINT_MAX : cfg->max_connections * workers;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &sa},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)_completed, NULL},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)_connectionNotify, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, mhd_limit, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s, NULL},
        {MHD_OPTION_LISTEN_BACKLOG_SIZE, LISTEN_BACKLOG, NULL},
        {cfg->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, cfg->threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    H.daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, _admit, NULL, _access, NULL,
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

static void _nap(long ns) {
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

void httpStop(unsigned grace_ms) {
    if (H.daemon) {
        atomic_store(&H.shutting_down, true);
        MHD_socket listen_fd = MHD_quiesce_daemon(H.daemon);
        /* Refuse new connections now rather than leave them in the backlog,
         * unanswered until the exit resets them. shutdown, not close: the
         * descriptor stays ours until MHD is stopped, and quiesced workers
         * neither poll nor accept on it. */
        if (listen_fd != MHD_INVALID_SOCKET)
            shutdown(listen_fd, SHUT_RDWR);

        uint64_t deadline = timerNow() + (uint64_t)grace_ms * 1000000ull;
        while (atomic_load(&H.open) > 0 && timerNow() < deadline)
            _nap(DRAIN_POLL_NS);

        /* Grace is over: cut every wait short. Nothing suspends any more, so
         * once the last suspended connection has been resumed, stopping the
         * daemon is safe (0.9.75 aborts on a suspended connection). */
        atomic_store(&H.hurry, true);
        timerHurry();
        while (atomic_load(&H.suspended) > 0)
            _nap(DRAIN_POLL_NS / 5);
        /* The last ones resumed have queued their answers, not sent them:
         * stopping now would close their connections with nothing written
         * (seen: 45 of 64 hurried answers lost). A request completes once
         * its answer is sent; give them a bounded moment. */
        uint64_t flush = timerNow() + FLUSH_NS;
        while (atomic_load(&H.open) > 0 && timerNow() < flush)
            _nap(DRAIN_POLL_NS / 5);

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
