/* backend_redis.c -- the process-wide entries of global and shared scope in
 * Redis, shared by every replica (the backend's table is at the end).
 *
 * The scope decides the key (redis_client.h talks to Redis):
 *   shared  <prefix>shared:<a>:<b>: a hit for every replica. The first miss
 *           of a key in this process leads a flight that the others join;
 *           across replicas the leader takes <prefix>lock:shared:<a>:<b>
 *           with SET NX PX, and a leader that finds it taken polls for the
 *           value (a timer, no thread) and counts as coalesced.
 *   global  <prefix>global:<replica>:<id>:<a>:<b>: the instance in the key,
 *           so never a hit across requests and one more key per request.
 *           The entry holds no memory of this process: Redis grows.
 *
 * Every lookup that asks Redis returns SCOPE_WAIT; the waiter's wake is
 * called later from the client's loop (or the timer) thread with outcome
 * SCOPE_HIT (result set) or SCOPE_MISS (compute, then store). When Redis is
 * down or fails, the outcome is SCOPE_MISS and the value is computed without
 * the cache: nothing waits beyond the reply timeout (--redis-timeout-ms).
 */
#include "backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <hiredis/hiredis.h>

#include "container.h"
#include "redis_client.h"
#include "redis_clear.h"
#include "timer.h"

/* ------------------------------------------------------------------ types */

#define KEY_LEN 256
#define VALUE_LEN 24
#define POLL_MS 2 /* a leader that lost the lock asks for the value this often */
#define FLIGHT_BUCKETS 4096
#define TOKEN_LEN 48 /* a lock's value: this process's random id and a sequence */
#define TOKEN_RANDOM_BYTES 16

/* Deletes the lock only while it holds our token: a lock that expired
 * while we computed may be another replica's by now. One script, so that
 * no other command runs between the GET and the DEL. */
#define UNLOCK_SCRIPT                                                                              \
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "         \
    "return 0"

typedef enum flightState {
    F_ASKING,   /* a command or a poll of ours is pending: only it may end us */
    F_COMPUTING /* the leader computes: its store ends us */
} flightState;

/* A key looked up (or computed) by this process now. The first request is
 * its leader; others wait on it. In the table while it lives (R.lock). */
typedef struct flight {
    struct flight *next;
    int64_t a, b;
    flightState state;
    bool has_lock;         /* we hold <prefix>lock:shared:<a>:<b>: delete it after the store */
    char token[TOKEN_LEN]; /* the lock's value while we may hold it */
    scopeWaiter *leader;
    scopeWaiter *waiters;
    unsigned delay_ms;
    uint64_t poll_deadline_ns;
    timer tm;
} flight;

static struct {
    const scopeSettings *settings;
    uint64_t ttl_ms; /* 0: no expiry. The hook for --ttl-s: SET ... PX ttl_ms */
    pthread_mutex_t lock;
    char id[2 * TOKEN_RANDOM_BYTES + 1]; /* random, in hex: this process in its locks */
    atomic_uint_fast64_t lock_seq;
    flight *flights[FLIGHT_BUCKETS];
    atomic_uint_fast64_t hits, misses, coalesced;
} state;

/* ---------------------------------------------------------------- private */

static void bump(atomic_uint_fast64_t *c) {
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static size_t sharedKey(char *buf, int64_t a, int64_t b) {
    return (size_t)snprintf(buf, KEY_LEN, "%sshared:%lld:%lld", state.settings->redis_prefix,
                            (long long)a, (long long)b);
}

static size_t lockKey(char *buf, int64_t a, int64_t b) {
    return (size_t)snprintf(buf, KEY_LEN, "%slock:shared:%lld:%lld", state.settings->redis_prefix,
                            (long long)a, (long long)b);
}

static size_t globalKey(char *buf, const adder *ad, int64_t a, int64_t b) {
    return (size_t)snprintf(buf, KEY_LEN, "%sglobal:%s:%llu:%lld:%lld",
                            state.settings->redis_prefix, state.settings->replica,
                            (unsigned long long)ad->id, (long long)a, (long long)b);
}

/* A stored value: a whole decimal int64, nothing else. */
static bool replyValue(const redisReply *r, int64_t *out) {
    if (!r || r->type != REDIS_REPLY_STRING || r->len == 0 || r->len >= VALUE_LEN)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(r->str, &end, 10);
    if (errno || end != r->str + r->len)
        return false;
    *out = v;
    return true;
}

static bool get(rcliDone done, void *ctx, const char *key, size_t len) {
    const char *argv[] = {"GET", key};
    size_t lens[] = {3, len};
    return rcliSend(done, ctx, 2, argv, lens);
}

static void ignored(void *ctx, const redisReply *reply) {
    (void)ctx;
    (void)reply; /* a failed store or unlock is counted by rcli; nothing waits on it */
}

/* SET key value [PX ttl]: fire and forget. */
static void set(const char *key, size_t len, int64_t value) {
    char v[VALUE_LEN], ttl[VALUE_LEN];
    int vl = snprintf(v, sizeof(v), "%lld", (long long)value);
    snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)state.ttl_ms);
    const char *argv[] = {"SET", key, v, "PX", ttl};
    size_t lens[] = {3, len, (size_t)vl, 2, strlen(ttl)};
    rcliSend(ignored, NULL, state.ttl_ms ? 5 : 3, argv, lens);
}

