/* cache_info.h -- GET /cache and DELETE /cache: cache_info() and
 * cache_clear() of the process-wide cache.
 *
 * cache_handlers are the route's handlers in the route table (table.h,
 * route.h). A clear that the scope cannot finish at once (the redis
 * backend: scopeCacheClear) holds no thread: the connection is suspended
 * and the scope's done resumes it, from the backend's thread, or the
 * request's deadline does (504; the clear goes on). A DELETE takes a work
 * slot (connections.h), or gets 503 with Retry-After. The answer is
 * {"entries_freed": N, "instances_freed": M} (200), or, when the backend
 * failed, 503 with {"error": what failed, and the same two counts of what
 * was freed before}.
 *
 * Thread-safe: the handlers run on libmicrohttpd's workers; its waits
 * (route.h) let a graceful stop drain it.
 */
#ifndef CACHE_INFO_H
#define CACHE_INFO_H

#include "route.h"

extern const routeHandlers cache_handlers;

/* A clear's wait ends max_wait_ms after its request began. Call before the
 * daemon starts. */
void cacheRouteInit(unsigned max_wait_ms);

#endif /* CACHE_INFO_H */
