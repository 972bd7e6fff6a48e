/* rcli.c -- the Redis connection: queue, event loop, timeouts, reconnects.
 *
 * The loop thread owns the hiredis context. Other threads only touch the
 * queue (under R.lock) and the atomics. hiredis 0.14 is driven by a small
 * epoll adapter of ours (its ev hooks), so that one thread serves the
 * socket, the queue's eventfd and the deadlines.
 */
#include "redis_client.h"

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
#define NS_PER_MS 1000000ull

static struct {
    rcliTarget target;
    char url[RCLI_URL_LEN]; /* redacted */
    char prefix[RCLI_PREFIX_LEN];
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
} R;

/* ---------------------------------------------------------------- private */

static uint64_t monoNow(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* When a command queued now is due: the reply timeout from now. */
static uint64_t deadline(void) {
    return monoNow() + (uint64_t)R.timeout_ms * 1000000ull;
}

/* Runs a node's callback and frees it. */
static void complete(rcliNode *n, const redisReply *reply) {
    if (n->counted && (!reply || reply->type == REDIS_REPLY_ERROR))
        atomic_fetch_add_explicit(&R.errors, 1, memory_order_relaxed);
    n->done(n->ctx, reply);
    free(n);
}

/* --- the epoll adapter (hiredis' ev hooks) --- */

static void watch(void) {
    struct epoll_event ev = {0};
    ev.events = (R.reading ? EPOLLIN : 0) | (R.writing ? EPOLLOUT : 0);
    ev.data.fd = R.fd;
    epoll_ctl(R.epfd, EPOLL_CTL_MOD, R.fd, &ev);
}
static void evAddRead(void *p) {
    (void)p;
    if (!R.reading) {
        R.reading = true;
        watch();
    }
}
static void evDelRead(void *p) {
    (void)p;
    if (R.reading) {
        R.reading = false;
        watch();
    }
}
static void evAddWrite(void *p) {
    (void)p;
    if (!R.writing) {
        R.writing = true;
        watch();
    }
}
static void evDelWrite(void *p) {
    (void)p;
    if (R.writing) {
        R.writing = false;
        watch();
    }
}
static void evCleanup(void *p) {
    (void)p;
    if (R.fd >= 0)
        epoll_ctl(R.epfd, EPOLL_CTL_DEL, R.fd, NULL);
    R.fd = -1;
    R.reading = R.writing = false;
}

/* --- connection life --- */

static void markDown(const char *why) {
    atomic_store(&R.connected, false);
    R.ac = NULL;
    R.retry_at = monoNow() + R.backoff_ms * NS_PER_MS;
    R.backoff_ms = R.backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : R.backoff_ms * 2;
    R.scanning = false;
    if (!R.logged_down) {
        fprintf(stderr, "memoscope: redis %s: %s; answering without the cache, reconnecting\n",
                R.url, why);
        R.logged_down = true;
    }
}

static void onReply(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)ac;
    rcliNode *n = privdata;
    if (R.sent_head == n) { /* replies come in order */
        R.sent_head = n->next;
        if (!R.sent_head)
            R.sent_tail = NULL;
    }
    complete(n, reply);
}

/* Sends n now; the loop thread only. */
static void issue(rcliNode *n) {
    if (!R.ac || redisAsyncFormattedCommand(R.ac, onReply, n, n->cmd, n->len) != REDIS_OK) {
        complete(n, NULL);
        return;
    }
    atomic_fetch_add_explicit(&R.commands, 1, memory_order_relaxed);
    n->next = NULL;
    if (R.sent_tail)
        R.sent_tail->next = n;
    else
        R.sent_head = n;
    R.sent_tail = n;
}

