/* cache_info.c -- GET /cache and DELETE /cache on libmicrohttpd.
 *
 * A DELETE goes through phases, one handler call or more each:
 *
 *   NEW       the request is in: settle before a clear that may suspend
 *   SETTLE    start the clear; answer if it is over, else suspend
 *   CLEARING  suspended until the scope's done resumes it, then answer; or
 *             until the request's deadline (max_wait_ms after it began):
 *             504, while the clear goes on
 *   ANSWERED  a response is queued
 *
 * Its state (cacheState) lives in the request's routeRequest (route.h),
 * made zeroed by daemon.c and freed by it after onDone.
 */
#include "cache_info.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "connections.h"
#include "container.h"
#include "counters.h"
#include "reply.h"
#include "scope.h"
#include "text.h"
#include "suspend.h"

/* ------------------------------------------------------------------ types */

typedef enum cachePhase { CP_NEW, CP_SETTLE, CP_CLEARING, CP_ANSWERED } cachePhase;

#define ANSWER_BYTES (SCOPE_CLEAR_ERROR_LEN + 160) /* the error, escaped, and two counts */
#define BUSY_RETRY_AFTER_S 1 /* a work slot frees as soon as any request ends */

/* A clear in flight (suspend.h's suspendWait): the scope writes into clear
 * until its done, which may come after the request was answered at its
 * deadline. */
typedef struct clearWait {
    suspendWait sw;
    scopeClear clear;
} clearWait;

typedef struct cacheState {
    struct MHD_Connection *conn;
    cachePhase phase;
    uint64_t deadline_ns; /* the clear's wait ends by then */
    clearWait *wait;      /* while the request holds it */
    bool open;            /* counted in state.open, and holds a work slot: a DELETE */
    bool suspended;       /* counted in state.suspended */
} cacheState;

static struct {
    unsigned max_wait_ms;
    atomic_bool hurry;     /* grace period over: no clear may go on */
    atomic_uint open;      /* DELETEs begun and not completed by libmicrohttpd */
    atomic_uint suspended; /* connections suspended (or about to be) for a clear */
} state;

/* ---------------------------------------------------------------- private */

static void unsuspend(cacheState *cs) {
    if (cs->suspended) {
        cs->suspended = false;
        atomic_fetch_sub(&state.suspended, 1);
    }
}

/* The scope's done, on the backend's thread. cs lives until the request
 * completes, which cannot happen before the resume below. */
static void clearDone(scopeClear *c) {
    waitCame(&container_of(c, clearWait, clear)->sw);
}

static void clearFree(suspendWait *sw) {
    free(container_of(sw, clearWait, sw));
}

/* The request lets go of its clear (which may go on without it). */
static void dropWait(cacheState *cs) {
    if (cs->wait) {
        waitRelease(&cs->wait->sw);
        cs->wait = NULL;
    }
}

/* 200 with what was freed, or 503 with what failed and what was freed
 * before it (the same two counts). */
static enum MHD_Result answerClear(cacheState *cs) {
    const scopeClear *c = &cs->wait->clear;
    char buf[ANSWER_BYTES];
    textBuf t = textOn(buf, sizeof(buf));
    if (c->failed) {
        TEXT_LIT(&t, "{\"error\":\"the cache is cleared in part: ");
        textJson(&t, c->error);
        TEXT_LIT(&t, "\",\"entries_freed\":");
    } else {
        TEXT_LIT(&t, "{\"entries_freed\":");
    }
    textUint(&t, c->entries_freed);
    TEXT_LIT(&t, ",\"instances_freed\":");
    textUint(&t, c->instances_freed);
    TEXT_LIT(&t, "}\n");
    cs->phase = CP_ANSWERED;
    unsigned status = c->failed ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK;
    dropWait(cs);
    return replyQueue(cs->conn, status, REPLY_JSON, buf, textEnd(&t), NULL);
}

