/* framing.h -- the request framing checks libmicrohttpd 0.9.75 leaves to us.
 *
 * A request whose length or target could be read two ways is refused with
 * 400 and a closed connection (RFC 9112 section 6.3, RFC 9110): a proxy in
 * front of us might have read it the other way (request smuggling). Refused:
 *
 *   - two Content-Length field lines (even with one value: nginx does so);
 *   - a Content-Length that is not digits alone;
 *   - Transfer-Encoding together with Content-Length;
 *   - a Transfer-Encoding other than exactly "chunked", or given twice;
 *   - a field name that is not an RFC 9110 token ("Content-Length : 5",
 *     whose body would run as a second request; a NUL; a control byte);
 *   - a field value holding NUL, CR or LF;
 *   - HTTP/1.1 without Host, and any request with two Host lines.
 *
 * What libmicrohttpd refuses before any handler runs (a Content-Length it
 * cannot read, a line without a colon) it answers itself; README "limits"
 * says how. Pure functions: thread-safe, no allocation.
 */
#ifndef FRAMING_H
#define FRAMING_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

/* What the checks have seen of one request's header fields so far. */
typedef struct framing {
    unsigned content_length;    /* Content-Length field lines */
    unsigned transfer_encoding; /* Transfer-Encoding field lines */
    unsigned host;              /* Host field lines */
    const char *bad;            /* the first fault found (static text), or NULL */
} framing;

/* Starts the checks of one request. */
void framingInit(framing *f);

/* Looks at one header field line: name[0..name_len), value[0..value_len)
 * as libmicrohttpd hands them over (value trimmed of surrounding blanks). */
void framingAdd(framing *f, const char *name, size_t name_len, const char *value, size_t value_len);

/* NULL when the request's framing is unambiguous, else a message for the
 * 400 answer (static text). http11: the request line said HTTP/1.1. */
const char *framingVerdict(const framing *f, bool http11);

/* framingInit, framingAdd over every header libmicrohttpd kept for conn
 * (duplicates included, in order), and framingVerdict. version is the
 * request line's. Call it from the handler's first call of a request. */
const char *framingCheck(struct MHD_Connection *conn, const char *version);

#endif /* FRAMING_H */
