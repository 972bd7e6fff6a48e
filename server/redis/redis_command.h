/* rcli_node.h -- inside the rcli module: one command on its way to Redis.
 *
 * A node is allocated by rcliNodeMake with the command's RESP text in it,
 * owned by the queue, then by the list of commands sent, and freed by the
 * loop thread once its callback has run.
 */
#ifndef RCLI_NODE_H
#define RCLI_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis_client.h"

#define RCLI_SCAN_COUNT "1000" /* keys SCAN looks at per step */

typedef struct rcliNode {
    struct rcliNode *next;
    rcliDone done;
    void *ctx;
    uint64_t deadline; /* CLOCK_MONOTONIC ns: no reply by then is a fault */
    bool counted;      /* a caller's command (its failure counts in errors) */
    size_t len;
    char cmd[]; /* len bytes of RESP */
} rcliNode;

/* A node for argc strings (lens NULL: NUL-terminated), due within
 * rcliTimeoutMs() from now. NULL when out of memory. Any thread. */
rcliNode *rcliNodeMake(rcliDone done, void *ctx, int argc, const char *const *argv,
                       const size_t *lens);

/* The prefix given to rcliStart, and the monotonic clock in ns. */
const char *rcli__prefix(void);
uint64_t rcli__now(void);

/* Counts a fault that no failed command counted (a reply of the wrong
 * shape). Any thread. */
void rcli__countError(void);

/* Lets clears run again (rcliStart). */
void rcli__clearReset(void);

#endif /* RCLI_NODE_H */
