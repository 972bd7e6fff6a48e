/* calculate.c -- POST /calculate on libmicrohttpd, one request's life.
 *
 * A request goes through phases, one handler call or more each:
 *
 *   BODY     gather the body across calls (up to max_body_bytes)
 *   RUN      parse it, make the SlowAdder, look each call up in the scope
 *   SETTLE   one call's pause before a request that may wait runs (bodyDone)
 *   TIMER    suspended on a miss until the timer thread resumes it
 *   FLIGHT   suspended behind the same key's computation (shared scope) or
 *            a Redis reply, until the value comes or the request's deadline
 *            (max_wait_ms after it began) passes: then 504
 *   ANSWERED a response is queued; what the client still sends is dropped
 *
 * Its state (calcState) lives in the request's routeRequest (route.h),
 * made zeroed by daemon.c and freed by it after onDone, whatever the outcome.
 *
 * A batch's calls run one after the other, as a loop of method calls on
 * one instance does, but their delays add up to the longest single delay
 * at most (REQUEST_MAX_DELAY_MS, 10 s): once a request has waited that
 * long, its later misses are computed without a wait. So a request never
 * waits 64 delays (640 s), and an ordinary batch keeps its meaning.
 */
#include "calculate.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "adder.h"
#include "connections.h"
#include "container.h"
#include "duration.h"
#include "counters.h"
#include "daemon.h"
#include "guard.h"
#include "reply.h"
#include "calculate_answer.h"
#include "calculate_body.h"
#include "scope.h"
#include "timer.h"
#include "suspend.h"
#include "text.h"

/* ------------------------------------------------------------------ types */

typedef enum phase { PH_BODY, PH_SETTLE, PH_TIMER, PH_FLIGHT, PH_ANSWERED } phase;

/* A body this small (every single call) is kept in the request's state,
 * without an allocation of its own. */
#define BODY_INLINE_BYTES 256

/* A wait on a value others compute (suspend.h's suspendWait): the scope
 * holds waiter until it wakes it. An abandoned wait (the request answered
 * at its deadline) keeps what its waker may still need: when the wake says
 * miss, the value is computed and stored, for the others waiting on it. */
typedef struct calcWait {
    suspendWait sw;
    scopeWaiter waiter;
    adder *ad; /* abandoned: a reference of its own; NULL while the request has it */
    int64_t a, b;
} calcWait;

typedef struct calcState {
    struct MHD_Connection *conn;
    phase phase;
    uint64_t start_ns;
    char *body; /* body_len bytes + '\0': body_inline, or owned when larger */
    size_t body_len, body_cap;
    size_t dropped; /* body bytes past max_body_bytes, read and dropped */
    requestBody req;
    adder *ad; /* the request's reference */
    unsigned next;
    int64_t results[REQUEST_MAX_CALLS];
    bool cached[REQUEST_MAX_CALLS];
    uint64_t deadline_ns; /* waits on others end by then (max_wait_ms) */
    timer tm;
    calcWait *wait;         /* made at the first lookup that may wait; owned as suspendWait says */
    unsigned delay_left_ms; /* of REQUEST_MAX_DELAY_MS: the request's own waits */
    bool must_compute;      /* the backend woke us with a miss: compute this call */
    bool counted;           /* in state.suspended: past its body and not answered */
    bool suspended;         /* the handler has not run since the suspend */
    bool ended;             /* counted out of requests in flight */
    bool all_cached;        /* answered 200 with every call a hit (duration's label) */
    char body_inline[BODY_INLINE_BYTES];
} calcState;

#define NS_PER_TENTH_MS (NS_PER_MS / 10)
/* A body that outgrows max_body_bytes is read on and dropped, up to this
 * much, so that it gets its 413 once it ends (libmicrohttpd takes an answer
 * only before the body or after all of it). Answering before the body would
 * close the connection with the body unread, and a kernel that closes a
 * socket with unread input sends a reset, which can destroy the 413 before
 * the client reads it (nginx drains for the same reason). A longer body is
 * refused before it is read (by its Content-Length) or cut short by closing
 * the connection (chunked). */
