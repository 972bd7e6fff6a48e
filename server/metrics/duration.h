/* duration.h -- memoscope_request_duration_seconds: a histogram per route.
 *
 * One series per route of the route table (routes/table.c), and two for POST /calculate: one
 * labelled cached="true" (every call of the request was a hit) and one
 * cached="false" (a miss, a wait, or an error answer). A request is timed
 * from its first handler call to its completion (its answer sent, or its
 * client gone). Observing costs a bucket search over DURATION_BOUNDS bounds
 * and two relaxed atomic additions; nothing allocates.
 *
 * Thread-safe: durationObserve from any worker, durationFormat from any
 * scrape; durationName only before the daemon starts.
 */
#ifndef DURATION_H
#define DURATION_H

#include <stdint.h>

#define DURATION_SLOTS 32 /* series at most */
#define DURATION_CALC_CACHED 0
#define DURATION_CALC_MISSED 1
#define DURATION_ROUTE(r) (2u + (unsigned)(r)) /* the route's index in the table */

/* Names slot's series: its route (a path, or "other") and, for /calculate,
 * its cached label (NULL for the other routes). The strings must outlive
 * the process. */
void durationName(unsigned slot, const char *route, const char *cached);

/* One request of slot took ns nanoseconds. */
void durationObserve(unsigned slot, uint64_t ns);

/* Writes the histogram (HELP, TYPE, then every named series' buckets, sum
 * and count) to t. */
struct textBuf;
void durationFormat(struct textBuf *t);

#endif /* DURATION_H */
