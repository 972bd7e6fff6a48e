/* redis_client.c -- the Redis connection: queue, event loop, timeouts, reconnects.
 *
 * The loop thread owns the hiredis context. Other threads only touch the
 * queue (under state.lock) and the atomics. hiredis 0.14 is driven by a small
 * epoll adapter of ours (its ev hooks), so that one thread serves the
 * socket, the queue's eventfd and the deadlines.
 */
#include "redis_client.h"

#include "clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/async.h>

/* ------------------------------------------------------------------ types */

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define SAMPLE_MS 1000

static struct {
    rcliTarget target;
    char url[RCLI_URL_LEN]; /* redacted */
    char prefix[RCLI_PREFIX_LEN];
    rcliKeyIsOurs ours;
    unsigned timeout_ms;
    pthread_t thread;
    bool started;
    int epfd, evfd;

    pthread_mutex_t lock; /* guards queue and stopping */
    rcliNode *qhead, *qtail;
    bool stopping;

    /* Loop thread only. */
    redisAsyncContext *ac;
    int fd;
    bool reading, writing;
    bool drop;            /* set inside a callback: drop the connection after it */
    const char *dropping; /* why dropContext is freeing the context */
    bool logged_down;
    bool logged_refused; /* a refused handshake is said once, whatever came before */
    bool ever_connected;
    rcliNode *sent_head, *sent_tail; /* sent, awaiting their replies, in order */
    uint64_t connect_deadline, retry_at, backoff_ms, next_sample;
    bool scanning;
    uint64_t scan_count;

    atomic_bool connected;
    atomic_uint_fast64_t commands, round_trips, errors, reconnects;
    atomic_int_fast64_t keys, used_memory;
} state;

/* ---------------------------------------------------------------- private */

/* When a command queued now is due: the reply timeout from now. */
static uint64_t deadline(void) {
    return clockNow() + (uint64_t)state.timeout_ms * 1000000ull;
}

/* Runs a node's callback and frees it. */
static void complete(rcliNode *n, const redisReply *reply) {
    if (n->counted && (!reply || reply->type == REDIS_REPLY_ERROR))
        atomic_fetch_add_explicit(&state.errors, 1, memory_order_relaxed);
    n->done(n->ctx, reply);
    free(n);
}

/* --- the epoll adapter (hiredis' ev hooks) --- */

static void watch(void) {
    struct epoll_event ev = {0};
    ev.events = (state.reading ? EPOLLIN : 0) | (state.writing ? EPOLLOUT : 0);
    ev.data.fd = state.fd;
    epoll_ctl(state.epfd, EPOLL_CTL_MOD, state.fd, &ev);
}
static void evAddRead(void *p) {
    (void)p;
    if (!state.reading) {
        state.reading = true;
        watch();
    }
}
static void evDelRead(void *p) {
    (void)p;
    if (state.reading) {
        state.reading = false;
        watch();
    }
}
static void evAddWrite(void *p) {
    (void)p;
    if (!state.writing) {
        state.writing = true;
        watch();
    }
}
static void evDelWrite(void *p) {
    (void)p;
    if (state.writing) {
        state.writing = false;
        watch();
    }
}
static void evCleanup(void *p) {
    (void)p;
    if (state.fd >= 0)
        epoll_ctl(state.epfd, EPOLL_CTL_DEL, state.fd, NULL);
    state.fd = -1;
    state.reading = state.writing = false;
}

/* --- connection life --- */

static void markDown(const char *why) {
    atomic_store(&state.connected, false);
    state.ac = NULL;
    state.retry_at = clockNow() + state.backoff_ms * NS_PER_MS;
    state.backoff_ms =
        state.backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : state.backoff_ms * 2;
    state.scanning = false;
    if (!state.logged_down) {
        fprintf(stderr, "memoscope: redis %s: %s; answering without the cache, reconnecting\n",
                state.url, why);
        state.logged_down = true;
    }
}

static void onReply(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)ac;
    rcliNode *n = privdata;
    if (state.sent_head == n) { /* replies come in order */
        state.sent_head = n->next;
        if (!state.sent_head)
            state.sent_tail = NULL;
    }
    complete(n, reply);
}

