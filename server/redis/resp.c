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
