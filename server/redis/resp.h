/* resp.h -- one command on its way to Redis, in RESP (the redis layer's own).
 *
 * A node is allocated by rcliNodeMake with the command's RESP text in it,
 * owned by the client's queue, then by its list of commands sent, and freed
 * by the loop thread once its callback has run.
 */
#ifndef RESP_H
#define RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis_url.h"

struct redisReply; /* hiredis */

/* Called once per accepted command, on the loop thread, with the reply, or
 * NULL when the command failed (timeout, lost connection, shutdown). The
 * reply belongs to hiredis and is valid only during the call. */
typedef void (*rcliDone)(void *ctx, const struct redisReply *reply);

typedef struct rcliNode {
    struct rcliNode *next;
    rcliDone done;
    void *ctx;
    uint64_t deadline; /* CLOCK_MONOTONIC ns: no reply by then is a fault */
    bool counted;      /* a caller's command (its failure counts in errors) */
    size_t len;
    char cmd[]; /* len bytes of RESP */
} rcliNode;

/* A node for argc strings (lens NULL: NUL-terminated), due by deadline
 * (CLOCK_MONOTONIC ns). NULL when out of memory. Any thread. */
rcliNode *rcliNodeMake(rcliDone done, void *ctx, uint64_t deadline, int argc,
                       const char *const *argv, const size_t *lens);

/* The commands that open a connection to t, made all at once: AUTH when
 * t has a password, SELECT when its database is not 0, then PING, each due
 * by deadline. step is the callback of AUTH and SELECT, done that of PING.
 * make is rcliNodeMake (a test passes one that fails). Returns how many
 * were made into out (at most RCLI_HANDSHAKE_MAX), or 0 when one could not
 * be made: then none is left (a connection without its AUTH or SELECT
 * would write into the wrong database). Any thread. */
#define RCLI_HANDSHAKE_MAX 3
typedef rcliNode *(*rcliNodeMaker)(rcliDone done, void *ctx, uint64_t deadline, int argc,
                                   const char *const *argv, const size_t *lens);
size_t rcliHandshakeMake(const rcliTarget *t, rcliDone step, rcliDone done, uint64_t deadline,
                         rcliNodeMaker make, rcliNode *out[RCLI_HANDSHAKE_MAX]);

#endif /* RESP_H */