#define DROP_MAX_BYTES (1u << 20)

#define SHED_ANSWER_BYTES 256
#define BUSY_RETRY_AFTER_S 1 /* a work slot frees as soon as any request ends */

static struct {
    calcSettings settings;
    atomic_bool hurry; /* grace period over: no more waiting */
    /* Requests past their body and not answered: suspended, or that may
     * suspend. Counted before hurry is read, as the daemon's stop reads
     * them the other way round (hurry, then suspendedNow): either the
     * request sees the hurry and never waits, or the stop waits for it. */
    atomic_uint suspended;
    /* Each worker's slot for its spare wait block (spareSlot), so that a
     * lookup that does not wait allocates nothing. */
    pthread_key_t spare;
    bool has_spare;
} state;

/* A worker's spare wait block. The slot is made once per worker and kept
 * under state.spare, whose destructor frees it and its spare when the worker
 * ends; the thread-local pointer makes each take and return of the spare a
 * load and a store. */
typedef struct spareSlot {
    struct calcWait *spare;
} spareSlot;

static _Thread_local spareSlot *my_slot;

/* ---------------------------------------------------------------- private */

/* Memory is above the guard: 503 with Retry-After, counted, and no instance
 * made. */
static enum MHD_Result shed(struct MHD_Connection *conn) {
    uint64_t usage, guard;
    guardLevels(&usage, &guard);
    char buf[SHED_ANSWER_BYTES];
    textBuf t = textOn(buf, sizeof(buf));
    textf(&t,
          "{\"error\":\"memory above the guard (%llu of %llu bytes): try again later, or "
          "DELETE /cache\"}\n",
          (unsigned long long)usage, (unsigned long long)guard);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(textEnd(&t), buf, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    char retry[16];
    textBuf rt = textOn(retry, sizeof(retry) - 1); /* room for the NUL */
    textUint(&rt, GUARD_RETRY_AFTER_S);
    retry[textEnd(&rt)] = '\0';
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, REPLY_JSON);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_SERVICE_UNAVAILABLE, r);
    MHD_destroy_response(r);
    if (ret == MHD_YES) {
        guardCountShed();
        countersError();
    }
    return ret;
}

static void timerFired(timer *t) {
    calcState *cs = container_of(t, calcState, tm);
    MHD_resume_connection(cs->conn);
}

static void flightDone(scopeWaiter *w) {
    waitCame(&container_of(w, calcWait, waiter)->sw);
}

/* The last holder of a wait lets go: an abandoned wait that the backend
 * woke with a miss computes and stores the value (without a delay: its
 * request has been answered), as its request would have. */
static void waitFree(suspendWait *sw) {
    calcWait *w = container_of(sw, calcWait, sw);
    if (w->ad) {
        if (atomic_load(&w->sw.came) && w->waiter.outcome == SCOPE_MISS)
            scopeStore(w->ad, w->a, w->b, adderCompute(w->ad, w->a, w->b));
        adderRelease(w->ad);
    }
    free(w);
}

/* The request's wait block, taken at its first lookup that may wait: the
 * worker's spare, or a new one; NULL when out of memory (the lookup then
 * does not wait). */
static void slotFree(void *p) {
    spareSlot *s = p;
    free(s->spare);
    free(s);
}

/* This worker's slot; NULL when it cannot have one (no key, no memory). */
static spareSlot *slotOfWorker(void) {
    if (!my_slot && state.has_spare) {
        spareSlot *s = calloc(1, sizeof(*s));
        if (s && pthread_setspecific(state.spare, s) == 0)
            my_slot = s;
        else
            free(s);
    }
    return my_slot;
}

static calcWait *waitBlock(calcState *cs) {
    if (!cs->wait) {
        spareSlot *s = slotOfWorker();
        calcWait *w = s ? s->spare : NULL;
        if (w)
            s->spare = NULL;
        else if (!(w = malloc(sizeof(*w))))
            return NULL;
        memset(w, 0, sizeof(*w));
        waitInit(&w->sw, cs->conn, waitFree);
        w->waiter.wake = flightDone;
        cs->wait = w;
    }
    return cs->wait;
}

