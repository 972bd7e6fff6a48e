/* reply.h -- answers queued on a libmicrohttpd connection.
 *
 * Every function here queues (or builds) one response and reports
 * libmicrohttpd's verdict; an error answer (status >= 400) that was queued
 * is counted in the stats. Thread-safe: any worker may call them.
 */
#ifndef REPLY_H
#define REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "text.h"

#define REPLY_JSON "application/json"
#define REPLY_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"
#define REPLY_HTML "text/html; charset=utf-8"

/* Queues body (len bytes, copied) with status, its Content-Type,
 * Cache-Control: no-store, and an Allow header when allow is not NULL. */
enum MHD_Result replyQueue(struct MHD_Connection *conn, unsigned status, const char *type,
                           const char *body, size_t len, const char *allow);

/* Queues a 200 answer (body copied) with its Content-Type alone: the
 * fewest headers, for the hot path (POST /calculate). */
enum MHD_Result replyQueueLean(struct MHD_Connection *conn, const char *type, const char *body,
                               size_t len);

/* Queues {"error": msg} with status; msg is escaped (bytes outside ASCII
 * become '?', so text from a client cannot make the answer invalid JSON). */
enum MHD_Result replyError(struct MHD_Connection *conn, unsigned status, const char *msg,
                           const char *allow);

/* Queues 503 {"error": msg} (escaped as replyError does) with Retry-After:
 * retry_after_s, for a request the service cannot take now. */
enum MHD_Result replyRetryLater(struct MHD_Connection *conn, const char *msg,
                                unsigned retry_after_s);

/* Builds a 200 response over static bytes, to be shared by every request
 * (libmicrohttpd counts its references). NULL when out of memory; the caller
 * destroys it with MHD_destroy_response. */
struct MHD_Response *replyPrebuilt(const void *body, size_t len, const char *type);

/* Queues a prebuilt response with status 200. */
enum MHD_Result replyShared(struct MHD_Connection *conn, struct MHD_Response *r);

#endif /* REPLY_H */