static void wakeWith(scopeWaiter *w, scopeLookupResult outcome, int64_t value) {
    w->outcome = outcome;
    w->result = value;
    w->wake(w);
}

/* --- global --- */

static void globalGot(void *ctx, const redisReply *reply) {
    int64_t v;
    if (replyValue(reply, &v)) {
        bump(&state.hits);
        wakeWith(ctx, SCOPE_HIT, v);
    } else {
        bump(&state.misses);
        wakeWith(ctx, SCOPE_MISS, 0);
    }
}

/* --- shared: the flight table --- */

static flight **flightSlot(int64_t a, int64_t b) {
    uint64_t h = (uint64_t)a * 0x9e3779b97f4a7c15ull ^ (uint64_t)b * 0xc2b2ae3d27d4eb4full;
    flight **slot = &state.flights[(h >> 32) & (FLIGHT_BUCKETS - 1)];
    while (*slot && ((*slot)->a != a || (*slot)->b != b))
        slot = &(*slot)->next;
    return slot;
}

/* The leader computes (a miss, or Redis failed): its store ends the flight. */
static void leaderComputes(flight *f) {
    scopeWaiter *leader = f->leader; /* f may be gone once unlocked */
    pthread_mutex_lock(&state.lock);
    f->state = F_COMPUTING;
    pthread_mutex_unlock(&state.lock);
    bump(&state.misses);
    wakeWith(leader, SCOPE_MISS, 0);
}

/* The value came from Redis: every request of the flight has it. Waiters
 * count as coalesced when it was computed while they waited. */
static void resolve(flight *f, int64_t v, bool computed) {
    pthread_mutex_lock(&state.lock);
    flight **slot = flightSlot(f->a, f->b);
    *slot = f->next;
    pthread_mutex_unlock(&state.lock);
    scopeWaiter *w = f->waiters;
    wakeWith(f->leader, SCOPE_HIT, v);
    while (w) {
        scopeWaiter *next = w->next; /* w may be freed once woken */
        bump(&state.hits);
        if (computed)
            bump(&state.coalesced);
        wakeWith(w, SCOPE_HIT, v);
        w = next;
    }
    free(f);
}

static void polled(void *ctx, const redisReply *reply);

static void pollFire(timer *t) {
    flight *f = container_of(t, flight, tm);
    char key[KEY_LEN];
    size_t len = sharedKey(key, f->a, f->b);
    if (!get(polled, f, key, len))
        leaderComputes(f);
}

/* Another replica holds the lock: ask again in POLL_MS, until its value
 * comes or the time it should have taken has passed. */
static void pollLater(flight *f) {
    if (clockNow() >= f->poll_deadline_ns || !timerAdd(&f->tm, POLL_MS, pollFire))
        leaderComputes(f); /* the holder died or is late: compute without it */
}

static void polled(void *ctx, const redisReply *reply) {
    flight *f = ctx;
    int64_t v;
    if (replyValue(reply, &v)) {
        bump(&state.hits);
        bump(&state.coalesced);
        resolve(f, v, true);
    } else if (reply && reply->type == REDIS_REPLY_NIL) {
        pollLater(f);
    } else {
        leaderComputes(f);
    }
}

static void locked(void *ctx, const redisReply *reply) {
    flight *f = ctx;
    if (reply && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0) {
        f->has_lock = true; /* read by the leader's store, after the wake */
        leaderComputes(f);
    } else if (reply && reply->type == REDIS_REPLY_NIL) {
        f->poll_deadline_ns = clockNow() + ((uint64_t)f->delay_ms + rcliTimeoutMs()) * 1000000ull;
        pollLater(f);
    } else {
        leaderComputes(f);
    }
}

