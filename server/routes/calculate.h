/* calculate.h -- POST /calculate: one request's life on libmicrohttpd.
 *
 * calc_handlers are the route's handlers in the route table (table.h,
 * route.h): the request's state lives in its routeRequest.
 *
 * A slow call holds no thread: on a miss the connection is suspended and a
 * timer resumes it after the delay; in shared scope a request whose key is
 * being computed waits for that computation (single-flight). A request's
 * own delays add up to REQUEST_MAX_DELAY_MS at most, and its waits on
 * others end by max_wait_ms after it began (504).
 *
 * Thread-safe: the handler functions run on libmicrohttpd's workers.
 */
#ifndef CALCULATE_H
#define CALCULATE_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include "route.h"

/* What POST /calculate is configured with. */
typedef struct calcSettings {
    unsigned delay_ms;     /* a miss's delay, unless the request gives its own */
    size_t max_body_bytes; /* larger bodies get 413 */
    unsigned max_wait_ms;  /* a wait on others ends this long after the request began */
    bool can_wait;         /* the scope may ask a lookup to wait (shared scope, Redis) */
} calcSettings;

/* s is copied. Call before the daemon starts. */
void calcInit(const calcSettings *s);

/* POST /calculate's handlers. begin refuses at once while shutting down
 * (503), on a Content-Length over the limit (413) or when every work slot
 * is taken (503 with Retry-After: connections.h); next takes the body, runs
 * the calls and answers; done releases what the request held. Its waits
 * (route.h) let a graceful stop drain it. */
extern const routeHandlers calc_handlers;

#endif /* CALCULATE_H */