/* Sends n now; the loop thread only. */
static void issue(rcliNode *n) {
    if (!state.ac || redisAsyncFormattedCommand(state.ac, onReply, n, n->cmd, n->len) != REDIS_OK) {
        complete(n, NULL);
        return;
    }
    atomic_fetch_add_explicit(&state.commands, 1, memory_order_relaxed);
    n->next = NULL;
    if (state.sent_tail)
        state.sent_tail->next = n;
    else
        state.sent_head = n;
    state.sent_tail = n;
}

static void handshakeDone(void *ctx, const redisReply *reply) {
    (void)ctx;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        if (reply && !state.logged_refused) {
            /* Redis's own message ("WRONGPASS ...") never holds the password. */
            fprintf(stderr, "memoscope: redis %s refused the handshake: %.80s\n", state.url,
                    reply->str);
            state.logged_refused = state.logged_down = true;
        }
        state.drop = true;
        return;
    }
    if (reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0) {
        if (state.ever_connected)
            atomic_fetch_add(&state.reconnects, 1);
        state.ever_connected = true;
        state.backoff_ms = BACKOFF_MIN_MS;
        state.logged_down = false;
        state.next_sample = 0;
        fprintf(stderr, "memoscope: redis %s connected\n",
                state.url); /* then the flag: tests rely */
        atomic_store(&state.connected, true);
    }
}

static void handshakeStep(void *ctx, const redisReply *reply) {
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        handshakeDone(ctx, reply);
}

static void onConnect(const redisAsyncContext *ac, int status) {
    (void)ac;
    if (status != REDIS_OK)
        markDown(ac->errstr); /* hiredis frees the context after this */
}

static void onDisconnect(const redisAsyncContext *ac, int status) {
    (void)status;
    markDown(state.dropping ? state.dropping : ac->err ? ac->errstr : "connection closed");
}

static void connectNow(void) {
    const rcliTarget *t = &state.target;
    /* Made before the connection: without its AUTH or SELECT it would
     * write into another database (0). */
    rcliNode *handshake[RCLI_HANDSHAKE_MAX];
    size_t handshake_n =
        rcliHandshakeMake(t, handshakeStep, handshakeDone, deadline(), rcliNodeMake, handshake);
    if (handshake_n == 0) {
        markDown("out of memory for the handshake");
        return;
    }
    redisAsyncContext *ac =
        t->unix_socket ? redisAsyncConnectUnix(t->host) : redisAsyncConnect(t->host, (int)t->port);
    if (!ac || ac->err) {
        char why[128];
        snprintf(why, sizeof(why), "%s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        for (size_t i = 0; i < handshake_n; i++)
            free(handshake[i]);
        markDown(why);
        return;
    }
    state.ac = ac;
    state.fd = ac->c.fd;
    state.reading = state.writing = false;
    struct epoll_event ev = {0};
    ev.data.fd = state.fd;
    epoll_ctl(state.epfd, EPOLL_CTL_ADD, state.fd, &ev);
    ac->ev.addRead = evAddRead;
    ac->ev.delRead = evDelRead;
    ac->ev.addWrite = evAddWrite;
    ac->ev.delWrite = evDelWrite;
    ac->ev.cleanup = evCleanup;
    redisAsyncSetConnectCallback(ac, onConnect); /* waits for the first write event */
    redisAsyncSetDisconnectCallback(ac, onDisconnect);
    state.connect_deadline = clockNow() + state.timeout_ms * NS_PER_MS;

    for (size_t i = 0; i < handshake_n; i++)
        issue(handshake[i]);
}

/* Has Redis answered and this thread not read it yet? A loop thread that a
 * busy machine did not schedule in time is not a slow Redis: the reply is
 * read on the next turn instead of counted as a timeout. */
static bool unread(void) {
    int n = 0;
    return state.fd >= 0 && ioctl(state.fd, FIONREAD, &n) == 0 && n > 0;
}

/* Frees the context: every command pending on it fails now. */
static void dropContext(const char *why) {
    redisAsyncContext *ac = state.ac;
    if (!ac)
        return;
    state.dropping = why;
    redisAsyncFree(ac); /* runs the callbacks with NULL, then onDisconnect */
    if (state.ac)       /* not connected yet: hiredis calls no onDisconnect */
        markDown(why);
    state.dropping = NULL;
    state.sent_head = state.sent_tail = NULL;
}

/* --- sampling: used_memory and our keys, at most once a second --- */

static void infoDone(void *ctx, const redisReply *reply) {
    (void)ctx;
    if (!reply || reply->type != REDIS_REPLY_STRING)
        return;
    const char *p = strstr(reply->str, "used_memory:");
    if (p)
        atomic_store(&state.used_memory, strtoll(p + 12, NULL, 10));
}

static void scanStep(const char *cursor);

static void scanDone(void *ctx, const redisReply *reply) {
    (void)ctx;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        state.scanning = false;
        return;
    }
    const redisReply *keys = reply->element[1];
    for (size_t i = 0; i < keys->elements; i++)
        state.scan_count += keys->element[i]->type == REDIS_REPLY_STRING &&
                            rcli__isOurs(keys->element[i]->str, keys->element[i]->len);
    if (strcmp(reply->element[0]->str, "0") == 0) {
        atomic_store(&state.keys, (int_fast64_t)state.scan_count);
        state.scanning = false;
    } else {
        scanStep(reply->element[0]->str);
    }
}

