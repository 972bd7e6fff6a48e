/* route.h -- what a route gives the dispatcher (daemon.c), and the one state
 * every request has (as lwan's lwan_request and h2o's h2o_req_t).
 *
 * The layer above gives daemon.c the route table (daemon.h): a path, the methods it takes, and the
 * route's handlers. On a request's first handler call it finds the route,
 * makes the request's state (a routeRequest with the route's own state
 * after it, zeroed, in one allocation) and calls the route's begin; every
 * later call goes to the route's next, and libmicrohttpd's completion
 * callback to its done, after which daemon.c frees the state.
 *
 * The one rule of the dispatcher: a route answers on its second call, not
 * its first (libmicrohttpd 0.9.75 closes the connection after an answer
 * queued on the first call, so keep-alive needs the second). A begin
 * answers at once only to refuse the request (the connection then closes).
 */
#ifndef ROUTE_H
#define ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

typedef struct routeHandlers routeHandlers;

/* A route whose requests wait, suspended, tells the daemon how many there
 * are, so that a graceful stop gives them their grace, then cuts them short
 * and waits until none is suspended (0.9.75 aborts when it is stopped with
 * a suspended connection). Each function is called from main's thread. */
typedef struct routeWaits {
    unsigned (*open)(void);      /* requests not yet completed by libmicrohttpd */
    unsigned (*suspended)(void); /* connections suspended now */
    void (*hurry)(void);         /* every wait ends at once, and none starts */
} routeWaits;

/* One request's state. Owned by daemon.c: made on the first handler call,
 * freed after the route's done. */
typedef struct routeRequest {
    struct MHD_Connection *conn;
    const char *method;     /* libmicrohttpd's, valid until the request completes */
    const char *url;        /* libmicrohttpd's (the path, no query), valid as long */
    unsigned route;         /* its index in the route table (a 404: the table's count) */
    const routeHandlers *h; /* the route's handlers, or the 404/405 ones */
    uint64_t start_ns;      /* clockNow() at the first call (request durations) */
    bool stateless;         /* a body on a route that takes none: no state follows */
    max_align_t state[];    /* the route's own state: h->state_bytes, zeroed */
} routeRequest;

/* A route's handlers. Each runs on a libmicrohttpd worker, one call at a
 * time for a given request, and returns libmicrohttpd's verdict (MHD_NO
 * closes the connection). */
struct routeHandlers {
    size_t state_bytes; /* of the route's own state after the routeRequest */
    bool takes_body;    /* false: a request with a body is answered at once, by a
                           call to next with rq->stateless set (no state after rq) */
    /* The first call (headers read, no body yet); NULL when there is
     * nothing to begin. It may refuse the request by queueing an answer. */
    enum MHD_Result (*begin)(routeRequest *rq);
    /* Every later call: a chunk of the body (*size bytes, to be set to
     * what was taken), the end of the body (*size == 0), or a resume. */
    enum MHD_Result (*next)(routeRequest *rq, const char *data, size_t *size);
    /* The request is over (answered, or its client gone); NULL when there
     * is nothing to undo. The state is freed right after it. */
    void (*done)(routeRequest *rq);
    /* The route times its requests itself (metrics/duration.h), with
     * labels of its own; otherwise the daemon does. */
    bool times_itself;
    /* NULL: its requests never wait suspended. */
    const routeWaits *waits;
};

#endif /* ROUTE_H */
