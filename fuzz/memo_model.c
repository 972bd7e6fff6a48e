/* memo_model.c -- the reference model of fuzz_memo.c (memo_model.h). */
#include "memo_model.h"

#include <string.h>

#include "memo.h"

/* ---------------------------------------------------------------- private */

static int modelFind(const model *md, uint32_t k) {
    for (size_t i = 0; i < md->n; i++)
        if (md->e[i].k == k)
            return (int)i;
    return -1;
}

static size_t modelOwnerBytes(const model *md, uint32_t k) {
    return md->owners ? modelOwnerWeight(k % MODEL_OWNERS) : 0;
}

/* Removes entry i, expecting its release; why counts it. */
static void modelRemoveAt(model *md, size_t i, uint64_t *why) {
    modelEntry x = md->e[i];
    modelWant(x.tag);
    memmove(&md->e[i], &md->e[i + 1], (md->n - i - 1) * sizeof(md->e[0]));
    md->n--;
    md->bytes -= x.weight;
    if (md->owners && --md->owner_count[x.k % MODEL_OWNERS] == 0)
        md->bytes -= modelOwnerBytes(md, x.k);
    (*why)++;
}

/* Index of the entry stored first among those that match, or -1: which
 * of them is oldest (expiry) or of owner o (o < 0: any). */
static int modelOldest(const model *md, int o) {
    int best = -1;
    for (size_t i = 0; i < md->n; i++) {
        if (o >= 0 && md->e[i].k % MODEL_OWNERS != (unsigned)o)
            continue;
        if (best < 0 || md->e[i].seq < md->e[best].seq)
            best = (int)i;
    }
    return best;
}

static bool modelExpired(const model *md, const modelEntry *x, uint64_t now) {
    return md->ttl && now >= x->stored && now - x->stored >= md->ttl;
}

/* ------------------------------------------------------------------- API */

size_t modelWeightOf(uint32_t k) {
    return k % 5 + 1;
}

size_t modelOwnerWeight(unsigned o) {
    return 2 * o;
}

void modelInit(model *md, size_t maxsize, size_t maxbytes, uint64_t ttl, bool weights,
               bool owners) {
    memset(md, 0, sizeof(*md));
    md->maxsize = maxsize;
    md->maxbytes = maxbytes;
    md->ttl = ttl;
    md->weights = weights;
    md->owners = owners;
}

size_t modelExpire(model *md, uint64_t now, size_t max) {
    size_t n = 0;
    while (n < max) {
        int i = modelOldest(md, -1);
        if (i < 0 || !modelExpired(md, &md->e[i], now))
            break;
        modelRemoveAt(md, (size_t)i, &md->expirations);
        n++;
    }
    return n;
}

long modelGet(model *md, uint32_t k, uint64_t now) {
    int i = md->maxsize == 0 ? -1 : modelFind(md, k);
    if (i >= 0 && modelExpired(md, &md->e[i], now)) {
        modelExpire(md, now, SIZE_MAX);
        i = -1;
    }
    if (i < 0) {
        md->misses++;
        return -1;
    }
    modelEntry x = md->e[i];
    if (md->maxsize != MEMO_UNBOUNDED || md->maxbytes != MEMO_UNBOUNDED) {
        memmove(&md->e[i], &md->e[i + 1], (md->n - (size_t)i - 1) * sizeof(md->e[0]));
        md->e[md->n - 1] = x;
    }
    md->hits++;
    return x.tag;
}

bool modelPut(model *md, uint32_t k, uint32_t tag, uint64_t now) {
    if (md->maxsize == 0) {
        modelWant(tag);
        return false;
    }
    modelExpire(md, now, SIZE_MAX);
    size_t w = md->weights ? modelWeightOf(k) : 0, ow = modelOwnerBytes(md, k);
    if (modelFind(md, k) >= 0 ||
        (md->maxbytes != MEMO_UNBOUNDED && (w > md->maxbytes || ow > md->maxbytes - w))) {
        modelWant(tag);
        return false;
    }
    if (md->maxsize != MEMO_UNBOUNDED && md->n >= md->maxsize)
        modelRemoveAt(md, 0, &md->evictions);
    modelEntry x = {k, tag, md->next_seq++, now, w};
    md->e[md->n++] = x;
    md->bytes += w;
    if (md->owners && md->owner_count[k % MODEL_OWNERS]++ == 0)
        md->bytes += ow;
    while (md->maxbytes != MEMO_UNBOUNDED && md->bytes > md->maxbytes)
        modelRemoveAt(md, 0, &md->evictions);
    return true;
}

bool modelDelete(model *md, uint32_t k) {
    int i = modelFind(md, k);
    if (i < 0)
        return false;
    modelRemoveAt(md, (size_t)i, &md->removals);
    return true;
}

size_t modelDropOwner(model *md, unsigned o) {
    size_t n = 0;
    for (int i; md->owners && (i = modelOldest(md, (int)o)) >= 0; n++)
        modelRemoveAt(md, (size_t)i, &md->removals);
    return n;
}

size_t modelClear(model *md) {
    size_t n = md->n;
    for (size_t i = 0; i < n; i++)
        modelWant(md->e[i].tag);
    md->n = 0;
    md->bytes = 0;
    memset(md->owner_count, 0, sizeof(md->owner_count));
    md->hits = md->misses = md->evictions = md->expirations = md->removals = 0;
    return n;
}

size_t modelOwnerKeys(const model *md, unsigned o, uint32_t *out, size_t max) {
    /* Newest first: by store order, descending. */
    size_t count = 0;
    uint64_t below = UINT64_MAX;
    for (;;) {
        int best = -1;
        for (size_t i = 0; i < md->n; i++)
            if (md->e[i].k % MODEL_OWNERS == o && md->e[i].seq < below &&
                (best < 0 || md->e[i].seq > md->e[best].seq))
                best = (int)i;
        if (best < 0)
            break;
        if (count < max)
            out[count] = md->e[best].k;
        count++;
        below = md->e[best].seq;
    }
    return md->owners ? count : 0;
}
