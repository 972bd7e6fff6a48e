/* rcli.h -- one asynchronous, pipelined connection to Redis (hiredis 0.14)
 * on an event loop thread of its own.
 *
 * Any thread hands a command to rcliSend; it is queued, and the loop thread
 * writes every command queued since its last turn in one write (pipelining:
 * concurrent requests share the connection and its round trips). Replies
 * come back in order and each command's callback runs on the loop thread.
 * No caller ever waits on Redis: a command's callback, or a clear's
 * (rcliClearStart, DELETE /cache), says later how it went.
 *
 * Faults: a command that gets no reply within the timeout drops the
 * connection (every command pending on it fails at once); the loop
 * reconnects by itself with an exponential backoff. While it is down,
 * rcliSend refuses at once, so that a request computes without the cache
 * instead of waiting. Every failed or refused command counts in errors.
 *
 * The password of the URL is never logged nor returned: rcliRedactUrl.
 */
#ifndef RCLI_H
#define RCLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define RCLI_TIMEOUT_MS 100 /* the default: a reply later than this is a fault */
#define RCLI_URL_LEN 256
#define RCLI_PREFIX_LEN 64

/* Where Redis is, parsed from redis://[[user]:password@]host[:port][/db] or
 * unix:///path/to/socket[?db=N]. */
typedef struct rcliTarget {
    bool unix_socket;
    char host[RCLI_URL_LEN]; /* or the socket's path */
    unsigned port;
    char user[64];
    char password[RCLI_URL_LEN];
    unsigned db;
} rcliTarget;

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

/* Called once per accepted command, on the loop thread, with the reply, or
 * NULL when the command failed (timeout, lost connection, shutdown). The
 * reply belongs to hiredis and is valid only during the call. */
typedef void (*rcliDone)(void *ctx, const redisReply *reply);

/* Parses url into t. On error writes a message (without the password) into
 * err and returns false. Pure: any thread. */
bool rcliParseUrl(const char *url, rcliTarget *t, char *err, size_t errcap);

/* url with its password replaced by "***", for logs and /stats. */
void rcliRedactUrl(const char *url, char *out, size_t cap);

/* Starts the loop thread; it connects in the background (a Redis that is
 * down at start is not an error). prefix (copied) is what the key sampler
 * and rcliClearStart match; a reply later than timeout_ms is a fault.
 * Returns false if the thread cannot start. */
bool rcliStart(const rcliTarget *t, const char *url, const char *prefix, unsigned timeout_ms);

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

/* How a clear of our prefix ended: removed keys are gone; error is NULL
 * when every key under the prefix was removed, otherwise what stopped it
 * (for a person, valid only during the call), removed counting the keys
 * removed before that. */
typedef void (*rcliClearDone)(void *ctx, long long removed, const char *error);

/* Starts removing every key under our prefix (SCAN + UNLINK, never KEYS or
 * FLUSHDB); the cursor loop runs on the loop thread, one step per reply,
 * each bounded by the reply timeout. Returns true when done(ctx, ...) will
 * be called exactly once later, on the loop thread (never from inside this
 * call). Returns false, done never called, when Redis is not connected now
 * (counted in errors) or memory is short; *why then says which (static
 * text). Thread-safe. */
bool rcliClearStart(rcliClearDone done, void *ctx, const char **why);

/* Shutdown: every clear in flight, and any started from now on, stops at
 * its next step (within one reply timeout) with error "shutting down" and
 * what it removed so far. Thread-safe; stays in force until rcliStart. */
void rcliClearHurry(void);

#endif /* RCLI_H */