static void handshakeDone(void *ctx, const redisReply *reply) {
    (void)ctx;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        if (reply && !R.logged_refused) {
            /* Redis's own message ("WRONGPASS ...") never holds the password. */
            fprintf(stderr, "memoscope: redis %s refused the handshake: %.80s\n", R.url,
                    reply->str);
            R.logged_refused = R.logged_down = true;
        }
        R.drop = true;
        return;
    }
    if (reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0) {
        if (R.ever_connected)
            atomic_fetch_add(&R.reconnects, 1);
        R.ever_connected = true;
        R.backoff_ms = BACKOFF_MIN_MS;
        R.logged_down = false;
        R.next_sample = 0;
        fprintf(stderr, "memoscope: redis %s connected\n", R.url); /* then the flag: tests rely */
        atomic_store(&R.connected, true);
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
    markDown(R.dropping ? R.dropping : ac->err ? ac->errstr : "connection closed");
}

static void connectNow(void) {
    const rcliTarget *t = &R.target;
    redisAsyncContext *ac =
        t->unix_socket ? redisAsyncConnectUnix(t->host) : redisAsyncConnect(t->host, (int)t->port);
    if (!ac || ac->err) {
        char why[128];
        snprintf(why, sizeof(why), "%s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        markDown(why);
        return;
    }
    R.ac = ac;
    R.fd = ac->c.fd;
    R.reading = R.writing = false;
    struct epoll_event ev = {0};
    ev.data.fd = R.fd;
    epoll_ctl(R.epfd, EPOLL_CTL_ADD, R.fd, &ev);
    ac->ev.addRead = evAddRead;
    ac->ev.delRead = evDelRead;
    ac->ev.addWrite = evAddWrite;
    ac->ev.delWrite = evDelWrite;
    ac->ev.cleanup = evCleanup;
    redisAsyncSetConnectCallback(ac, onConnect); /* waits for the first write event */
    redisAsyncSetDisconnectCallback(ac, onDisconnect);
    R.connect_deadline = monoNow() + R.timeout_ms * NS_PER_MS;

    char db[16];
    snprintf(db, sizeof(db), "%u", t->db);
    if (t->password[0]) {
        const char *auth[] = {"AUTH", t->user, t->password};
        rcliNode *n = t->user[0] ? rcliNodeMake(handshakeStep, NULL, deadline(), 3, auth, NULL)
                                 : rcliNodeMake(handshakeStep, NULL, deadline(), 2,
                                                (const char *[]){"AUTH", t->password}, NULL);
        if (n)
            issue(n);
    }
    if (t->db) {
        rcliNode *n =
            rcliNodeMake(handshakeStep, NULL, deadline(), 2, (const char *[]){"SELECT", db}, NULL);
        if (n)
            issue(n);
    }
    rcliNode *ping =
        rcliNodeMake(handshakeDone, NULL, deadline(), 1, (const char *[]){"PING"}, NULL);
    if (ping)
        issue(ping);
    else
        R.drop = true;
}

/* Has Redis answered and this thread not read it yet? A loop thread that a
 * busy machine did not schedule in time is not a slow Redis: the reply is
 * read on the next turn instead of counted as a timeout. */
static bool unread(void) {
    int n = 0;
    return R.fd >= 0 && ioctl(R.fd, FIONREAD, &n) == 0 && n > 0;
}

/* Frees the context: every command pending on it fails now. */
static void dropContext(const char *why) {
    redisAsyncContext *ac = R.ac;
    if (!ac)
        return;
    R.dropping = why;
    redisAsyncFree(ac); /* runs the callbacks with NULL, then onDisconnect */
    if (R.ac)           /* not connected yet: hiredis calls no onDisconnect */
        markDown(why);
    R.dropping = NULL;
    R.sent_head = R.sent_tail = NULL;
}

/* --- sampling: used_memory and our keys, at most once a second --- */

static void infoDone(void *ctx, const redisReply *reply) {
    (void)ctx;
    if (!reply || reply->type != REDIS_REPLY_STRING)
        return;
    const char *p = strstr(reply->str, "used_memory:");
    if (p)
        atomic_store(&R.used_memory, strtoll(p + 12, NULL, 10));
}

static void scanStep(const char *cursor);

static void scanDone(void *ctx, const redisReply *reply) {
    (void)ctx;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        R.scanning = false;
        return;
    }
    R.scan_count += reply->element[1]->elements;
    if (strcmp(reply->element[0]->str, "0") == 0) {
        atomic_store(&R.keys, (int_fast64_t)R.scan_count);
        R.scanning = false;
    } else {
        scanStep(reply->element[0]->str);
    }
}