static void sharedGot(void *ctx, const redisReply *reply) {
    flight *f = ctx;
    int64_t v;
    if (replyValue(reply, &v)) {
        bump(&state.hits);
        resolve(f, v, false);
        return;
    }
    if (reply && reply->type == REDIS_REPLY_NIL) {
        /* SET lock token NX PX: held for the computation and a timeout more. */
        char key[KEY_LEN], px[VALUE_LEN];
        size_t len = lockKey(key, f->a, f->b);
        snprintf(px, sizeof(px), "%u", f->delay_ms + 2 * rcliTimeoutMs());
        snprintf(f->token, sizeof(f->token), "%s:%llu", state.id,
                 (unsigned long long)atomic_fetch_add(&state.lock_seq, 1));
        const char *argv[] = {"SET", key, f->token, "NX", "PX", px};
        size_t lens[] = {3, len, strlen(f->token), 2, 2, strlen(px)};
        if (rcliSend(locked, f, 6, argv, lens))
            return;
    }
    leaderComputes(f);
}

static scopeLookupResult sharedLookup(adder *ad, int64_t a, int64_t b, scopeWaiter *w) {
    pthread_mutex_lock(&state.lock);
    flight **slot = flightSlot(a, b);
    if (*slot) {
        w->next = (*slot)->waiters;
        (*slot)->waiters = w;
        pthread_mutex_unlock(&state.lock);
        return SCOPE_WAIT;
    }
    flight *f = calloc(1, sizeof(*f));
    if (!f) { /* this miss just does not coalesce */
        pthread_mutex_unlock(&state.lock);
        bump(&state.misses);
        return SCOPE_MISS;
    }
    f->a = a;
    f->b = b;
    f->leader = w;
    f->delay_ms = ad->delay_ms;
    f->state = F_ASKING;
    *slot = f;
    pthread_mutex_unlock(&state.lock);

    char key[KEY_LEN];
    size_t len = sharedKey(key, a, b);
    if (get(sharedGot, f, key, len))
        return SCOPE_WAIT;
    pthread_mutex_lock(&state.lock); /* Redis is down: compute, and end it in the store */
    f->state = F_COMPUTING;
    pthread_mutex_unlock(&state.lock);
    bump(&state.misses);
    return SCOPE_MISS;
}

/* --- which keys are ours: DELETE /cache and the key count take no other --- */

/* An integer as "%lld" writes it; advances *p past it. */
static bool keyInt(const char **p, const char *end, bool sign) {
    const char *s = *p;
    if (sign && s < end && *s == '-')
        s++;
    const char *digits = s;
    while (s < end && *s >= '0' && *s <= '9')
        s++;
    *p = s;
    return s > digits;
}

static bool keyLit(const char **p, const char *end, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
        return false;
    *p += n;
    return true;
}

/* After the prefix: shared:<a>:<b>, lock:shared:<a>:<b> or
 * global:<replica>:<id>:<a>:<b>, as the functions above write them. */
static bool isOurKey(const char *p, size_t len) {
    const char *end = p + len;
    if (keyLit(&p, end, "global:")) {
        const char *name = p;
        while (p < end && *p != ':')
            p++;
        if (p == name || !keyLit(&p, end, ":") || !keyInt(&p, end, false) || !keyLit(&p, end, ":"))
            return false;
    } else if (!keyLit(&p, end, "shared:") &&
               !(keyLit(&p, end, "lock:") && keyLit(&p, end, "shared:"))) {
        return false;
    }
    return keyInt(&p, end, true) && keyLit(&p, end, ":") && keyInt(&p, end, true) && p == end;
}

/* -------------------------------------------------------------------- API */

static bool redisInit(const scopeSettings *s) {
    memset(&state, 0, sizeof(state));
    state.settings = s;
    /* --ttl-s is Redis' own PX, in whole milliseconds (rounded up: never 0). */
    state.ttl_ms = s->ttl_ns ? (s->ttl_ns + 999999) / 1000000 : 0;
    pthread_mutex_init(&state.lock, NULL);
    unsigned char random[TOKEN_RANDOM_BYTES];
    if (getrandom(random, sizeof(random), 0) != (ssize_t)sizeof(random))
        return false;
    for (size_t i = 0; i < sizeof(random); i++)
        snprintf(state.id + 2 * i, 3, "%02x", random[i]);
    rcliTarget t;
    char err[128];
    if (!rcliParseUrl(s->redis_url, &t, err, sizeof(err))) /* checked by config already */
        return false;
    if (!rcliStart(&t, s->redis_url, s->redis_prefix, isOurKey, s->redis_timeout_ms))
        return false;
    rcliClearReset(); /* a client started anew: its clears may run */
    return true;
}

