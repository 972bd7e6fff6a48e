/* counters.h -- the request counters every layer bumps, where the event
 * happens: a leaf that includes nothing of the project, so that any layer may
 * count and /stats (stats.h) reads them.
 *
 * Thread-safe: relaxed atomics, any thread.
 */
#ifndef COUNTERS_H
#define COUNTERS_H

#include <stdint.h>

/* A POST /calculate began / ended (any outcome). */
void countersRequestBegin(void);
void countersRequestEnd(void);

/* An error answer (status >= 400) was sent, on any route. */
void countersError(void);

typedef struct requestCounters {
    uint64_t total, in_flight, errors;
} requestCounters;

requestCounters countersRead(void);

/* A request was refused for want of a work slot; a wait ended at its
 * deadline (http/connections.h, http/suspend.h). */
void countersBusyRefused(void);
void countersWaitExpired(void);

/* The connection table and its work slots (--max-connections). */
typedef struct connectionCounters {
    uint64_t open;          /* connections open now */
    uint64_t working;       /* work slots taken now */
    uint64_t work_slots;    /* --max-connections */
    uint64_t refused_busy;  /* requests answered 503 because every work slot was taken */
    uint64_t waits_expired; /* waits on others (a value, Redis, a clear) ended at their deadline */
} connectionCounters;

/* Where the gauges (open, working, work_slots) are read: the connection
 * table registers its reader when it starts. Without one they read 0. */
void countersConnectionsFrom(void (*read)(connectionCounters *c));
connectionCounters countersConnections(void);

#endif /* COUNTERS_H */
