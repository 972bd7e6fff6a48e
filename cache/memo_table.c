/* memo_table.c -- the memo cache's entry slots and its incrementally growing
 * hash table (memo_int.h describes both).
 *
 * Slots come from chunks, each a new chunk holding 1/16 of the slots the
 * cache has (between 8 and 4096), so that at most about 6% of the slots are
 * unused beyond the free ones, and a cache that holds a few entries (one per
 * request in the local scope) allocates a few hundred bytes. A bounded cache
 * never allocates more than maxsize slots.
 *
 * The table doubles when it holds more entries than buckets (load 1, as
 * redis' dict), up to the buckets a bounded cache needs. The move to the new
 * table is spread over the operations that follow: each moves a few buckets,
 * and puts move more buckets than they add entries, so a move always ends
 * before the new table is full. The calloc of the new table takes fresh pages
 * from the kernel, already zero: its cost is paid as the move touches them.
 * The move goes from the old table's last bucket down, so that what it leaves
 * behind is the block's tail: a big old table is shrunk with realloc as the
 * move goes (in place: glibc's mremap of its own mapping, or a split of a
 * heap chunk), its pages and page tables going back 64 KiB at a time, and
 * what is left to free when the move ends is one span.
 */
#include "memo.h"
#include "memo_int.h"

#include <stdlib.h>

/* ------------------------------------------------------------------ types */

#define MEMO_MIN_BUCKETS 16
#define MEMO_CHUNK_MIN 8
#define MEMO_CHUNK_MAX 4096
#define MEMO_CHUNK_SHARE 16
/* An old table of at least MEMO_SHRINK_MIN bytes is shrunk every
 * MEMO_SHRINK_SPAN bytes the move leaves behind (freeing 64 MiB of a table at
 * the end of a move took milliseconds in one put at 10 million entries). */
#define MEMO_SHRINK_MIN ((size_t)1 << 20)
#define MEMO_SHRINK_SPAN ((size_t)64 * 1024)

/* ---------------------------------------------------------------- private */

/* Starts a move to a table twice as big, when the load asks for one and the
 * bound allows it. Out of memory is not an error: chains grow longer, and
 * the next insert tries again. */
static void memo__maybeGrow(memo *m) {
    size_t n = m->t[0].mask + 1;
    if (m->move != MEMO_NOT_MOVING || m->size + 1 <= n || n >= m->max_buckets ||
        n > SIZE_MAX / 2 / sizeof(memoEntry *))
        return;
    memoEntry **b = calloc(n * 2, sizeof(*b));
    if (b == NULL)
        return;
    m->t[1].buckets = b;
    m->t[1].mask = n * 2 - 1;
    m->move = n;
    m->kept = n;
}

/* Gives back the tail of a big old table that the move has left behind:
 * t[0] keeps the buckets below m->move, all still to move. A realloc that
 * fails leaves the block as it was. */
static void memo__shrinkOld(memo *m) {
    if ((m->t[0].mask + 1) * sizeof(memoEntry *) < MEMO_SHRINK_MIN ||
        (m->kept - m->move) * sizeof(memoEntry *) < MEMO_SHRINK_SPAN)
        return;
    memoEntry **b = realloc(m->t[0].buckets, m->move * sizeof(*b));
    if (b == NULL)
        return;
    m->t[0].buckets = b;
    m->kept = m->move;
}

/* ------------------------------------------------------------ module API */

memoEntry *memo__slotAlloc(memo *m) {
    memoEntry *e = m->free_slots;
    if (e) {
        m->free_slots = e->chain;
        return e;
    }
    memoChunk *c = m->chunks;
    if (c == NULL || c->used == c->cap) {
        size_t cap = m->capacity / MEMO_CHUNK_SHARE;
        if (cap < MEMO_CHUNK_MIN)
            cap = MEMO_CHUNK_MIN;
        if (cap > MEMO_CHUNK_MAX)
            cap = MEMO_CHUNK_MAX;
        if (m->cfg.maxsize != MEMO_UNBOUNDED && cap > m->cfg.maxsize - m->capacity)
            cap = m->cfg.maxsize - m->capacity;
        if (cap == 0 || cap > (SIZE_MAX - sizeof(*c)) / m->entry_size)
            return NULL;
        c = malloc(sizeof(*c) + cap * m->entry_size);
        if (c == NULL)
            return NULL;
        c->next = m->chunks;
        c->cap = cap;
        c->used = 0;
        m->chunks = c;
        m->capacity += cap;
    }
    e = (memoEntry *)(void *)((char *)c->align + c->used * m->entry_size);
    c->used++;
    return e;
}

