/* calc.h -- POST /calculate: one request's life on libmicrohttpd.
 *
 * calc_handlers are the route's handlers in http.c's route table
 * (route.h): the request's state lives in its routeRequest.
 *
 * A slow call holds no thread: on a miss the connection is suspended and a
 * timer resumes it after the delay; in shared scope a request whose key is
 * being computed waits for that computation (single-flight).
 *
 * Thread-safe: the handler functions run on libmicrohttpd's workers, the
 * shutdown functions on main's thread.
 */
#ifndef CALC_H
#define CALC_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include "config.h"
#include "route.h"

/* cfg must outlive every request. Call before the daemon starts. */
void calcInit(const config *cfg);

/* POST /calculate's handlers. begin refuses at once while shutting down
 * (503) or on a Content-Length over the limit (413); next takes the body,
 * runs the calls and answers; done releases what the request held. */
extern const routeHandlers calc_handlers;

/* Shutdown, in this order: new requests get 503; wait for calcOpen() to
 * reach 0 (the grace period); then calcHurry cuts every wait short, and once
 * calcSuspended() is 0 the daemon may be stopped. */
void calcStopTaking(void);
bool calcTaking(void);
void calcHurry(void);
unsigned calcOpen(void);      /* requests not yet completed by libmicrohttpd */
unsigned calcSuspended(void); /* connections suspended now */

#endif /* CALC_H */
