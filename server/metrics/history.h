/* history.h -- the last ten minutes of once-a-second figures, for the live page.
 *
 * A thread takes the figures of /stats once a second into a fixed ring of
 * HISTORY_SAMPLES (as netdata's agent keeps its own history), and GET
 * /history serves the ring as one JSON answer, oldest first, so that a page
 * opened ten minutes into a load test starts with the past drawn. The ring's
 * memory is fixed (HISTORY_SAMPLES samples), whatever the uptime.
 *
 * Thread-safe: the ring has one mutex; push and format may race freely.
 */
#ifndef HISTORY_H
#define HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HISTORY_SAMPLES 600 /* ten minutes at one a second */
#define HISTORY_PERIOD_MS 1000

typedef struct historySample {
    double uptime_s;
    uint64_t requests, errors, live, live_bytes, hits, misses, rss_bytes, heap_bytes;
    double oldest_age_s; /* -1: none alive */
    uint64_t shed;       /* POST /calculate shed by the memory guard, so far */
    bool shedding;       /* memory above the guard at the sample */
} historySample;

/* Starts the sampling thread. False if it cannot. */
bool historyStart(void);

/* Stops the thread (at once, not after a period). */
void historyStop(void);

/* Adds one sample, dropping the oldest when the ring is full. */
void historyPush(const historySample *s);

/* Empties the ring (tests). */
void historyReset(void);

/* Writes {"period_s":1,"samples":[{...},...]} into t, oldest first. */
struct textBuf;
void historyFormat(struct textBuf *t);

/* Bytes historyFormat needs at most. */
#define HISTORY_JSON_BYTES (HISTORY_SAMPLES * 384 + 64)

#endif /* HISTORY_H */
