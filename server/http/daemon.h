/* daemon.h -- the HTTP server on libmicrohttpd: the daemon, the dispatcher
 * of a route table given by the layer above (route.h), the connection limit
 * and the graceful stop.
 *
 * One daemon with an internal thread pool (settings->threads workers). A
 * route that waits (a slow call, a clear) holds no worker: it suspends its
 * connection and something else resumes it. Called from main's thread only,
 * but httpTaking, which any thread may ask.
 */
#ifndef DAEMON_H
#define DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "route.h"

/* The settings of the HTTP layer (--port, --bind, ...). */
typedef struct httpSettings {
    unsigned port; /* 0: any free port */
    char bind[64]; /* a numeric IPv4 or IPv6 address */
    unsigned threads;
    unsigned max_connections;        /* work slots (connections.h) */
    unsigned reserved_connections;   /* connections beyond them, for the rest */
    unsigned max_connections_per_ip; /* 0: no limit */
    size_t connection_memory_bytes;  /* libmicrohttpd's memory pool per connection */
    unsigned timeout_s;              /* an idle connection is closed after it */
} httpSettings;

/* The route table, in the order the routes are tried (an exact path, or a
 * route's own match). Every table and string must outlive the daemon. */
typedef struct httpRoute {
    const char *path;
    bool (*match)(const char *url); /* NULL: url must equal path */
    const char *allow;              /* the methods it takes: the Allow header of a 405 */
    const routeHandlers *h;
    unsigned duration_slot; /* its requests' series in metrics/duration.h */
} httpRoute;

typedef struct httpRoutes {
    const httpRoute *route;
    unsigned count;
    unsigned other_slot; /* the duration series of a path no route takes */
} httpRoutes;

/* Starts serving (timers and whatever the routes need must be set up).
 * Writes the port actually bound into *port. Returns false, with a message
 * on stderr, when the daemon cannot start. */
bool httpStart(const httpSettings *settings, const httpRoutes *routes, unsigned *port);

/* Is the server taking new work? False from the start of httpStop: new
 * requests get 503. Any thread. */
bool httpTaking(void);

/* Graceful stop: stops accepting, answers 503 to new requests, lets the
 * ones in flight finish for up to grace_ms, then finishes the rest at once
 * (every route's waits cut short: route.h, routeWaits), and stops the
 * daemon. Frees every response. */
void httpStop(unsigned grace_ms);

#endif /* DAEMON_H */
