/* memo_entry.c -- how an entry leaves the memo cache (evicted, expired,
 * removed): its lists, its bytes, its owner, its release; and the release of
 * records a put did not store.
 */
#include "memo.h"
#include "memo_int.h"

#include <stdlib.h>

/* ------------------------------------------------------------------ types */

/* Records up to this size are copied on the stack to be released. */

/* ---------------------------------------------------------------- private */

static void memo__releaseRecords(memo *m, memoEntry *e) {
    if (m->type->key_release)
        m->type->key_release(m->cfg.ctx, memo__key(m, e));
    if (m->type->val_release)
        m->type->val_release(m->cfg.ctx, memo__val(m, e));
}

/* ------------------------------------------------------------ module API */

bool memo__expired(memo *m, memoEntry *e, uint64_t now) {
    uint64_t stored = *memo__at(m, e, m->stamp_off, uint64_t);
    return now >= stored && now - stored >= m->cfg.ttl_ns;
}

/* The owner of a stored entry, or NULL. */
memoOwner *memo__ownerOf(memo *m, memoEntry *e) {
    if (m->owner_off == 0)
        return NULL;
    return m->type->owner(m->cfg.ctx, memo__key(m, e));
}

/* Adds bytes to the cache's and the group's currbytes (n may wrap: minus). */
void memo__addBytes(memo *m, size_t n, bool add) {
    if (n == 0)
        return;
    m->bytes = add ? m->bytes + n : m->bytes - n;
    if (m->cfg.stats)
        (add ? memo__statAdd : memo__statSub)(&m->cfg.stats->currbytes, n);
}

/* Releases records the caller gave us but did not store. The callbacks take
 * a mutable pointer to a record of ours, so they get a copy in the cache's
 * scratch record (made with the cache, used under its lock), never the
 * caller's const record: nothing to allocate, so nothing can fail here. */
void memo__releaseGiven(memo *m, const void *key, const void *val) {
    const memoType *t = m->type;
    void *copy = memo__scratch(m);
    if (t->key_release) {
        memcpy(copy, key, t->key_size);
        t->key_release(m->cfg.ctx, copy);
    }
    if (t->val_release) {
        memcpy(copy, val, t->val_size);
        t->val_release(m->cfg.ctx, copy);
    }
}

/* Takes e out of every list and the table, releases it and frees its slot. */
void memo__remove(memo *m, memoEntry *e, memoRemoval why) {
    memo__linkRemove(&e->lru);
    memo__unchain(m, e, memo__hash(m, memo__key(m, e)));
    if (m->time_off)
        memo__linkRemove(memo__at(m, e, m->time_off, memoLink));
    memoOwner *o = memo__ownerOf(m, e);
    if (o) {
        memo__linkRemove(memo__at(m, e, m->owner_off, memoLink));
        if (--o->count == 0)
            memo__addBytes(m, o->weight, false);
    }
    if (m->weight_off)
        memo__addBytes(m, *memo__at(m, e, m->weight_off, size_t), false);
    m->size--;
    memoStats *s = m->cfg.stats;
    if (s)
        memo__statSub(&s->currsize, 1);
    if (why == MEMO_EVICTED) {
        m->evictions++;
        if (s)
            memo__statAdd(&s->evictions, 1);
    } else if (why == MEMO_EXPIRED) {
        m->expirations++;
        if (s)
            memo__statAdd(&s->expirations, 1);
    } else {
        m->removals++;
        if (s)
            memo__statAdd(&s->removals, 1);
    }
    memo__releaseRecords(m, e);
    memo__slotFree(m, e);
}

/* Releases up to max expired entries, oldest first; returns how many. */
size_t memo__expire(memo *m, uint64_t now, size_t max) {
    size_t n = 0;
    while (n < max && m->by_time.next != &m->by_time) {
        memoEntry *e = memo__entryOf(m->by_time.next, m->time_off);
        if (!memo__expired(m, e, now))
            break;
        memo__remove(m, e, MEMO_EXPIRED);
        n++;
    }
    return n;
}

/* Puts o on the cache's current epoch (a clear empties owners lazily). */
void memo__ownerSync(memo *m, memoOwner *o) {
    if (o->epoch != m->epoch) {
        memo__linkInit(&o->entries);
        o->count = 0;
        o->epoch = m->epoch;
    }
}
