/* rcli_node.c -- commands in RESP, and DELETE /cache's SCAN + UNLINK. */
#include "rcli_node.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNLINK_MAX_KEYS 1000 /* one SCAN step's keys at most */

/* ----------------------------------------------------------- RESP nodes */

static size_t digits(size_t v) {
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

rcliNode *rcliNodeMake(rcliDone done, void *ctx, int argc, const char *const *argv,
                       const size_t *lens) {
    size_t len = 1 + digits((size_t)argc) + 2;
    for (int i = 0; i < argc; i++) {
        size_t l = lens ? lens[i] : strlen(argv[i]);
        len += 1 + digits(l) + 2 + l + 2;
    }
    rcliNode *n = malloc(sizeof(*n) + len + 1);
    if (!n)
        return NULL;
    n->next = NULL;
    n->done = done;
    n->ctx = ctx;
    n->deadline = rcli__now() + (uint64_t)rcliTimeoutMs() * 1000000ull;
    n->counted = false;
    char *p = n->cmd;
    p += sprintf(p, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        size_t l = lens ? lens[i] : strlen(argv[i]);
        p += sprintf(p, "$%zu\r\n", l);
        memcpy(p, argv[i], l);
        p += l;
        *p++ = '\r';
        *p++ = '\n';
    }
    n->len = (size_t)(p - n->cmd);
    return n;
}

/* ----------------------------------------------------- clear the prefix */

/* The job lives on its caller's stack: it may end only once no command of
 * it is outstanding, whatever failed. Its fields are under lock (the first
 * SCAN is sent from the caller's thread, the rest from the loop's). */
typedef struct clearJob {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned outstanding; /* commands sent and not answered */
    bool last_sent;       /* nothing more will be sent */
    bool failed;
    long long removed;
} clearJob;

/* Counts one answered command; true when the job can send on. */
static bool nodeAnswered(clearJob *j, bool ok, bool last) {
    pthread_mutex_lock(&j->lock);
    j->outstanding--;
    j->failed |= !ok;
    j->last_sent |= last || j->failed;
    bool go_on = !j->last_sent;
    if (j->last_sent && j->outstanding == 0)
        pthread_cond_signal(&j->cond);
    pthread_mutex_unlock(&j->lock);
    return go_on;
}

static bool sendNode(clearJob *j, rcliDone done, int argc, const char *const *argv,
                     const size_t *lens) {
    pthread_mutex_lock(&j->lock);
    j->outstanding++; /* before the send: its answer may come at once */
    pthread_mutex_unlock(&j->lock);
    if (rcliSend(done, j, argc, argv, lens))
        return true;
    nodeAnswered(j, false, true);
    return false;
}

static void unlinked(void *ctx, const redisReply *reply) {
    clearJob *j = ctx;
    bool ok = reply && reply->type == REDIS_REPLY_INTEGER;
    if (ok) {
        pthread_mutex_lock(&j->lock);
        j->removed += reply->integer;
        pthread_mutex_unlock(&j->lock);
    }
    nodeAnswered(j, ok, false);
}

static void ended(void *ctx, const redisReply *reply) {
    nodeAnswered(ctx, reply && reply->type != REDIS_REPLY_ERROR, true);
}

static void scan(clearJob *j, const char *cursor);

/* Replies come in order: the PING sent after the last UNLINK answers after
 * it, so the job's count is complete when the PING's reply comes. */
static void scanned(void *ctx, const redisReply *reply) {
    clearJob *j = ctx;
    bool ok = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
              reply->element[0]->type == REDIS_REPLY_STRING &&
              reply->element[1]->type == REDIS_REPLY_ARRAY &&
              reply->element[1]->elements <= UNLINK_MAX_KEYS;
    if (!nodeAnswered(j, ok, false))
        return;
    const redisReply *keys = reply->element[1];
    if (keys->elements > 0) {
        const char *argv[UNLINK_MAX_KEYS + 1];
        size_t lens[UNLINK_MAX_KEYS + 1];
        argv[0] = "UNLINK";
        lens[0] = 6;
        for (size_t i = 0; i < keys->elements; i++) {
            argv[i + 1] = keys->element[i]->str;
            lens[i + 1] = keys->element[i]->len;
        }
        if (!sendNode(j, unlinked, (int)keys->elements + 1, argv, lens))
            return;
    }
    if (strcmp(reply->element[0]->str, "0") != 0)
        scan(j, reply->element[0]->str);
    else
        sendNode(j, ended, 1, (const char *[]){"PING"}, NULL);
}

static void scan(clearJob *j, const char *cursor) {
    char match[RCLI_PREFIX_LEN + 2];
    snprintf(match, sizeof(match), "%s*", rcli__prefix());
    const char *argv[] = {"SCAN", cursor, "MATCH", match, "COUNT", RCLI_SCAN_COUNT};
    sendNode(j, scanned, 6, argv, NULL);
}

long long rcliClearPrefix(void) {
    clearJob j = {.outstanding = 0, .last_sent = false, .failed = false, .removed = 0};
    pthread_mutex_init(&j.lock, NULL);
    pthread_cond_init(&j.cond, NULL);
    scan(&j, "0");
    /* Bounded: every step is a command with a timeout, and a failed one
     * ends the job. */
    pthread_mutex_lock(&j.lock);
    while (!(j.last_sent && j.outstanding == 0))
        pthread_cond_wait(&j.cond, &j.lock);
    bool failed = j.failed;
    long long removed = j.removed;
    pthread_mutex_unlock(&j.lock);
    pthread_cond_destroy(&j.cond);
    pthread_mutex_destroy(&j.lock);
    return failed ? -1 : removed;
}
