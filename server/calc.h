/* calc.h -- POST /calculate: one request's life on libmicrohttpd.
 *
 * The handler's first call for a POST /calculate goes to calcBegin, which
 * may set *req_cls to the request's state; every later call for the same
 * request goes to calcContinue with that state, and libmicrohttpd's
 * completion callback hands it to calcCompleted, which frees it.
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

/* cfg must outlive every request. Call before the daemon starts. */
void calcInit(const config *cfg);

/* The first call of a request: checks it may start (503 while shutting
 * down, 413 on a Content-Length over the limit, answered at once), then
 * makes its state in *req_cls. */
enum MHD_Result calcBegin(struct MHD_Connection *conn, void **req_cls);

/* Every later call: body chunks, the end of the body, resumes. */
enum MHD_Result calcContinue(void *state, const char *data, size_t *size);

/* libmicrohttpd is done with the request: finish what a resume left undone
 * (its client may have gone), release its instance and free the state. */
void calcCompleted(void *state);

/* Shutdown, in this order: new requests get 503; wait for calcOpen() to
 * reach 0 (the grace period); then calcHurry cuts every wait short, and once
 * calcSuspended() is 0 the daemon may be stopped. */
void calcStopTaking(void);
bool calcTaking(void);
void calcHurry(void);
unsigned calcOpen(void);      /* requests not yet completed by libmicrohttpd */
unsigned calcSuspended(void); /* connections suspended now */

#endif /* CALC_H */
