/* health.h -- GET /healthz (liveness) and GET /readyz (readiness).
 *
 * /healthz: 200 {"status":"ok"} while serving, 503 once a stop has begun.
 * /readyz: 200 while serving and under the memory guard (guard.h), 503 with
 * the reason otherwise. A cache backend that is down is said in the body,
 * never made a reason to be unready: a cache outage must not take every
 * replica out at once (their answers are still correct, computed without
 * the cache).
 *
 * Thread-safe: the handlers run on libmicrohttpd's workers.
 */
#ifndef HEALTH_H
#define HEALTH_H

#include <stdbool.h>

#include "route.h"

/* Builds /healthz's fixed answer. False when out of memory. Call before the
 * daemon starts; healthStop after it has stopped. */
bool healthStart(void);
void healthStop(void);

extern const routeHandlers healthz_handlers;
extern const routeHandlers readyz_handlers;

#endif /* HEALTH_H */
