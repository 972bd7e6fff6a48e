/* health.c -- GET /healthz and GET /readyz. */
#include "health.h"

#include <stddef.h>

#include "daemon.h"
#include "guard.h"
#include "redis_client.h"
#include "reply.h"
#include "scope.h"
#include "text.h"

#define READYZ_BYTES 256

static struct MHD_Response *ok; /* /healthz's answer, built once, shared */

bool healthStart(void) {
    static const char text[] = "{\"status\":\"ok\"}\n";
    ok = replyPrebuilt(text, sizeof(text) - 1, REPLY_JSON);
    return ok != NULL;
}

void healthStop(void) {
    if (ok)
        MHD_destroy_response(ok);
    ok = NULL;
}

static enum MHD_Result healthz(routeRequest *rq, const char *data, size_t *size) {
    (void)data;
    (void)size;
    if (!httpTaking())
        return replyError(rq->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    return replyShared(rq->conn, ok);
}

static enum MHD_Result readyz(routeRequest *rq, const char *data, size_t *size) {
    (void)data;
    (void)size;
    const char *why = !httpTaking()     ? "shutting down"
                      : guardShedding() ? "memory above the guard: POST /calculate is "
                                          "shed until it falls (DELETE /cache frees "
                                          "what the cache holds)"
                                        : NULL;
    if (why) {
        guardCountUnready();
        return replyError(rq->conn, MHD_HTTP_SERVICE_UNAVAILABLE, why, NULL);
    }
    char buf[READYZ_BYTES];
    textBuf t = textOn(buf, sizeof(buf));
    textf(&t, "{\"status\":\"ready\",\"cache_backend\":\"%s\"",
          scopeBackendKindName(scopeBackendKindInUse()));
    if (scopeUsesRedis()) {
        bool up = rcliConnected();
        textf(&t, ",\"cache_backend_up\":%s", up ? "true" : "false");
        if (!up)
            TEXT_LIT(&t, ",\"note\":\"the cache backend is down: answers are computed without "
                         "it (slower, still correct), so this replica stays ready\"");
    }
    TEXT_LIT(&t, "}\n");
    return replyQueue(rq->conn, MHD_HTTP_OK, REPLY_JSON, buf, textEnd(&t), NULL);
}

const routeHandlers healthz_handlers = {.next = healthz};
const routeHandlers readyz_handlers = {.next = readyz};
