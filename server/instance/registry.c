/* registry.c -- live instances by id (hash) and by age (list + cursors). */
#include "registry.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define REHASH_STEP 4     /* buckets moved per add or remove */
#define REHASH_EMPTY 40   /* empty buckets skipped per step at most */
#define AGE_CHUNK 4096    /* cursor steps per lock hold in registryAges */
#define SHRINK_FRACTION 8 /* shrink when live < buckets / this */

static const uint64_t age_seconds[REGISTRY_AGES] = REGISTRY_AGE_SECONDS;

/* ---------------------------------------------------------------- private */

static size_t bucketsOf(const registryTable *t) {
    return t->b ? t->mask + 1 : 0;
}

static bool rehashing(const registry *r) {
    return r->t[1].b != NULL;
}

static void freeTable(registry *r, registryTable *t) {
    if (t->b != r->inline_b)
        free(t->b);
    t->b = NULL;
    t->mask = 0;
}

/* Moves a few buckets of t[0] into t[1]; when t[0] is empty, t[1] takes its place. */
static void rehashStep(registry *r) {
    if (!rehashing(r))
        return;
    unsigned moved = 0, empty = 0;
    while (moved < REHASH_STEP && empty < REHASH_EMPTY && r->rehash <= r->t[0].mask) {
        registryNode *n = r->t[0].b[r->rehash];
        r->t[0].b[r->rehash++] = NULL;
        if (!n) {
            empty++;
            continue;
        }
        while (n) {
            registryNode *next = n->hnext;
            registryNode **slot = &r->t[1].b[n->id & r->t[1].mask];
            n->hnext = *slot;
            *slot = n;
            n = next;
        }
        moved++;
    }
    if (r->rehash > r->t[0].mask) {
        freeTable(r, &r->t[0]);
        r->t[0] = r->t[1];
        r->t[1].b = NULL;
        r->t[1].mask = 0;
        r->rehash = 0;
    }
}

/* Starts moving to a table of size buckets (a power of two). Out of memory,
 * it does nothing: the chains are longer, lookups slower, nothing fails. */
static void resize(registry *r, size_t size) {
    registryNode **b;
    if (size == REGISTRY_INLINE_BUCKETS && r->t[0].b != r->inline_b) {
        b = r->inline_b;
        memset(b, 0, sizeof(r->inline_b));
    } else {
        b = calloc(size, sizeof(*b));
        if (!b)
            return;
    }
    r->t[1].b = b;
    r->t[1].mask = size - 1;
    r->rehash = 0;
}

/* Grows at a load of 1, shrinks at 1/SHRINK_FRACTION, never below the inline table. */
static void fit(registry *r) {
    if (rehashing(r))
        return;
    size_t n = bucketsOf(&r->t[0]);
    if (r->live > n && n <= SIZE_MAX / 2 / sizeof(registryNode *)) {
        resize(r, n * 2);
    } else if (n > REGISTRY_INLINE_BUCKETS && r->live < n / SHRINK_FRACTION) {
        size_t size = REGISTRY_INLINE_BUCKETS;
        while (size < r->live * 2)
            size *= 2;
        resize(r, size);
    }
}

/* -------------------------------------------------------------------- API */

void registryInit(registry *r, uint64_t (*clock)(void)) {
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    r->clock = clock;
    r->t[0].b = r->inline_b;
    r->t[0].mask = REGISTRY_INLINE_BUCKETS - 1;
}

void registryDestroy(registry *r) {
    freeTable(r, &r->t[0]);
    freeTable(r, &r->t[1]);
    pthread_mutex_destroy(&r->lock);
}

void registryAdd(registry *r, registryNode *n) {
    pthread_mutex_lock(&r->lock);
    n->id = ++r->last_id;
    n->born_ns = r->clock();
    n->next = NULL;
    n->prev = r->tail;
    if (r->tail)
        r->tail->next = n;
    else
        r->head = n;
    r->tail = n;
    for (int k = 0; k < REGISTRY_AGES; k++)
        if (!r->cursor[k])
            r->cursor[k] = n; /* the only node not counted yet */
    registryTable *t = &r->t[rehashing(r) ? 1 : 0];
    registryNode **slot = &t->b[n->id & t->mask];
    n->hnext = *slot;
    *slot = n;
    r->live++;
    rehashStep(r);
    fit(r);
    pthread_mutex_unlock(&r->lock);
}

void registryRemove(registry *r, registryNode *n) {
    pthread_mutex_lock(&r->lock);
    for (int k = 0; k < REGISTRY_AGES; k++) {
        if (!r->cursor[k] || n->id < r->cursor[k]->id)
            r->older[k]--; /* n was counted */
        if (r->cursor[k] == n)
            r->cursor[k] = n->next;
    }
    if (n->prev)
        n->prev->next = n->next;
    else
        r->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        r->tail = n->prev;
    for (int i = 0; i < 2; i++) {
        if (!r->t[i].b)
            continue;
        registryNode **slot = &r->t[i].b[n->id & r->t[i].mask];
        while (*slot && *slot != n)
            slot = &(*slot)->hnext;
        if (*slot) {
            *slot = n->hnext;
            break;
        }
    }
    n->prev = n->next = n->hnext = NULL;
    r->live--;
    rehashStep(r);
    fit(r);
    pthread_mutex_unlock(&r->lock);
}

registryAgeCounts registryAges(registry *r) {
    registryAgeCounts c;
    memset(&c, 0, sizeof(c));
    pthread_mutex_lock(&r->lock);
    uint64_t now = r->clock();
    for (;;) {
        unsigned steps = 0;
        for (int k = 0; k < REGISTRY_AGES; k++) {
            uint64_t span = age_seconds[k] * NS_PER_S;
            /* born + span < now: older than the threshold (nodes added
             * after now, between two chunks, are never counted early). */
            while (r->cursor[k] && steps < AGE_CHUNK && r->cursor[k]->born_ns + span < now) {
                r->older[k]++;
                r->cursor[k] = r->cursor[k]->next;
                steps++;
            }
        }
        if (steps < AGE_CHUNK)
            break;
        pthread_mutex_unlock(&r->lock); /* let adds and removes through */
        pthread_mutex_lock(&r->lock);
    }
    c.live = r->live;
    if (r->head) {
        c.any = true;
        c.oldest_ns = now > r->head->born_ns ? now - r->head->born_ns : 0;
    }
    memcpy(c.older, r->older, sizeof(c.older));
    pthread_mutex_unlock(&r->lock);
    return c;
}

void registryLock(registry *r) {
    pthread_mutex_lock(&r->lock);
}

void registryUnlock(registry *r) {
    pthread_mutex_unlock(&r->lock);
}

registryNode *do_registryFind(registry *r, uint64_t id) {
    for (int i = 0; i < 2; i++) {
        if (!r->t[i].b)
            continue;
        for (registryNode *n = r->t[i].b[id & r->t[i].mask]; n; n = n->hnext)
            if (n->id == id)
                return n;
    }
    return NULL;
}

registryNode *do_registryOldest(registry *r) {
    return r->head;
}

uint64_t do_registryLastId(registry *r) {
    return r->last_id;
}

uint64_t do_registryNow(registry *r) {
    return r->clock();
}
