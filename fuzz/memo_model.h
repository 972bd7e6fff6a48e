/* memo_model.h -- the plainest memo cache there is, for fuzz_memo.c to check
 * cache/memo.h against: arrays in LRU order, scanned in full. It knows
 * maxsize, maxbytes (entry and owner weights), the TTL, owners, delete and
 * clear, and it says which records each operation must release, in order,
 * through modelWant (which the runner defines). Not thread-safe; test only.
 */
#ifndef MEMO_MODEL_H
#define MEMO_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MODEL_KEYS 128 /* keys are 0..127 */
#define MODEL_OWNERS 4 /* with owners, key k belongs to owner k % 4 */

typedef struct modelEntry {
    uint32_t k;
    uint32_t tag;    /* which put gave the records */
    uint64_t seq;    /* store order */
    uint64_t stored; /* clock at the store */
    size_t weight;
} modelEntry;

typedef struct model {
    size_t maxsize, maxbytes; /* MEMO_UNBOUNDED for none */
    uint64_t ttl;             /* 0: none */
    bool weights, owners;
    size_t n;
    modelEntry e[MODEL_KEYS]; /* LRU order: [0] is the least recently used */
    uint64_t next_seq;
    size_t bytes;
    size_t owner_count[MODEL_OWNERS];
    uint64_t hits, misses, evictions, expirations, removals;
} model;

/* The runner expects the key and value records of the put tagged tag to be
 * released next, in this order. */
void modelWant(uint32_t tag);

size_t modelWeightOf(uint32_t k);    /* an entry's own weight, with weights */
size_t modelOwnerWeight(unsigned o); /* owner o's weight */
void modelInit(model *md, size_t maxsize, size_t maxbytes, uint64_t ttl, bool weights, bool owners);
/* The operations; counters as memo.h promises. get returns the tag or -1. */
long modelGet(model *md, uint32_t k, uint64_t now);
bool modelPut(model *md, uint32_t k, uint32_t tag, uint64_t now);
bool modelDelete(model *md, uint32_t k);
size_t modelDropOwner(model *md, unsigned o);
size_t modelExpire(model *md, uint64_t now, size_t max);
size_t modelClear(model *md);
/* Keys of owner o's entries, newest first, up to max; returns the count. */
size_t modelOwnerKeys(const model *md, unsigned o, uint32_t *out, size_t max);

#endif /* MEMO_MODEL_H */