static void redisShutdown(void) {
    rcliStop();
    for (size_t i = 0; i < FLIGHT_BUCKETS; i++) {
        while (state.flights[i]) { /* none are left after a drain; be tidy anyway */
            flight *f = state.flights[i];
            state.flights[i] = f->next;
            free(f);
        }
    }
    pthread_mutex_destroy(&state.lock);
}

static scopeLookupResult redisLookup(adder *ad, int64_t a, int64_t b, int64_t *result,
                                     scopeWaiter *w, bool allow_wait) {
    (void)result;      /* a value always comes through the waiter */
    if (!allow_wait) { /* shutting down: no more waiting on anything */
        bump(&state.misses);
        return SCOPE_MISS;
    }
    if (state.settings->kind == SCOPE_SHARED)
        return sharedLookup(ad, a, b, w);
    char key[KEY_LEN];
    size_t len = globalKey(key, ad, a, b);
    if (get(globalGot, w, key, len))
        return SCOPE_WAIT;
    bump(&state.misses);
    return SCOPE_MISS;
}

static void redisStore(adder *ad, int64_t a, int64_t b, int64_t result) {
    char key[KEY_LEN];
    if (state.settings->kind == SCOPE_GLOBAL) {
        if (rcliConnected())
            set(key, globalKey(key, ad, a, b), result);
        return;
    }
    pthread_mutex_lock(&state.lock);
    flight **slot = flightSlot(a, b);
    flight *f = *slot;
    if (f && f->state == F_COMPUTING)
        *slot = f->next;
    else
        f = NULL; /* none, or one still asking Redis: it ends itself */
    pthread_mutex_unlock(&state.lock);

    if (rcliConnected()) { /* pipelined: both leave in one write */
        set(key, sharedKey(key, a, b), result);
        if (f && f->has_lock) {
            size_t len = lockKey(key, a, b);
            const char *argv[] = {"EVAL", UNLOCK_SCRIPT, "1", key, f->token};
            size_t lens[] = {4, sizeof(UNLOCK_SCRIPT) - 1, 1, len, strlen(f->token)};
            rcliSend(ignored, NULL, 5, argv, lens);
        }
    }
    if (!f)
        return;
    scopeWaiter *w = f->waiters;
    free(f);
    while (w) {
        scopeWaiter *next = w->next;
        bump(&state.hits);
        bump(&state.coalesced);
        wakeWith(w, SCOPE_HIT, result);
        w = next;
    }
}

static scopeCounters redisCounters(void) {
    scopeCounters c = {0};
    c.hits = atomic_load_explicit(&state.hits, memory_order_relaxed);
    c.misses = atomic_load_explicit(&state.misses, memory_order_relaxed);
    c.coalesced = atomic_load_explicit(&state.coalesced, memory_order_relaxed);
    rcliCounters rc = rcliGetCounters();
    c.currsize = rc.keys > 0 ? (uint64_t)rc.keys : 0;
    return c;
}

/* The client's clear is over: c is set, then its owner hears of it. */
static void cleared(void *ctx, long long removed, const char *error) {
    scopeClear *c = ctx;
    c->entries_freed = removed > 0 ? (uint64_t)removed : 0;
    if (error) {
        c->failed = true;
        snprintf(c->error, sizeof(c->error), "%s", error);
    }
    c->done(c); /* c may be gone after this */
}

static bool redisClear(scopeClear *c) {
    const char *why = NULL;
    if (rcliClearStart(cleared, c, &why))
        return false; /* cleared() comes later */
    c->failed = true;
    snprintf(c->error, sizeof(c->error), "%s", why);
    return true;
}

static void redisClearHurry(void) {
    rcliClearHurry();
}

static memoInfo redisInfo(void) {
    scopeCounters c = redisCounters();
    memoInfo info = {0};
    info.hits = c.hits;
    info.misses = c.misses;
    info.currsize = c.currsize;
    info.maxsize = state.settings->maxsize;
    return info;
}

/* Redis keeps no instance of ours: GET /instances lists no entries. */
static size_t redisEntriesOf(const adder *ad, scopeEntry *out, size_t max, bool *holding) {
    (void)ad, (void)out, (void)max, (void)holding;
    return 0;
}

const scopeBackend scope_backend_redis = {
    .name = "redis",
    .init = redisInit,
    .shutdown = redisShutdown,
    .adopt = NULL,
    .lookup = redisLookup,
    .store = redisStore,
    .info = redisInfo,
    .counters = redisCounters,
    .clear = redisClear,
    .clear_hurry = redisClearHurry,
    .entries_of = redisEntriesOf,
    .sweep_start = NULL, /* Redis expires its own keys (PX) */
    .sweep_stop = NULL,
};