/* The request lets go of its wait block; abandon: the waker has not come
 * and may still (a miss must then still be computed and stored). */
static void waitDrop(calcState *cs, bool abandon) {
    calcWait *w = cs->wait;
    if (!w)
        return;
    cs->wait = NULL;
    /* Held by no one else any more (a waker's or a timer's release is the
     * last it does with the block): the worker keeps it for its next
     * request. */
    spareSlot *s;
    if (!abandon && atomic_load(&w->sw.holders) == 1 && (s = slotOfWorker()) && !s->spare) {
        s->spare = w;
        return;
    }
    if (abandon) {
        const requestCall *c = &cs->req.calls[cs->next];
        adderRetain(cs->ad);
        w->ad = cs->ad;
        w->a = c->a;
        w->b = c->b;
    }
    waitRelease(&w->sw);
}

/* A suspended connection's client may have gone: MHD does not look while it
 * is suspended. Only a socket that is really gone counts: reset, or in
 * error. The end of the client's stream is not a departure: a client that
 * half-closes after its request (shutdown(SHUT_WR), as nc -q and some
 * proxies do) still reads its answer, as it would have without a delay. A
 * client that closed altogether looks the same until the answer is written;
 * then the reset closes the connection. */
static bool clientGone(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    struct pollfd p = {ci->connect_fd, 0, 0}; /* POLLERR and POLLHUP need no asking */
    int err = 0;
    socklen_t len = sizeof(err);
    if (poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)))
        return true;
    return getsockopt(ci->connect_fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0;
}

static void record(calcState *cs, int64_t value, bool cached) {
    cs->results[cs->next] = value;
    cs->cached[cs->next] = cached;
    cs->next++;
}

/* The request's work is over: its instance is released and it leaves the
 * in-flight count before its answer is queued, so that a client that reads
 * /stats right after its answer sees its instance gone (local scope). */
static void finishWork(calcState *cs) {
    if (cs->ended)
        return;
    cs->ended = true;
    if (cs->counted) {
        cs->counted = false;
        atomic_fetch_sub(&state.suspended, 1);
    }
    cs->phase = PH_ANSWERED;
    adderReleaseRequest(cs->ad);
    cs->ad = NULL;
    countersRequestEnd();
}

/* An error answer for a request that has state. */
static enum MHD_Result failWith(calcState *cs, unsigned status, const char *msg) {
    finishWork(cs);
    return replyError(cs->conn, status, msg, NULL);
}

static enum MHD_Result sendAnswer(calcState *cs) {
    /* elapsed_ms with one decimal: tenths of a millisecond, rounded. */
    calcAnswer r = {
        .batch = cs->req.batch,
        .ncalls = cs->req.ncalls,
        .results = cs->results,
        .cached = cs->cached,
        .instance = cs->ad->id,
        .elapsed_tenths_ms = (clockNow() - cs->start_ns + NS_PER_TENTH_MS / 2) / NS_PER_TENTH_MS,
    };
    finishWork(cs);
    cs->all_cached = true;
    for (unsigned i = 0; i < cs->req.ncalls; i++)
        cs->all_cached = cs->all_cached && cs->cached[i];
    return calcAnswerQueue(cs->conn, &r);
}

static enum MHD_Result suspendFor(calcState *cs, phase ph) {
    cs->phase = ph;
    cs->suspended = true; /* counted in state.suspended since its body ended */
    MHD_suspend_connection(cs->conn);
    if (ph == PH_TIMER) {
        /* Added after the suspend, so the resume always comes after it. The
         * heap has room for one timer per connection; if it is ever full,
         * resume at once and compute without the wait. */
        unsigned ms = cs->ad->delay_ms < cs->delay_left_ms ? cs->ad->delay_ms : cs->delay_left_ms;
        cs->delay_left_ms -= ms;
        if (!timerAdd(&cs->tm, ms, timerFired))
            MHD_resume_connection(cs->conn);
    } else {
        waitSlept(&cs->wait->sw, cs->deadline_ns); /* the value may have come before */
    }
    return MHD_YES;
}

