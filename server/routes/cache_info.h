/* cacheroute.h -- GET /cache and DELETE /cache: cache_info() and
 * cache_clear() of the process-wide cache.
 *
 * cache_handlers are the route's handlers in http.c's route table
 * (route.h). A clear that the scope cannot finish at once (the redis
 * backend: scopeCacheClear) holds no thread: the connection is suspended
 * and the scope's done resumes it, from the backend's thread. The answer is
 * {"entries_freed": N, "instances_freed": M} (200), or, when the backend
 * failed, 503 with {"error": what failed, and the same two counts of what
 * was freed before}.
 *
 * Thread-safe: the handlers run on libmicrohttpd's workers, the shutdown
 * functions on main's thread (as calc.h's, in the same order).
 */
#ifndef CACHEROUTE_H
#define CACHEROUTE_H

#include "route.h"

extern const routeHandlers cache_handlers;

/* Shutdown: once the grace is over, cacheRouteHurry makes every clear in
 * flight end at its next step (and every new one answer 503 at once);
 * once cacheRouteSuspended() is 0 the daemon may be stopped.
 * cacheRouteOpen() counts the clears not yet answered, for the grace. */
void cacheRouteHurry(void);
unsigned cacheRouteOpen(void);
unsigned cacheRouteSuspended(void);

#endif /* CACHEROUTE_H */
