/* reply.c -- answers queued on a libmicrohttpd connection. */
#include "reply.h"

#include "counters.h"

#define ERROR_BYTES 512

/* The one place an answer is copied into a response and queued: its
 * Content-Type, Cache-Control: no-store when no_store, Allow when given. */
static enum MHD_Result queueCopy(struct MHD_Connection *conn, unsigned status, const char *type,
                                 const char *body, size_t len, bool no_store, const char *allow) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (no_store)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result replyQueue(struct MHD_Connection *conn, unsigned status, const char *type,
                           const char *body, size_t len, const char *allow) {
    enum MHD_Result ret = queueCopy(conn, status, type, body, len, true, allow);
    if (status >= 400 && ret == MHD_YES) /* an answer the client will get */
        countersError();
    return ret;
}

#define ERROR_END "\"}\n"

/* {"error": msg}, with msg escaped (textJson: bytes outside ASCII become
 * '?', so a field name from the client can never make the answer invalid
 * JSON); a message too long for the answer is cut, never the answer. */
enum MHD_Result replyError(struct MHD_Connection *conn, unsigned status, const char *msg,
                           const char *allow) {
    char buf[ERROR_BYTES];
    textBuf t = textOn(buf, sizeof(buf));
    TEXT_LIT(&t, "{\"error\":\"");
    textJsonFit(&t, msg, sizeof(ERROR_END) - 1);
    TEXT_LIT(&t, ERROR_END);
    return replyQueue(conn, status, REPLY_JSON, buf, textEnd(&t), allow);
}

enum MHD_Result replyRetryLater(struct MHD_Connection *conn, const char *msg,
                                unsigned retry_after_s) {
    char buf[ERROR_BYTES], retry[16];
    textBuf t = textOn(buf, sizeof(buf));
    TEXT_LIT(&t, "{\"error\":\"");
    textJsonFit(&t, msg, sizeof(ERROR_END) - 1);
    TEXT_LIT(&t, ERROR_END);
    textBuf rt = textOn(retry, sizeof(retry) - 1); /* room for the NUL */
    textUint(&rt, retry_after_s);
    retry[textEnd(&rt)] = '\0';
    struct MHD_Response *r =
        MHD_create_response_from_buffer(textEnd(&t), buf, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, REPLY_JSON);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_SERVICE_UNAVAILABLE, r);
    MHD_destroy_response(r);
    if (ret == MHD_YES)
        countersError();
    return ret;
}

/* No Cache-Control: caches store no answer to a POST that lacks explicit
 * freshness (RFC 9110, 9.3.3), and each header costs libmicrohttpd three
 * allocations on every request. */
enum MHD_Result replyQueueLean(struct MHD_Connection *conn, const char *type, const char *body,
                               size_t len) {
    return queueCopy(conn, MHD_HTTP_OK, type, body, len, false, NULL);
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
