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
 *   - a field value holding a control byte (NUL, a bare CR, ... ; HTAB is
 *     allowed);
 *   - a folded field line (obs-fold: a line that starts with SP or HTAB),
 *     which RFC 9112 section 5.2 lets a server refuse;
 *   - HTTP/1.1 without Host, and any request with two Host lines;
 *   - a request target holding a NUL, a control byte, or (in the path) a
 *     space, sent raw.
 *
 * Why the header section is read as it lies in libmicrohttpd's buffer:
 * 0.9.75 glues a folded line onto the field's *name* ("Transfer-Encoding:"
 * then " chunked" becomes a field named "Transfer-Encodingchunked", a valid
 * token) and hands a value over cut at its first NUL, so the fields it
 * lists cannot show either. Its strict mode (MHD_OPTION_STRICT_FOR_CLIENT)
 * refuses neither; newer releases' client discipline levels do, 0.9.75 has
 * none. Peeking at the socket (MSG_PEEK) races libmicrohttpd's own reads.
 * But 0.9.75 parses the header section in place: the request line and the
 * field lines stay where they were received, each line end (CRLF or LF)
 * overwritten with NULs and each colon with one NUL; a field's name and
 * value point into that buffer, except a folded field's, which is copied
 * elsewhere. So the checks walk the section from the request line's end to
 * its empty line (MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE) and require that
 * each listed field begins where the previous line ended, after a line end
 * alone: a folded field is not in the section, and the bytes after a NUL the
 * client sent are found between a value and the next line. The one byte
 * sequence this cannot tell apart is a NUL right before a bare LF, which
 * reads as a CRLF; nothing after such a NUL is lost. The walk is checked
 * against libmicrohttpd 0.9.75 to 0.9.77 (their parser is the same); the
 * build stops on any other release, whose parser must be read again.
 *
 * The request target is decoded by framingUnescape (percent escapes, as
 * libmicrohttpd's own decoder) which leaves the escapes of control bytes
 * and of the space undecoded: "/instances/1%00" stays that, and no route
 * matches it, rather than being cut to "/instances/1".
 *
 * What libmicrohttpd refuses before any handler runs (a Content-Length it
 * cannot read, a line without a colon) it answers itself; README "limits"
 * says how. Pure functions but framingCheck and framingUnescape, which
 * read or write libmicrohttpd's buffer of one request: thread-safe, no
 * allocation.
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
    const char *at;             /* the walk: where the previous line ended (NULL: no walk) */
    const char *end;            /* the walk: the end of the header section */
} framing;

/* Starts the checks of one request. */
void framingInit(framing *f);

/* Starts the walk of the header section as libmicrohttpd 0.9.75 keeps it:
 * line_end is where the request line ends (its line end's first NUL),
 * end where the section ends (its empty line included). Every later
 * framingAdd must then hand over name and value pointers into
 * [line_end, end), in the order of the lines. Without this call the checks
 * look at the fields alone. */
void framingSection(framing *f, const char *line_end, const char *end);

/* Looks at one header field line: name[0..name_len), value[0..value_len)
 * as libmicrohttpd hands them over (value without its leading blanks). */
void framingAdd(framing *f, const char *name, size_t name_len, const char *value, size_t value_len);

/* NULL when the request's framing is unambiguous, else a message for the
 * 400 answer (static text). http11: the request line said HTTP/1.1. */
const char *framingVerdict(const framing *f, bool http11);

/* The whole check of a request on its handler's first call, with the
 * handler's url, method and version (pointers into libmicrohttpd's
 * buffer): the request target, then framingInit, framingSection,
 * framingAdd over every header libmicrohttpd kept for conn (duplicates
 * included, in order) and framingVerdict. NULL when the request may be
 * served, else the message of its 400. */
const char *framingCheck(struct MHD_Connection *conn, const char *url, const char *method,
                         const char *version);

/* libmicrohttpd's MHD_OPTION_UNESCAPE_CALLBACK: decodes s in place as
 * MHD_http_unescape does ("%41" is "A", a bad escape stays as it is), except
 * that an escape of a byte below 0x21 or of 0x7F stays undecoded; the bytes
 * the decoding freed are overwritten with LF, which a request line cannot
 * hold, so that framingCheck can tell them from bytes the client sent.
 * Returns the decoded length; s is NUL-terminated there. */
size_t framingUnescape(void *cls, struct MHD_Connection *conn, char *s);

#endif /* FRAMING_H */
