/* redis_clear.c -- DELETE /cache with the redis backend: SCAN + UNLINK of our prefix. */
#include "redis_clear.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "redis_client.h"

#define UNLINK_MAX_KEYS 1000 /* keys per UNLINK */
#define CLEAR_ERROR_LEN 160  /* a Redis error reply, as the answer says it */

/* ----------------------------------------------------- clear the prefix */

/* A clear's state, made by rcliClearStart and, once its first SCAN is
 * queued, owned by the loop thread: every reply of its commands runs there,
 * and the last one frees it after done. */
typedef struct clearJob {
    rcliClearDone done;
    void *ctx;
    unsigned outstanding; /* commands sent and not answered */
    bool last_sent;       /* nothing more will be sent: the end, a fault, or a hurry */
    long long removed;
    const char *error; /* NULL, or what stopped the job */
    char redis_error[CLEAR_ERROR_LEN];
} clearJob;

static atomic_bool hurry; /* rcliClearHurry: stop every clear at its next step */

/* Stops the job's sending with error (the first error wins). */
static void stopWith(clearJob *j, const char *error) {
    if (!j->error)
        j->error = error;
    j->last_sent = true;
}

/* Why a command of the job failed. A reply of the wrong shape is counted
 * here; a missing reply or an error reply is counted by rcli already. */
static void failedReply(clearJob *j, const redisReply *reply, const char *what) {
    if (reply && reply->type != REDIS_REPLY_ERROR)
        rcli__countError();
    if (j->error) { /* the first error is the one said */
        j->last_sent = true;
        return;
    }
    if (!reply) {
        stopWith(j, "redis did not answer in time, or the connection was lost");
    } else if (reply->type == REDIS_REPLY_ERROR) {
        /* Redis's own words ("ERR ...", "LOADING ..."): they never hold the password. */
        snprintf(j->redis_error, sizeof(j->redis_error), "redis answered %s with: %s", what,
                 reply->str);
        stopWith(j, j->redis_error);
    } else {
        snprintf(j->redis_error, sizeof(j->redis_error),
                 "redis answered %s with a reply of the wrong shape", what);
        stopWith(j, j->redis_error);
    }
}

/* After each reply: the job ends once nothing more is sent nor awaited. */
static void settle(clearJob *j) {
    if (!j->last_sent || j->outstanding > 0)
        return;
    j->done(j->ctx, j->removed, j->error);
    free(j);
}

/* Sends one command of the job; false (the job stopped) when rcli refused. */
static bool sendNode(clearJob *j, rcliDone done, int argc, const char *const *argv,
                     const size_t *lens) {
    j->outstanding++; /* before the send: its reply may come at once, on the loop thread */
    if (rcliSend(done, j, argc, argv, lens))
        return true; /* j may be the loop thread's from here */
    j->outstanding--;
    stopWith(j, "redis is not connected");
    return false;
}

static void unlinked(void *ctx, const redisReply *reply) {
    clearJob *j = ctx;
    j->outstanding--;
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        j->removed += reply->integer;
    else
        failedReply(j, reply, "UNLINK");
    settle(j);
}

static bool scan(clearJob *j, const char *cursor);

/* One SCAN step answered: UNLINK what it found and, pipelined behind it,
 * ask for the next step. Replies come in order, so when the last SCAN's
 * UNLINK answers, the count is complete. */
static void scanned(void *ctx, const redisReply *reply) {
    clearJob *j = ctx;
    j->outstanding--;
    bool ok = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
              reply->element[0]->type == REDIS_REPLY_STRING &&
              reply->element[1]->type == REDIS_REPLY_ARRAY;
    if (!ok)
        failedReply(j, reply, "SCAN");
    else if (atomic_load(&hurry))
        stopWith(j, "shutting down");
    if (j->last_sent) {
        settle(j);
        return;
    }
    /* COUNT is a hint: a step may find a few more keys than it. Only the
     * keys that are ours go: another prefix may start like ours. */
    const redisReply *keys = reply->element[1];
    const char *argv[UNLINK_MAX_KEYS + 1];
    size_t lens[UNLINK_MAX_KEYS + 1];
    argv[0] = "UNLINK";
    lens[0] = sizeof("UNLINK") - 1;
    size_t n = 0;
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        if (k->type == REDIS_REPLY_STRING && rcli__isOurs(k->str, k->len)) {
            argv[++n] = k->str;
            lens[n] = k->len;
        }
        bool full = n == UNLINK_MAX_KEYS, last = i + 1 == keys->elements;
        if (n > 0 && (full || last)) {
            if (!sendNode(j, unlinked, (int)n + 1, argv, lens)) {
                settle(j);
                return;
            }
            n = 0;
        }
    }
    if (strcmp(reply->element[0]->str, "0") == 0)
        j->last_sent = true; /* the cursor is back at its start: every key was seen */
    else
        scan(j, reply->element[0]->str);
    settle(j);
}

static bool scan(clearJob *j, const char *cursor) {
    char match[RCLI_MATCH_LEN];
    rcli__matchPattern(match);
    const char *argv[] = {"SCAN", cursor, "MATCH", match, "COUNT", RCLI_SCAN_COUNT};
    return sendNode(j, scanned, 6, argv, NULL);
}

bool rcliClearStart(rcliClearDone done, void *ctx, const char **why) {
    clearJob *j = calloc(1, sizeof(*j));
    if (!j) {
        *why = "out of memory";
        return false;
    }
    j->done = done;
    j->ctx = ctx;
    /* From the first SCAN queued on, only the loop thread touches j (the
     * queue's lock orders these writes before its reply). */
    if (!scan(j, "0")) {
        *why = j->error;
        free(j);
        return false;
    }
    return true;
}

void rcliClearHurry(void) {
    atomic_store(&hurry, true);
}

void rcliClearReset(void) {
    atomic_store(&hurry, false);
}