/* Works through the calls until one must wait, then suspends; or answers. */
static enum MHD_Result runCalls(calcState *cs) {
    while (cs->next < cs->req.ncalls) {
        const requestCall *c = &cs->req.calls[cs->next];
        bool hurry = atomic_load(&state.hurry);
        int64_t v;
        scopeLookupResult r = SCOPE_MISS;
        if (!cs->must_compute) {
            /* Waiting on others only in a scope that waits, with a block
             * for the waker to hold (a wait begun past the deadline ends at
             * once). */
            calcWait *w = state.settings.can_wait && !hurry ? waitBlock(cs) : NULL;
            scopeWaiter none = {0};
            if (w)
                waitArm(&w->sw);
            r = scopeLookup(cs->ad, c->a, c->b, &v, w ? &w->waiter : &none, w != NULL);
            if (w && r != SCOPE_WAIT)
                waitUnarm(&w->sw);
        }
        cs->must_compute = false;
        switch (r) {
        case SCOPE_HIT:
            record(cs, v, true);
            break;
        case SCOPE_WAIT:
            return suspendFor(cs, PH_FLIGHT);
        case SCOPE_MISS:
            if (cs->ad->delay_ms > 0 && cs->delay_left_ms > 0 && !hurry)
                return suspendFor(cs, PH_TIMER);
            v = adderCompute(cs->ad, c->a, c->b);
            scopeStore(cs->ad, c->a, c->b, v);
            record(cs, v, false);
            break;
        }
    }
    return sendAnswer(cs);
}

/* Back from a suspension: finish the call that waited. Runs from the
 * handler, or from the completion callback when MHD closed the resumed
 * connection without calling the handler (the client had gone): the value
 * a timer waited for must still be stored, or its waiters wait forever.
 * Returns false when the request's deadline came before the value. */
static bool wakeUp(calcState *cs) {
    const requestCall *c = &cs->req.calls[cs->next];
    cs->suspended = false;
    if (cs->phase == PH_TIMER) {
        int64_t v = adderCompute(cs->ad, c->a, c->b);
        scopeStore(cs->ad, c->a, c->b, v); /* wakes any waiters, client or not */
        record(cs, v, false);
        return true;
    }
    bool came = waitEnded(&cs->wait->sw);
    if (came && cs->wait->waiter.outcome == SCOPE_MISS)
        cs->must_compute = true; /* the backend said miss (or failed) */
    else if (came)
        record(cs, cs->wait->waiter.result, true);
    waitDrop(cs, !came);
    return came;
}

/* Back from a suspension in the handler: finish the call, then go on; or,
 * past the deadline, answer without the value. */
