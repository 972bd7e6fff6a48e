/* scope_types.h -- the types of the scopes (scope.h) and of their backends
 * (backend.h), apart from their functions, so that both can share them.
 */
#ifndef SCOPE_TYPES_H
#define SCOPE_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum scopeKind {
    SCOPE_GLOBAL, /* one process-wide cache keyed by (instance, a, b) */
    SCOPE_LOCAL,  /* one cache per SlowAdder keyed by (a, b) */
    SCOPE_SHARED, /* one process-wide cache keyed by (a, b) */
    SCOPE_OFF,    /* no cache */
    SCOPE_WEAK    /* one process-wide cache keyed by (instance, a, b), holding no
                     instance: an instance's entries leave when it is freed */
} scopeKind;
#define SCOPE_KINDS (SCOPE_WEAK + 1)

typedef enum backendKind {
    BACKEND_MEMORY, /* the process-wide caches live in this process */
    BACKEND_REDIS   /* the process-wide caches (global, shared) live in Redis */
} backendKind;
#define BACKEND_KINDS (BACKEND_REDIS + 1)

/* The scope's settings. The strings must outlive the scope. */
typedef struct scopeSettings {
    scopeKind kind;
    size_t maxsize;        /* entries per cache; MEMO_UNBOUNDED for none */
    size_t maxbytes;       /* bytes per cache; MEMO_UNBOUNDED for none */
    uint64_t ttl_ns;       /* 0: entries never expire */
    size_t instance_bytes; /* each SlowAdder's payload */
    backendKind backend;   /* where global and shared scope keep their entries */
    const char *redis_url; /* the redis backend's (may hold a password: never print it) */
    const char *redis_prefix;
    const char *replica;
    unsigned redis_timeout_ms;
} scopeSettings;

typedef enum scopeLookupResult {
    SCOPE_HIT,  /* *result is set */
    SCOPE_MISS, /* compute, then scopeStore */
    SCOPE_WAIT  /* queued: wake(waiter) comes later with waiter->result */
} scopeLookupResult;

typedef struct scopeWaiter {
    struct scopeWaiter *next;  /* owned by the scope while queued */
    scopeLookupResult outcome; /* at wake: SCOPE_HIT (result set) or SCOPE_MISS (compute) */
    int64_t result;
    void (*wake)(struct scopeWaiter *w);
} scopeWaiter;

/* What /stats and /metrics report about caching, summed over every cache
 * that exists now and has existed. */
typedef struct scopeCounters {
    uint64_t hits; /* includes coalesced */
    uint64_t misses;
    uint64_t coalesced;
    uint64_t currsize;
    uint64_t evictions;
    uint64_t expirations;        /* entries whose TTL passed */
    uint64_t currbytes;          /* bytes the caches keep alive now */
    uint64_t left_with_instance; /* weak scope: entries removed when their instance was freed */
} scopeCounters;

/* cache_clear() of the process-wide cache, which may finish later (the
 * redis backend). The caller owns it and sets done; the scope sets the rest
 * before it says the clear is over. */
#define SCOPE_CLEAR_ERROR_LEN 192
typedef struct scopeClear {
    void (*done)(struct scopeClear *c); /* the caller's: a clear that went on is over */
    uint64_t entries_freed;             /* what was removed, also when it failed */
    uint64_t instances_freed;
    bool failed;                       /* the backend failed: the cache is cleared in part */
    char error[SCOPE_CLEAR_ERROR_LEN]; /* when failed: what went wrong, for a person */
} scopeClear;

/* One entry of the process-wide cache whose key names an instance. */
#define SCOPE_ENTRIES_MAX 16
typedef struct scopeEntry {
    int64_t a, b;
    uint64_t age_ns; /* since the entry was stored */
} scopeEntry;

#endif /* SCOPE_TYPES_H */