static void scanStep(const char *cursor) {
    char match[RCLI_MATCH_LEN];
    rcli__matchPattern(match);
    const char *argv[] = {"SCAN", cursor, "MATCH", match, "COUNT", RCLI_SCAN_COUNT};
    rcliNode *n = rcliNodeMake(scanDone, NULL, deadline(), 6, argv, NULL);
    if (n)
        issue(n);
    else
        state.scanning = false;
}

static void sample(uint64_t now) {
    state.next_sample = now + SAMPLE_MS * NS_PER_MS;
    rcliNode *n =
        rcliNodeMake(infoDone, NULL, deadline(), 2, (const char *[]){"INFO", "memory"}, NULL);
    if (n)
        issue(n);
    if (!state.scanning) { /* a pass over many keys may take longer than a second */
        state.scanning = true;
        state.scan_count = 0;
        scanStep("0");
    }
}

/* --- the loop --- */

/* Takes everything queued and sends it (or fails it when down). */
static bool drainQueue(void) {
    pthread_mutex_lock(&state.lock);
    rcliNode *n = state.qhead;
    state.qhead = state.qtail = NULL;
    bool stopping = state.stopping;
    pthread_mutex_unlock(&state.lock);
    while (n) {
        rcliNode *next = n->next;
        if (atomic_load(&state.connected))
            issue(n);
        else
            complete(n, NULL);
        n = next;
    }
    return !stopping;
}

static int waitMs(uint64_t now) {
    uint64_t next = now + SAMPLE_MS * NS_PER_MS;
    if (!state.ac && state.retry_at < next)
        next = state.retry_at;
    if (state.ac && !atomic_load(&state.connected) && state.connect_deadline < next)
        next = state.connect_deadline;
    if (state.sent_head && state.sent_head->deadline < next)
        next = state.sent_head->deadline;
    if (atomic_load(&state.connected) && state.next_sample < next)
        next = state.next_sample;
    return next <= now ? 0 : (int)((next - now + NS_PER_MS - 1) / NS_PER_MS);
}

static void *loopThread(void *arg) {
    (void)arg;
    struct epoll_event evs[4];
    for (;;) {
        uint64_t now = clockNow();
        if (!state.ac && now >= state.retry_at)
            connectNow();
        int n = epoll_wait(state.epfd, evs, 4, waitMs(clockNow()));
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == state.evfd) {
                uint64_t v;
                if (read(state.evfd, &v, sizeof(v)) < 0) {
                    /* EAGAIN: another turn took the count already */
                }
                continue;
            }
            uint32_t e = evs[i].events;
            if (state.ac && state.reading && (e & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                redisAsyncHandleRead(state.ac);
            if (state.ac && state.writing && (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                if (atomic_load(&state.connected))
                    atomic_fetch_add_explicit(&state.round_trips, 1, memory_order_relaxed);
                redisAsyncHandleWrite(state.ac);
            }
        }
        if (!drainQueue())
            break;
        now = clockNow();
        if (state.drop)
            dropContext("handshake failed");
        else if (state.sent_head && state.sent_head->deadline <= now && !unread())
            dropContext("no reply within the timeout");
        else if (state.ac && !atomic_load(&state.connected) && state.connect_deadline <= now)
            dropContext("cannot connect within the timeout");
        state.drop = false;
        if (atomic_load(&state.connected) && now >= state.next_sample)
            sample(now);
    }
    state.logged_down = true; /* a shutdown is no fault to report */
    dropContext("shutting down");
    return NULL;
}

/* -------------------------------------------------------------------- API */

bool rcliStart(const rcliTarget *t, const char *url, const char *prefix, rcliKeyIsOurs ours,
               unsigned timeout_ms) {
    memset(&state, 0, sizeof(state));
    state.timeout_ms = timeout_ms;
    state.target = *t;
    rcliRedactUrl(url, state.url, sizeof(state.url));
    snprintf(state.prefix, sizeof(state.prefix), "%s", prefix);
    state.ours = ours;
    state.fd = -1;
    state.backoff_ms = BACKOFF_MIN_MS;
    atomic_store(&state.keys, -1);
    atomic_store(&state.used_memory, -1);
    pthread_mutex_init(&state.lock, NULL);
    state.epfd = epoll_create1(EPOLL_CLOEXEC);
    state.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = state.evfd};
    if (state.epfd < 0 || state.evfd < 0 ||
        epoll_ctl(state.epfd, EPOLL_CTL_ADD, state.evfd, &ev) != 0 ||
        pthread_create(&state.thread, NULL, loopThread, NULL) != 0) {
        if (state.epfd >= 0)
            close(state.epfd);
        if (state.evfd >= 0)
            close(state.evfd);
        pthread_mutex_destroy(&state.lock);
        return false;
    }
    state.started = true;
    return true;
}

