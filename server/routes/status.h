/* status.h -- what a person or a scraper reads: GET /stats (JSON), GET
 * /metrics (Prometheus text), GET /history (the last ten minutes) and GET /
 * (the live page that draws them).
 *
 * Thread-safe: the handlers run on libmicrohttpd's workers.
 */
#ifndef STATUS_H
#define STATUS_H

#include <stdbool.h>

#include "route.h"

/* Builds the live page's answer. False when out of memory. Call before the
 * daemon starts; statusStop after it has stopped. */
bool statusStart(void);
void statusStop(void);

extern const routeHandlers stats_handlers;
extern const routeHandlers metrics_handlers;
extern const routeHandlers history_handlers;
extern const routeHandlers page_handlers;

#endif /* STATUS_H */
