/* status.c -- GET /stats, /metrics, /history and the live page. */
#include "status.h"

#include <stdlib.h>

#include "history.h"
#include "page.h"
#include "reply.h"
#include "stats.h"
#include "text.h"

static struct MHD_Response *page; /* built once, shared */

bool statusStart(void) {
    page = replyPrebuilt(page_index_html, page_index_html_len, REPLY_HTML);
    return page != NULL;
}

void statusStop(void) {
    if (page)
        MHD_destroy_response(page);
    page = NULL;
}

/* /stats and /metrics: one snapshot in either format. */
static enum MHD_Result snapshot(routeRequest *rq, bool prometheus) {
    char buf[STATS_BUF_BYTES];
    statsSnapshot s;
    statsTake(&s);
    size_t n = prometheus ? statsFormatPrometheus(&s, buf, sizeof(buf))
                          : statsFormatJson(&s, buf, sizeof(buf));
    if (n == 0)
        return replyError(rq->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "statistics do not fit", NULL);
    return replyQueue(rq->conn, MHD_HTTP_OK, prometheus ? REPLY_PROMETHEUS : REPLY_JSON, buf, n,
                      NULL);
}

static enum MHD_Result stats(routeRequest *rq, const char *data, size_t *size) {
    (void)data;
    (void)size;
    return snapshot(rq, false);
}

static enum MHD_Result metrics(routeRequest *rq, const char *data, size_t *size) {
    (void)data;
    (void)size;
    return snapshot(rq, true);
}

static enum MHD_Result history(routeRequest *rq, const char *data, size_t *size) {
    (void)data;
    (void)size;
    char *buf = malloc(HISTORY_JSON_BYTES);
    if (!buf)
        return replyError(rq->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory", NULL);
    textBuf t = textOn(buf, HISTORY_JSON_BYTES);
    historyFormat(&t);
    size_t n = textEnd(&t);
    enum MHD_Result r =
        n ? replyQueue(rq->conn, MHD_HTTP_OK, REPLY_JSON, buf, n, NULL)
          : replyError(rq->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "the history does not fit", NULL);
    free(buf);
    return r;
}

static enum MHD_Result livePage(routeRequest *rq, const char *data, size_t *size) {
    (void)data;
    (void)size;
    return replyShared(rq->conn, page);
}

const routeHandlers stats_handlers = {.next = stats};
const routeHandlers metrics_handlers = {.next = metrics};
const routeHandlers history_handlers = {.next = history};
const routeHandlers page_handlers = {.next = livePage};