static void kick(void) {
    uint64_t one = 1;
    if (write(state.evfd, &one, sizeof(one)) < 0) {
        /* the counter is full: the loop is awake anyway */
    }
}

void rcliStop(void) {
    if (!state.started)
        return;
    pthread_mutex_lock(&state.lock);
    state.stopping = true;
    pthread_mutex_unlock(&state.lock);
    kick();
    pthread_join(state.thread, NULL);
    drainQueue(); /* anything queued meanwhile fails: not connected */
    close(state.epfd);
    close(state.evfd);
    pthread_mutex_destroy(&state.lock);
    state.started = false;
}

bool rcliSend(rcliDone done, void *ctx, int argc, const char *const *argv, const size_t *lens) {
    rcliNode *n = atomic_load(&state.connected)
                      ? rcliNodeMake(done, ctx, deadline(), argc, argv, lens)
                      : NULL;
    if (!n) {
        atomic_fetch_add_explicit(&state.errors, 1, memory_order_relaxed);
        return false;
    }
    n->counted = true;
    pthread_mutex_lock(&state.lock);
    bool was_empty = state.qhead == NULL;
    if (state.qtail)
        state.qtail->next = n;
    else
        state.qhead = n;
    state.qtail = n;
    pthread_mutex_unlock(&state.lock);
    /* One wake-up per batch: the loop takes the whole queue when it runs,
     * and it runs every queued command of a turn in one write. */
    if (was_empty && !pthread_equal(pthread_self(), state.thread))
        kick();
    return true;
}

unsigned rcliTimeoutMs(void) {
    return state.timeout_ms;
}

bool rcliConnected(void) {
    return atomic_load(&state.connected);
}

rcliCounters rcliGetCounters(void) {
    rcliCounters c;
    c.connected = atomic_load(&state.connected);
    c.commands = atomic_load_explicit(&state.commands, memory_order_relaxed);
    c.round_trips = atomic_load_explicit(&state.round_trips, memory_order_relaxed);
    c.errors = atomic_load_explicit(&state.errors, memory_order_relaxed);
    c.reconnects = atomic_load_explicit(&state.reconnects, memory_order_relaxed);
    c.keys = atomic_load(&state.keys);
    c.used_memory = atomic_load(&state.used_memory);
    return c;
}

void rcli__matchPattern(char out[RCLI_MATCH_LEN]) {
    size_t o = 0;
    for (const char *p = state.prefix; *p; p++) {
        if (strchr("*?[]\\", *p))
            out[o++] = '\\';
        out[o++] = *p;
    }
    out[o++] = '*';
    out[o] = '\0';
}

bool rcli__isOurs(const char *key, size_t len) {
    size_t plen = strlen(state.prefix);
    if (len < plen || memcmp(key, state.prefix, plen) != 0)
        return false; /* SCAN MATCH already said so: never with an escaped pattern */
    return !state.ours || state.ours(key + plen, len - plen);
}

void rcli__countError(void) {
    atomic_fetch_add_explicit(&state.errors, 1, memory_order_relaxed);
}