static void scanStep(const char *cursor) {
    char match[RCLI_PREFIX_LEN + 2];
    snprintf(match, sizeof(match), "%s*", R.prefix);
    const char *argv[] = {"SCAN", cursor, "MATCH", match, "COUNT", RCLI_SCAN_COUNT};
    rcliNode *n = rcliNodeMake(scanDone, NULL, deadline(), 6, argv, NULL);
    if (n)
        issue(n);
    else
        R.scanning = false;
}

static void sample(uint64_t now) {
    R.next_sample = now + SAMPLE_MS * NS_PER_MS;
    rcliNode *n =
        rcliNodeMake(infoDone, NULL, deadline(), 2, (const char *[]){"INFO", "memory"}, NULL);
    if (n)
        issue(n);
    if (!R.scanning) { /* a pass over many keys may take longer than a second */
        R.scanning = true;
        R.scan_count = 0;
        scanStep("0");
    }
}

/* --- the loop --- */

/* Takes everything queued and sends it (or fails it when down). */
static bool drainQueue(void) {
    pthread_mutex_lock(&R.lock);
    rcliNode *n = R.qhead;
    R.qhead = R.qtail = NULL;
    bool stopping = R.stopping;
    pthread_mutex_unlock(&R.lock);
    while (n) {
        rcliNode *next = n->next;
        if (atomic_load(&R.connected))
            issue(n);
        else
            complete(n, NULL);
        n = next;
    }
    return !stopping;
}

static int waitMs(uint64_t now) {
    uint64_t next = now + SAMPLE_MS * NS_PER_MS;
    if (!R.ac && R.retry_at < next)
        next = R.retry_at;
    if (R.ac && !atomic_load(&R.connected) && R.connect_deadline < next)
        next = R.connect_deadline;
    if (R.sent_head && R.sent_head->deadline < next)
        next = R.sent_head->deadline;
    if (atomic_load(&R.connected) && R.next_sample < next)
        next = R.next_sample;
    return next <= now ? 0 : (int)((next - now + NS_PER_MS - 1) / NS_PER_MS);
}