void memo__slotFree(memo *m, memoEntry *e) {
    e->chain = m->free_slots;
    m->free_slots = e;
}

bool memo__insert(memo *m, memoEntry *e, uint64_t hash) {
    if (m->t[0].buckets == NULL) {
        size_t n = MEMO_MIN_BUCKETS;
        memoEntry **b = calloc(n, sizeof(*b));
        if (b == NULL)
            return false;
        m->t[0].buckets = b;
        m->t[0].mask = n - 1;
    }
    memoEntry **slot = memo__bucketOf(m, hash);
    e->chain = *slot;
    *slot = e;
    memo__maybeGrow(m);
    return true;
}

void memo__unchain(memo *m, memoEntry *e, uint64_t hash) {
    memoEntry **pp = memo__bucketOf(m, hash);
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
}

void memo__moveStep(memo *m, size_t buckets) {
    while (buckets-- > 0 && m->move != MEMO_NOT_MOVING) {
        size_t i = m->move - 1;
        memoEntry *e = m->t[0].buckets[i];
        while (e) {
            memoEntry *next = e->chain;
            memoEntry **slot =
                &m->t[1].buckets[(size_t)memo__hash(m, memo__key(m, e)) & m->t[1].mask];
            e->chain = *slot;
            *slot = e;
            e = next;
        }
        m->move = i;
        if (i > 0) {
            memo__shrinkOld(m);
            continue;
        }
        /* Done: the new table is the table. The old one (a span at most,
         * when it was big) is freed by memoUnlock, after the lock. */
        free(m->unused_table);
        m->unused_table = m->t[0].buckets;
        m->t[0] = m->t[1];
        m->t[1].buckets = NULL;
        m->t[1].mask = 0;
        m->move = MEMO_NOT_MOVING;
    }
}

size_t memo__tableBytes(const memo *m) {
    if (m->t[0].buckets == NULL)
        return 0;
    if (m->move == MEMO_NOT_MOVING)
        return (m->t[0].mask + 1) * sizeof(memoEntry *);
    return (m->kept + m->t[1].mask + 1) * sizeof(memoEntry *);
}

void memo__detach(memo *m, memoDetached *d) {
    memo__linkInit(&d->lru);
    if (m->lru.next != &m->lru) {
        d->lru.next = m->lru.next;
        d->lru.prev = m->lru.prev;
        d->lru.next->prev = &d->lru;
        d->lru.prev->next = &d->lru;
    }
    memo__linkInit(&m->lru);
    memo__linkInit(&m->by_time);
    d->chunks = m->chunks;
    d->tables[0] = m->t[0].buckets;
    d->tables[1] = m->t[1].buckets;
    d->count = m->size;
    m->chunks = NULL;
    m->free_slots = NULL;
    m->capacity = 0;
    m->t[0].buckets = m->t[1].buckets = NULL;
    m->t[0].mask = m->t[1].mask = 0;
    m->move = MEMO_NOT_MOVING;
}

size_t memo__release(const memo *m, memoDetached *d, void *ctx) {
    const memoType *t = m->type;
    if (t->key_release || t->val_release) {
        for (memoLink *l = d->lru.next; l != &d->lru; l = l->next) {
            memoEntry *e = (memoEntry *)l;
            if (t->key_release)
                t->key_release(ctx, memo__key(m, e));
            if (t->val_release)
                t->val_release(ctx, memo__val(m, e));
        }
    }
    while (d->chunks) {
        memoChunk *next = d->chunks->next;
        free(d->chunks);
        d->chunks = next;
    }
    free(d->tables[0]);
    free(d->tables[1]);
    d->tables[0] = d->tables[1] = NULL;
    memo__linkInit(&d->lru);
    return d->count;
}