static enum MHD_Result afterResume(calcState *cs) {
    bool came = wakeUp(cs);
    if (clientGone(cs->conn))
        return MHD_NO; /* close it; the completion callback frees the rest */
    if (!came) {
        countersWaitExpired();
        if (atomic_load(&state.hurry))
            return failWith(cs, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down");
        return failWith(cs, MHD_HTTP_GATEWAY_TIMEOUT,
                        "gave up waiting for a value another request computes: longer than "
                        "max_wait_ms since the request began");
    }
    return runCalls(cs);
}

static void bodyFree(calcState *cs) {
    if (cs->body != cs->body_inline)
        free(cs->body);
    cs->body = NULL;
    cs->body_len = cs->body_cap = 0;
}

static enum MHD_Result bodyChunk(calcState *cs, const char *data, size_t *size) {
    size_t n = *size;
    *size = 0;
    if (cs->dropped || n > state.settings.max_body_bytes - cs->body_len) {
        bodyFree(cs); /* too large: bodyDone answers 413 */
        cs->dropped += n;
        return cs->dropped <= DROP_MAX_BYTES ? MHD_YES : MHD_NO;
    }
    if (cs->body_len + n + 1 > cs->body_cap) {
        size_t cap = cs->body_cap ? cs->body_cap : BODY_INLINE_BYTES;
        while (cap < cs->body_len + n + 1)
            cap *= 2;
        if (cap > state.settings.max_body_bytes + 1)
            cap = state.settings.max_body_bytes + 1;
        bool was_inline = cs->body == cs->body_inline;
        char *grown = was_inline ? malloc(cap) : realloc(cs->body, cap);
        if (!grown)
            return failWith(cs, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
        if (was_inline)
            memcpy(grown, cs->body_inline, cs->body_len);
        cs->body = grown;
        cs->body_cap = cap;
    }
    memcpy(cs->body + cs->body_len, data, n);
    cs->body_len += n;
    return MHD_YES;
}

static enum MHD_Result bodyDone(calcState *cs) {
    char err[REQUEST_ERR_LEN];
    if (cs->dropped)
        return failWith(cs, MHD_HTTP_CONTENT_TOO_LARGE, "the body is larger than max_body_bytes");
    static const char empty[1] = "";
    const char *body = cs->body ? cs->body : empty;
    if (cs->body)
        cs->body[cs->body_len] = '\0';
    if (!requestParse(body, cs->body_len, &cs->req, err))
        return failWith(cs, MHD_HTTP_BAD_REQUEST, err);
    bodyFree(cs);          /* parsed: the calls are all we need now */
    if (guardShedding()) { /* above the memory guard: no new instance */
        finishWork(cs);
        return shed(cs->conn);
    }
    cs->ad = scopeNewAdder(cs->req.has_delay ? cs->req.delay_ms : state.settings.delay_ms);
    if (!cs->ad)
        return failWith(cs, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    cs->counted = true; /* before hurry is read: see state.suspended */
    atomic_fetch_add(&state.suspended, 1);
    if (cs->ad->delay_ms > 0 && !atomic_load(&state.hurry)) {
        /* It may suspend. libmicrohttpd 0.9.75 keeps the poll interest a
         * connection had when it was suspended (reading: the request was
         * coming in) and, once it is resumed, reads before it calls us: a
         * client that half-closed meanwhile (shutdown(SHUT_WR)) is taken for
         * gone and its answer is never written. Returned to once with neither
         * an answer nor a suspension, libmicrohttpd settles the connection
         * (full request in: no interest) and calls again at once. */
        cs->phase = PH_SETTLE;
        return MHD_YES;
    }
    return runCalls(cs);
}

/* ---------------------------------------------------------- the handlers */

/* An answer before the request has begun (503 shutting down, 413 by its
 * Content-Length): it is counted in requests.total like every answered
 * POST /calculate, so that errors never outnumber it. */
static enum MHD_Result refuseEarly(struct MHD_Connection *conn, unsigned status, const char *msg) {
    enum MHD_Result ret = replyError(conn, status, msg, NULL);
    if (ret == MHD_YES) {
        countersRequestBegin();
        countersRequestEnd();
    }
    return ret;
}

/* Does the client wait for 100 Continue before it sends its body? */
static bool waitsForContinue(struct MHD_Connection *conn) {
    const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    return expect && strcasecmp(expect, "100-continue") == 0;
}

/* Every work slot is taken: 503 with Retry-After, at once. */
static enum MHD_Result refuseBusy(struct MHD_Connection *conn) {
    enum MHD_Result ret = replyRetryLater(
        conn, "every work slot is taken (max_connections requests at work): try again shortly",
        BUSY_RETRY_AFTER_S);
    if (ret == MHD_YES) {
        countersRequestBegin();
        countersRequestEnd();
        countersBusyRefused();
    }
    return ret;
}

/* The first call: refuses at once while shutting down (503), on a
 * Content-Length over the limit and over DROP_MAX_BYTES, or with Expect:
 * 100-continue (413), or when every work slot is taken (503 with
 * Retry-After); otherwise starts the request (a body over the limit is then
 * read, dropped and answered 413, on a connection that stays open). */
static enum MHD_Result onBegin(routeRequest *rq) {
    struct MHD_Connection *conn = rq->conn;
    if (!httpTaking())
        return refuseEarly(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down");
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
    /* A client that waits for 100 Continue has sent no body: it is refused
     * at once, never told to send it (as nginx). Otherwise a body up to
     * DROP_MAX_BYTES is drained, then 413. */
    if (declared > state.settings.max_body_bytes &&
        (declared > DROP_MAX_BYTES || waitsForContinue(conn)))
        return refuseEarly(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                           "the body is larger than max_body_bytes");
    if (!connsWorkBegin())
        return refuseBusy(conn);
    calcState *cs = (calcState *)rq->state;
    cs->conn = conn; /* from here on, the request has begun and holds a work slot */
    cs->phase = PH_BODY;
    cs->body = cs->body_inline;
    cs->body_cap = sizeof(cs->body_inline);
    cs->start_ns = clockNow();
    cs->deadline_ns = cs->start_ns + state.settings.max_wait_ms * NS_PER_MS;
    cs->delay_left_ms = REQUEST_MAX_DELAY_MS;
    countersRequestBegin();
    return MHD_YES;
}

/* Every later call: body chunks, the end of the body, resumes. */
static enum MHD_Result onNext(routeRequest *rq, const char *data, size_t *size) {
    calcState *cs = (calcState *)rq->state;
    switch (cs->phase) {
    case PH_BODY:
        return *size ? bodyChunk(cs, data, size) : bodyDone(cs);
    case PH_SETTLE:
        return runCalls(cs);
    case PH_TIMER:
    case PH_FLIGHT:
        return afterResume(cs);
    case PH_ANSWERED:
        *size = 0; /* a response is queued: drop the rest of the body */
        return MHD_YES;
    }
    return MHD_NO;
}

/* libmicrohttpd is done with the request: finish what a resume left undone
 * (its client may have gone) and release its instance. */
static void onDone(routeRequest *rq) {
    calcState *cs = (calcState *)rq->state;
    if (!cs->conn)
        return; /* refused by onBegin: it never began */
    if (cs->suspended)
        wakeUp(cs);         /* resumed, then closed by MHD: its client had gone */
    waitDrop(cs, false);    /* a block no waker holds */
    if (cs->must_compute) { /* others may wait on this value: store it */
        const requestCall *c = &cs->req.calls[cs->next];
        scopeStore(cs->ad, c->a, c->b, adderCompute(cs->ad, c->a, c->b));
        cs->must_compute = false;
    }
    finishWork(cs); /* when it ended without an answer: the client went away */
    bodyFree(cs);
    durationObserve(cs->all_cached ? DURATION_CALC_CACHED : DURATION_CALC_MISSED,
                    clockNow() - cs->start_ns);
    connsWorkEnd();
}

/* ------------------------------------------------------------ shutdown */

static void hurry(void) {
    atomic_store(&state.hurry, true);
    timerHurry();
}

/* Requests not yet completed: they hold work slots (connections.h), which
 * DELETE /cache takes too; a count of both is as good for the grace. */
static unsigned openRequests(void) {
    return connsWorking();
}

/* Suspended, or past their body and able to suspend (state.suspended). */
static unsigned suspendedNow(void) {
    return atomic_load(&state.suspended);
}

static const routeWaits waits = {.open = openRequests, .suspended = suspendedNow, .hurry = hurry};

/* -------------------------------------------------------------------- API */

const routeHandlers calc_handlers = {
    .state_bytes = sizeof(calcState),
    .takes_body = true,
    .begin = onBegin,
    .next = onNext,
    .done = onDone,
    .times_itself = true, /* with its cached label */
    .waits = &waits,
};

void calcInit(const calcSettings *s) {
    state.settings = *s;
    atomic_store(&state.hurry, false);
    atomic_store(&state.suspended, 0);
    if (!state.has_spare)
        state.has_spare = pthread_key_create(&state.spare, slotFree) == 0;
}
