/* redis_clear.h -- DELETE /cache with the redis backend: every key under our
 * prefix removed with SCAN + UNLINK, on the client's loop thread, one step
 * per reply (redis_client.h sends the commands).
 */
#ifndef REDIS_CLEAR_H
#define REDIS_CLEAR_H

#include <stdbool.h>

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
 * what it removed so far. Thread-safe; stays in force until rcliClearReset. */
void rcliClearHurry(void);

/* Lets clears run again after rcliClearHurry (a client started anew).
 * Thread-safe. */
void rcliClearReset(void);

#endif /* REDIS_CLEAR_H */
