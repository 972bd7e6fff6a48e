/* instances.c -- who holds an instance: GET /instances/{id} and ?oldest=N. */
#include "instances.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adder.h"
#include "clock.h"
#include "reply.h"
#include "scope.h"
#include "text.h"

#define ID_PREFIX INSTANCES_PATH "/"
#define ONE_BYTES 2048 /* one instance's object, its 16 entries included */
#define OLDEST_BYTES (ONE_BYTES * INSTANCES_OLDEST_MAX + 32)

/* ---------------------------------------------------------------- private */

/* A whole decimal number from 1 to UINT64_MAX; false for anything else. */
static bool parsePositive(const char *s, uint64_t *out) {
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v == 0)
        return false;
    *out = v;
    return true;
}

/* One live instance as docs/api.md writes it. In global scope the cache
 * entries whose key names the instance hold its other references (each
 * entry one); in the other scopes nothing but its request holds it. With
 * the redis backend Redis holds keys, not instances: the answer says so
 * rather than scanning Redis. */
static void writeOne(textBuf *t, const adderView *v) {
    bool redis = scopeUsesRedis();
    scopeEntry shown[INSTANCES_ENTRIES_MAX];
    bool holding;
    size_t named = scopeEntriesOf(v->ad, shown, INSTANCES_ENTRIES_MAX, &holding);
    size_t listed = named < INSTANCES_ENTRIES_MAX ? named : INSTANCES_ENTRIES_MAX;
    /* the strong references: each global entry holds one (the cache's own
     * count, not the reference count, which a store in progress can lift) */
    unsigned entries = holding && !redis ? (unsigned)named : 0;
    textf(t,
          "{\"id\":%llu,\"alive\":true,\"age_s\":%.3f,\"bytes\":%zu,"
          "\"held_by\":{\"requests\":%u,\"cache_entries\":%u%s}",
          (unsigned long long)v->id, (double)v->age_ns / NS_PER_S, v->bytes,
          v->in_request ? 1u : 0u, entries,
          redis ? ",\"note\":\"cache backend redis: Redis holds keys, not instances; an "
                  "instance dies with its request\""
                : "");
    if (!holding && named == 0 && scopeKindInUse() != SCOPE_WEAK) {
        TEXT_LIT(t, "}");
        return;
    }
    /* global: "entries", the ones holding it; weak: "weak_entries", the ones
     * that name it without holding it, listed apart */
    textf(t, ",\"%s\":[", holding ? "entries" : "weak_entries");
    for (size_t i = 0; i < listed; i++)
        textf(t, "%s{\"a\":%lld,\"b\":%lld,\"age_s\":%.3f}", i ? "," : "", (long long)shown[i].a,
              (long long)shown[i].b, (double)shown[i].age_ns / NS_PER_S);
    textf(t, "]%s}", named > listed ? ",\"entries_truncated\":true" : "");
}

static enum MHD_Result queueAnswer(struct MHD_Connection *conn, textBuf *t) {
    TEXT_LIT(t, "\n");
    size_t n = textEnd(t);
    if (n == 0)
        return replyError(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "the answer does not fit", NULL);
    return replyQueue(conn, MHD_HTTP_OK, REPLY_JSON, t->buf, n, NULL);
}

static enum MHD_Result byId(struct MHD_Connection *conn, const char *text) {
    uint64_t id;
    if (!parsePositive(text, &id))
        return replyError(conn, MHD_HTTP_BAD_REQUEST, "an instance id is a positive integer", NULL);
    adderView v;
    char buf[ONE_BYTES];
    textBuf t = textOn(buf, sizeof(buf));
    switch (adderFind(id, &v)) {
    case ADDER_NEVER_ISSUED:
        return replyError(conn, MHD_HTTP_NOT_FOUND, "no instance has had this id yet", NULL);
    case ADDER_FREED:
        textf(&t, "{\"id\":%llu,\"alive\":false}", (unsigned long long)id);
        break;
    case ADDER_LIVE:
        writeOne(&t, &v);
        adderRelease(v.ad);
        break;
    }
    return queueAnswer(conn, &t);
}

static enum MHD_Result oldest(struct MHD_Connection *conn, const char *arg) {
    uint64_t n = INSTANCES_OLDEST_DEFAULT;
    if (arg && (!parsePositive(arg, &n) || n > INSTANCES_OLDEST_MAX))
        return replyError(conn, MHD_HTTP_BAD_REQUEST, "oldest must be an integer from 1 to 100",
                          NULL);
    adderView views[INSTANCES_OLDEST_MAX];
    size_t got = adderOldest(views, (size_t)n);
    char *text = malloc(OLDEST_BYTES);
    textBuf t = textOn(text, text ? OLDEST_BYTES : 0);
    if (text) {
        textf(&t, "{\"instances\":[");
        for (size_t i = 0; i < got; i++) {
            if (i)
                textf(&t, ",");
            writeOne(&t, &views[i]);
        }
        textf(&t, "]}");
    }
    for (size_t i = 0; i < got; i++)
        adderRelease(views[i].ad);
    if (!text)
        return replyError(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory", NULL);
    enum MHD_Result r = queueAnswer(conn, &t);
    free(text);
    return r;
}

/* -------------------------------------------------------------------- API */

bool instancesMatch(const char *url) {
    return strcmp(url, INSTANCES_PATH) == 0 || strncmp(url, ID_PREFIX, strlen(ID_PREFIX)) == 0;
}

/* The query as given: every parameter libmicrohttpd read, duplicates
 * included (its lookup would give the first of two). */
typedef struct query {
    unsigned oldest;   /* "oldest" parameters */
    const char *value; /* the last one's value ("" for "?oldest") */
    unsigned others;   /* any other parameter */
} query;

static enum MHD_Result readParam(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size) {
    (void)kind;
    (void)value_size;
    query *q = cls;
    if (key_size == strlen("oldest") && memcmp(key, "oldest", key_size) == 0) {
        q->oldest++;
        q->value = value ? value : "";
    } else {
        q->others++;
    }
    return MHD_YES;
}

static enum MHD_Result onNext(routeRequest *rq, const char *data, size_t *size) {
    (void)data;
    (void)size;
    query q = {0, NULL, 0};
    MHD_get_connection_values_n(rq->conn, MHD_GET_ARGUMENT_KIND, readParam, &q);
    bool list = strcmp(rq->url, INSTANCES_PATH) == 0;
    if (!list && (q.oldest || q.others))
        return replyError(rq->conn, MHD_HTTP_BAD_REQUEST,
                          INSTANCES_PATH "/{id} takes no query parameter", NULL);
    if (q.others)
        return replyError(rq->conn, MHD_HTTP_BAD_REQUEST,
                          "unknown query parameter: " INSTANCES_PATH " takes only oldest", NULL);
    if (q.oldest > 1)
        return replyError(rq->conn, MHD_HTTP_BAD_REQUEST, "oldest is given more than once", NULL);
    if (list)
        return oldest(rq->conn, q.value);
    return byId(rq->conn, rq->url + strlen(ID_PREFIX));
}

const routeHandlers instances_handlers = {.next = onNext};
