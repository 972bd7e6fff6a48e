/* redis_client.h -- one asynchronous, pipelined connection to Redis (hiredis 0.14)
 * on an event loop thread of its own.
 *
 * Any thread hands a command to rcliSend; it is queued, and the loop thread
 * writes every command queued since its last turn in one write (pipelining:
 * concurrent requests share the connection and its round trips). Replies
 * come back in order and each command's callback runs on the loop thread.
 * No caller ever waits on Redis: a command's callback, or a clear's
 * (redis_clear.h, DELETE /cache), says later how it went.
 *
 * Faults: a command that gets no reply within the timeout drops the
 * connection (every command pending on it fails at once); the loop
 * reconnects by itself with an exponential backoff. While it is down,
 * rcliSend refuses at once, so that a request computes without the cache
 * instead of waiting. Every failed or refused command counts in errors.
 *
 * The password of the URL is never logged nor returned (redis_url.h).
 */
#ifndef REDIS_CLIENT_H
#define REDIS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis_url.h"
#include "resp.h"

#define RCLI_TIMEOUT_MS 100 /* the default: a reply later than this is a fault */
#define RCLI_PREFIX_LEN 64

/* Figures for /stats and /metrics. keys and used_memory are sampled at most
 * once a second by the loop (-1 until the first sample). */
typedef struct rcliCounters {
    bool connected;
    uint64_t commands;    /* sent to Redis */
    uint64_t round_trips; /* writes to the socket, each a pipeline of commands */
    uint64_t errors;      /* commands that failed, timed out or were refused */
    uint64_t reconnects;  /* connections made after the first */
    int64_t keys;         /* keys under our prefix, from the last full SCAN */
    int64_t used_memory;  /* Redis's INFO used_memory */
} rcliCounters;

/* Is a key under our prefix one of ours? Gets the key's bytes after the
 * prefix; called on the loop thread. */
typedef bool (*rcliKeyIsOurs)(const char *rest, size_t len);

/* Starts the loop thread; it connects in the background (a Redis that is
 * down at start is not an error). The key sampler and the clear
 * (redis_clear.h) take the keys that start with prefix (copied; SCAN MATCH
 * with its glob characters escaped) and that ours accepts (NULL: every such
 * key), so that a prefix "app" leaves another's "app2..." keys alone. A
 * reply later than timeout_ms is a fault. Returns false if the thread
 * cannot start. */
bool rcliStart(const rcliTarget *t, const char *url, const char *prefix, rcliKeyIsOurs ours,
               unsigned timeout_ms);

/* The reply timeout given to rcliStart, in milliseconds. */
unsigned rcliTimeoutMs(void);

/* Fails every pending command (their callbacks run with NULL), stops the
 * thread and frees everything. Call once no new command can come. */
void rcliStop(void);

/* Queues one command (argc strings of lens bytes each). Returns true when
 * done(ctx, ...) will be called exactly once later, on the loop thread;
 * false (done is never called; counted as an error) when Redis is not
 * connected now or memory is short. Thread-safe. */
bool rcliSend(rcliDone done, void *ctx, int argc, const char *const *argv, const size_t *lens);

/* Is the connection up (handshake done)? Thread-safe. */
bool rcliConnected(void);

rcliCounters rcliGetCounters(void);

/* ---------------------------------------- inside the redis layer only */

#define RCLI_SCAN_COUNT "1000" /* keys a SCAN looks at per step */

/* SCAN's MATCH pattern for our keys: the prefix given to rcliStart with
 * its glob characters (* ? [ ] \) escaped, then '*'. */
#define RCLI_MATCH_LEN (2 * RCLI_PREFIX_LEN + 2)
void rcli__matchPattern(char out[RCLI_MATCH_LEN]);

/* Is the key (len bytes), which SCAN found under our prefix, one of ours
 * (rcliStart's filter)? Loop thread. */
bool rcli__isOurs(const char *key, size_t len);

/* Counts a fault that no failed command counted (a reply of the wrong
 * shape). Any thread. */
void rcli__countError(void);

#endif /* REDIS_CLIENT_H */