/* Back from the suspension: the clear's answer, or 504 at the deadline. */
static enum MHD_Result afterClear(cacheState *cs) {
    unsuspend(cs);
    if (waitEnded(&cs->wait->sw))
        return answerClear(cs);
    dropWait(cs); /* the clear goes on; its done frees the block */
    countersWaitExpired();
    cs->phase = CP_ANSWERED;
    if (atomic_load(&state.hurry))
        return replyError(cs->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    return replyError(cs->conn, MHD_HTTP_GATEWAY_TIMEOUT,
                      "gave up waiting for the clear after max_wait_ms: it goes on, and "
                      "GET /cache shows what is left",
                      NULL);
}

/* Starts the clear: answers when the scope is done at once, else suspends
 * until clearDone resumes the connection. */
static enum MHD_Result startClear(cacheState *cs) {
    cs->phase = CP_CLEARING;
    /* Counted before the hurry is read, as httpStop reads them the other
     * way round: either this clear sees the hurry, or httpStop sees it. */
    cs->suspended = true;
    atomic_fetch_add(&state.suspended, 1);
    if (atomic_load(&state.hurry)) {
        unsuspend(cs);
        cs->phase = CP_ANSWERED;
        return replyError(cs->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    }
    clearWait *w = calloc(1, sizeof(*w));
    if (!w) {
        unsuspend(cs);
        cs->phase = CP_ANSWERED;
        return replyError(cs->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory", NULL);
    }
    waitInit(&w->sw, cs->conn, clearFree);
    w->clear.done = clearDone;
    cs->wait = w;
    waitArm(&w->sw);
    if (scopeCacheClear(&w->clear)) {
        waitUnarm(&w->sw);
        unsuspend(cs);
        return answerClear(cs);
    }
    MHD_suspend_connection(cs->conn);
    waitSlept(&w->sw, cs->deadline_ns); /* it may have been over before we slept */
    return MHD_YES;
}

/* A bound: its number, or null for none (MEMO_UNBOUNDED). */
static void writeBound(textBuf *t, size_t bound) {
    if (bound == MEMO_UNBOUNDED)
        TEXT_LIT(t, "null");
    else
        textUint(t, bound);
}

static enum MHD_Result answerInfo(struct MHD_Connection *conn) {
    char buf[256];
    textBuf t = textOn(buf, sizeof(buf));
    memoInfo info = scopeCacheInfo();
    TEXT_LIT(&t, "{\"hits\":");
    textUint(&t, info.hits);
    TEXT_LIT(&t, ",\"misses\":");
    textUint(&t, info.misses);
    TEXT_LIT(&t, ",\"maxsize\":");
    writeBound(&t, info.maxsize);
    TEXT_LIT(&t, ",\"currsize\":");
    textUint(&t, info.currsize);
    TEXT_LIT(&t, ",\"maxbytes\":");
    writeBound(&t, info.maxbytes);
    TEXT_LIT(&t, ",\"currbytes\":");
    textUint(&t, info.currbytes);
    TEXT_LIT(&t, "}\n");
    return replyQueue(conn, MHD_HTTP_OK, REPLY_JSON, buf, textEnd(&t), NULL);
}

/* ---------------------------------------------------------- the handlers */

static enum MHD_Result onNext(routeRequest *rq, const char *data, size_t *size) {
    (void)data;
    if (rq->stateless) /* a body came: answered at once, and the connection closes */
        return strcmp(rq->method, "DELETE") != 0 ? answerInfo(rq->conn)
                                                 : replyError(rq->conn, MHD_HTTP_BAD_REQUEST,
                                                              "DELETE /cache takes no body", NULL);
    cacheState *cs = (cacheState *)rq->state;
    switch (cs->phase) {
    case CP_NEW:
        if (strcmp(rq->method, "DELETE") != 0) {
            cs->phase = CP_ANSWERED;
            return answerInfo(rq->conn);
        }
        if (!connsWorkBegin()) { /* every work slot is taken */
            cs->phase = CP_ANSWERED;
            enum MHD_Result ret = replyRetryLater(
                rq->conn,
                "every work slot is taken (max_connections requests at work): try again shortly",
                BUSY_RETRY_AFTER_S);
            if (ret == MHD_YES)
                countersBusyRefused();
            return ret;
        }
        cs->conn = rq->conn;
        cs->open = true;
        atomic_fetch_add(&state.open, 1);
        cs->deadline_ns = rq->start_ns + state.max_wait_ms * NS_PER_MS;
        /* It may suspend: first let libmicrohttpd settle the connection, as
         * calculate.c's bodyDone does (a connection suspended while its poll
         * interest is still reading takes a client that half-closed for
         * gone once resumed). Neither answered nor suspended, this call
         * makes libmicrohttpd call again at once. */
        cs->phase = CP_SETTLE;
        return MHD_YES;
    case CP_SETTLE:
        return startClear(cs);
    case CP_CLEARING:
        return afterClear(cs); /* resumed by clearDone or the deadline */
    case CP_ANSWERED:
        *size = 0;
        return MHD_YES;
    }
    return MHD_NO;
}

/* libmicrohttpd is done with the request (answered, or closed after a
 * resume because its client had gone). */
static void onDone(routeRequest *rq) {
    cacheState *cs = (cacheState *)rq->state;
    if (cs->suspended && cs->wait)
        waitEnded(&cs->wait->sw); /* resumed, then closed: its client had gone */
    unsuspend(cs);
    dropWait(cs);
    if (cs->open) {
        atomic_fetch_sub(&state.open, 1);
        connsWorkEnd();
    }
}

/* ------------------------------------------------------------ shutdown */

/* Once the grace is over, every clear in flight ends at its next step (and
 * every new one answers 503 at once). */
static void hurry(void) {
    atomic_store(&state.hurry, true);
    scopeClearHurry();
}

static unsigned openClears(void) {
    return atomic_load(&state.open);
}

static unsigned suspendedNow(void) {
    return atomic_load(&state.suspended);
}

static const routeWaits waits = {.open = openClears, .suspended = suspendedNow, .hurry = hurry};

/* -------------------------------------------------------------------- API */

void cacheRouteInit(unsigned max_wait_ms) {
    state.max_wait_ms = max_wait_ms;
}

const routeHandlers cache_handlers = {
    .state_bytes = sizeof(cacheState),
    .next = onNext,
    .done = onDone,
    .waits = &waits,
};