static void *loopThread(void *arg) {
    (void)arg;
    struct epoll_event evs[4];
    for (;;) {
        uint64_t now = monoNow();
        if (!R.ac && now >= R.retry_at)
            connectNow();
        int n = epoll_wait(R.epfd, evs, 4, waitMs(monoNow()));
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == R.evfd) {
                uint64_t v;
                if (read(R.evfd, &v, sizeof(v)) < 0) {
                    /* EAGAIN: another turn took the count already */
                }
                continue;
            }
            uint32_t e = evs[i].events;
            if (R.ac && R.reading && (e & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                redisAsyncHandleRead(R.ac);
            if (R.ac && R.writing && (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                if (atomic_load(&R.connected))
                    atomic_fetch_add_explicit(&R.round_trips, 1, memory_order_relaxed);
                redisAsyncHandleWrite(R.ac);
            }
        }
        if (!drainQueue())
            break;
        now = monoNow();
        if (R.drop)
            dropContext("handshake failed");
        else if (R.sent_head && R.sent_head->deadline <= now && !unread())
            dropContext("no reply within the timeout");
        else if (R.ac && !atomic_load(&R.connected) && R.connect_deadline <= now)
            dropContext("cannot connect within the timeout");
        R.drop = false;
        if (atomic_load(&R.connected) && now >= R.next_sample)
            sample(now);
    }
    R.logged_down = true; /* a shutdown is no fault to report */
    dropContext("shutting down");
    return NULL;
}

/* -------------------------------------------------------------------- API */

bool rcliStart(const rcliTarget *t, const char *url, const char *prefix, unsigned timeout_ms) {
    memset(&R, 0, sizeof(R));
    R.timeout_ms = timeout_ms;
    R.target = *t;
    rcliRedactUrl(url, R.url, sizeof(R.url));
    snprintf(R.prefix, sizeof(R.prefix), "%s", prefix);
    R.fd = -1;
    R.backoff_ms = BACKOFF_MIN_MS;
    atomic_store(&R.keys, -1);
    atomic_store(&R.used_memory, -1);
    pthread_mutex_init(&R.lock, NULL);
    R.epfd = epoll_create1(EPOLL_CLOEXEC);
    R.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = R.evfd};
    if (R.epfd < 0 || R.evfd < 0 || epoll_ctl(R.epfd, EPOLL_CTL_ADD, R.evfd, &ev) != 0 ||
        pthread_create(&R.thread, NULL, loopThread, NULL) != 0) {
        if (R.epfd >= 0)
            close(R.epfd);
        if (R.evfd >= 0)
            close(R.evfd);
        pthread_mutex_destroy(&R.lock);
        return false;
    }
    R.started = true;
    return true;
}

static void kick(void) {
    uint64_t one = 1;
    if (write(R.evfd, &one, sizeof(one)) < 0) {
        /* the counter is full: the loop is awake anyway */
    }
}

void rcliStop(void) {
    if (!R.started)
        return;
    pthread_mutex_lock(&R.lock);
    R.stopping = true;
    pthread_mutex_unlock(&R.lock);
    kick();
    pthread_join(R.thread, NULL);
    drainQueue(); /* anything queued meanwhile fails: not connected */
    close(R.epfd);
    close(R.evfd);
    pthread_mutex_destroy(&R.lock);
    R.started = false;
}

bool rcliSend(rcliDone done, void *ctx, int argc, const char *const *argv, const size_t *lens) {
    rcliNode *n =
        atomic_load(&R.connected) ? rcliNodeMake(done, ctx, deadline(), argc, argv, lens) : NULL;
    if (!n) {
        atomic_fetch_add_explicit(&R.errors, 1, memory_order_relaxed);
        return false;
    }
    n->counted = true;
    pthread_mutex_lock(&R.lock);
    bool was_empty = R.qhead == NULL;
    if (R.qtail)
        R.qtail->next = n;
    else
        R.qhead = n;
    R.qtail = n;
    pthread_mutex_unlock(&R.lock);
    /* One wake-up per batch: the loop takes the whole queue when it runs,
     * and it runs every queued command of a turn in one write. */
    if (was_empty && !pthread_equal(pthread_self(), R.thread))
        kick();
    return true;
}

unsigned rcliTimeoutMs(void) {
    return R.timeout_ms;
}

bool rcliConnected(void) {
    return atomic_load(&R.connected);
}

rcliCounters rcliGetCounters(void) {
    rcliCounters c;
    c.connected = atomic_load(&R.connected);
    c.commands = atomic_load_explicit(&R.commands, memory_order_relaxed);
    c.round_trips = atomic_load_explicit(&R.round_trips, memory_order_relaxed);
    c.errors = atomic_load_explicit(&R.errors, memory_order_relaxed);
    c.reconnects = atomic_load_explicit(&R.reconnects, memory_order_relaxed);
    c.keys = atomic_load(&R.keys);
    c.used_memory = atomic_load(&R.used_memory);
    return c;
}

const char *rcli__prefix(void) {
    return R.prefix;
}

void rcli__countError(void) {
    atomic_fetch_add_explicit(&R.errors, 1, memory_order_relaxed);
}
