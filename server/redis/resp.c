/* resp.c -- one command in RESP, on its way to Redis. */
#include "resp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t digits(size_t v) {
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

rcliNode *rcliNodeMake(rcliDone done, void *ctx, uint64_t deadline, int argc,
                       const char *const *argv, const size_t *lens) {
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
    n->deadline = deadline;
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

size_t rcliHandshakeMake(const rcliTarget *t, rcliDone step, rcliDone done, uint64_t deadline,
                         rcliNodeMaker make, rcliNode *out[RCLI_HANDSHAKE_MAX]) {
    size_t n = 0;
    bool ok = true;
    if (t->password[0]) {
        const char *auth[] = {"AUTH", t->user, t->password};
        out[n] = t->user[0]
                     ? make(step, NULL, deadline, 3, auth, NULL)
                     : make(step, NULL, deadline, 2, (const char *[]){"AUTH", t->password}, NULL);
        ok = out[n++] != NULL;
    }
    if (ok && t->db) {
        char db[16];
        snprintf(db, sizeof(db), "%u", t->db);
        out[n] = make(step, NULL, deadline, 2, (const char *[]){"SELECT", db}, NULL);
        ok = out[n++] != NULL;
    }
    if (ok) {
        out[n] = make(done, NULL, deadline, 1, (const char *[]){"PING"}, NULL);
        ok = out[n++] != NULL;
    }
    if (ok)
        return n;
    while (n > 0)
        free(out[--n]); /* free(NULL) for the one that failed */
    return 0;
}
