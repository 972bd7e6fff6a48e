/* guard.h -- the memory limit and the memory guard.
 *
 * The limit is --memory-limit, or else the cgroup's (cgroup.h); none when
 * neither. The guard (--memory-guard, off by default so that the leak still
 * leaks) is bytes, or a fraction of the limit. A sampler thread compares,
 * every GUARD_PERIOD_MS, the memory the limit is about with the guard: the
 * cgroup's usage when the limit is the cgroup's (what its OOM killer acts
 * on), the process's RSS when the limit was given (the cgroup, if any, may
 * hold other processes). Above the guard, POST /calculate is shed with 503
 * and Retry-After before it makes an instance, and /readyz answers 503;
 * below it again both recover by themselves. Both are counted.
 *
 * Thread-safe: guardShedding and the counters are atomics any worker may
 * use; guardStart and guardStop run on main's thread.
 */
#ifndef GUARD_H
#define GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define GUARD_PERIOD_MS 10
#define GUARD_RETRY_AFTER_S 5 /* what a request shed is told to wait */

/* --memory-limit and --memory-guard. */
typedef struct guardSettings {
    uint64_t memory_limit; /* bytes; 0: the cgroup's */
    uint64_t guard_bytes;  /* the guard in bytes, or 0 */
    double guard_fraction; /* the guard as a fraction of the limit, or 0 */
} guardSettings;

typedef struct guardFigures {
    bool cgroup_found;
    uint64_t cgroup_bytes; /* the cgroup's usage now */
    uint64_t cgroup_max_hits, cgroup_oom_kills;
    uint64_t limit_bytes; /* 0: no limit */
    uint64_t guard_bytes; /* 0: guard off */
    uint64_t usage_bytes; /* what the guard compares: cgroup usage or RSS */
    bool shedding;
    uint64_t shed;    /* POST /calculate answered 503 by the guard */
    uint64_t unready; /* /readyz answered 503 */
} guardFigures;

/* Finds the cgroup (under cgroup_root, "/" but in tests), works out the
 * limit and the guard and, when the guard is on, starts the sampler. A
 * guard that is a fraction of a limit that does not exist is a bad setting:
 * a message naming it goes to err and false is returned (exit 2). */
bool guardStart(const guardSettings *s, const char *cgroup_root, FILE *err);

/* Stops the sampler and closes the cgroup's files. */
void guardStop(void);

/* Is memory above the guard now? One atomic load: the hot path asks it. */
bool guardShedding(void);

/* The usage and the guard of the last sample (two atomic loads), for the
 * answer of a request shed. */
void guardLevels(uint64_t *usage, uint64_t *guard);

/* A POST /calculate was shed (answered 503), /readyz answered 503: counted
 * in the figures. */
void guardCountShed(void);
void guardCountUnready(void);

/* Every figure now (the cgroup's read at this call). */
guardFigures guardRead(void);

/* The figures as /stats' memory fields (no braces) and as /metrics lines. */
struct textBuf;
void guardFormatJson(const guardFigures *f, struct textBuf *t);
void guardFormatPrometheus(const guardFigures *f, struct textBuf *t);

/* A short description for the startup line ("limit=... guard=..."). */
void guardDescribe(char *buf, size_t cap);

#endif /* GUARD_H */
