/* reply.c -- answers queued on a libmicrohttpd connection. */
#include "reply.h"

#include <stdio.h>

#include "stats.h"

#define ERROR_BYTES 512

enum MHD_Result replyQueue(struct MHD_Connection *conn, unsigned status, const char *type,
                           const char *body, size_t len, const char *allow) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    if (status >= 400 && ret == MHD_YES) /* an answer the client will get */
        statsError();
    return ret;
}

/* The 200 answer of a POST /calculate. No Cache-Control: caches store no
 * answer to a POST that lacks explicit freshness (RFC 9110, 9.3.3), and each
 * header costs libmicrohttpd three allocations on every request. */
enum MHD_Result replyAnswer(struct MHD_Connection *conn, const char *body, size_t len) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, REPLY_JSON);
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* {"error": msg}, with msg escaped; bytes outside ASCII become '?' so that
 * a field name from the client can never make the answer invalid JSON. */
enum MHD_Result replyError(struct MHD_Connection *conn, unsigned status, const char *msg,
                           const char *allow) {
    char buf[ERROR_BYTES];
    size_t n = 0;
    const size_t room = sizeof(buf) - 10; /* for an escape and the closing "}\n */
    n += (size_t)snprintf(buf, sizeof(buf), "{\"error\":\"");
    for (const unsigned char *p = (const unsigned char *)msg; *p && n < room; p++) {
        if (*p == '"' || *p == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)*p;
        } else if (*p < 0x20) {
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\\u%04x", *p);
        } else {
            buf[n++] = *p < 0x80 ? (char)*p : '?';
        }
    }
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\"}\n");
    return replyQueue(conn, status, REPLY_JSON, buf, n, allow);
}

enum MHD_Result replyShared(struct MHD_Connection *conn, struct MHD_Response *r) {
    return MHD_queue_response(conn, MHD_HTTP_OK, r);
}

struct MHD_Response *replyPrebuilt(const void *body, size_t len, const char *type) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (r) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    }
    return r;
}
