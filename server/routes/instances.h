/* instances.h -- GET /instances/{id} and GET /instances?oldest=N.
 *
 * What a Python REPL finds by hand in the article: which instances are alive, how
 * old they are and what holds them (held_by: the request that made it, and
 * the cache entries whose key names it). A freed id answers alive:false at
 * no cost (ids are issued in order), an id never issued 404, anything that
 * is not a positive integer 400. The cost of an answer depends on the
 * instances it lists, never on how many are alive.
 *
 * Thread-safe: any worker may call it. Allocates the answer's text and frees
 * it before returning.
 */
#ifndef INSTANCES_H
#define INSTANCES_H

#include <stdbool.h>

#include <microhttpd.h>

#include "route.h"

#define INSTANCES_PATH "/instances"
#define INSTANCES_OLDEST_DEFAULT 10
#define INSTANCES_OLDEST_MAX 100
#define INSTANCES_ENTRIES_MAX 16 /* cache entries listed per instance */

/* Is url one of this module's paths ("/instances" or "/instances/...")? */
bool instancesMatch(const char *url);

/* The route's handlers in the route table (table.h; GET and HEAD; no body, no
 * state). */
extern const routeHandlers instances_handlers;

#endif /* INSTANCES_H */
