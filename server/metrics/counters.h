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

#endif /* COUNTERS_H */
