/* registry.h -- every live instance, by id and by age, at O(1) per create and free.
 *
 * A registry knows the nodes embedded in live objects (intrusive: it allocates
 * nothing per node). It issues ids in order (1, 2, 3...) and stamps each node
 * with its birth time, both under its lock, so that its list -- kept in id
 * order -- is also in age order, oldest first. From that follow, at no cost:
 *
 *   - "freed": an id at most the last one issued that is not found was freed
 *     (ids are never reused), with nothing remembered per freed id;
 *   - the oldest live nodes: the head of the list, N of them in O(N);
 *   - how many live nodes are older than each of REGISTRY_AGES thresholds:
 *     those form a prefix of the list, so one cursor per threshold marks the
 *     end of its prefix. Ages only grow, so a cursor only moves towards the
 *     tail (registryAges advances it, amortised O(1) per node over the node's
 *     life); a free inside a prefix decrements its count and moves a cursor
 *     that points at the freed node. No walk depends on how many are alive.
 *
 * Lookup by id is a chained hash table with incremental rehashing (a few
 * buckets move per add or remove, as Redis' dict does), so no add stalls on
 * a resize. Its first table is inside the registry: an add never allocates
 * and never fails; when a bigger table cannot be had, chains grow longer.
 *
 * Memory: 40 bytes in each node, plus about 8 bytes per live node of bucket
 * table (it grows and shrinks with the live count, never with uptime).
 *
 * Thread safety: one mutex. Functions without the do_ prefix take it; do_
 * functions expect the caller to hold it (registryLock). The clock is called
 * with the lock held.
 */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The thresholds of registryAges, in seconds, as /metrics names them. */
#define REGISTRY_AGES 5
#define REGISTRY_AGE_SECONDS                                                                       \
    { 1, 10, 60, 600, 3600 }
#define REGISTRY_INLINE_BUCKETS 64 /* power of two */

/* ------------------------------------------------------------------ types */

typedef struct registryNode {
    struct registryNode *prev, *next; /* age order: prev is older */
    struct registryNode *hnext;       /* hash chain */
    uint64_t id;                      /* issued by registryAdd, from 1 */
    uint64_t born_ns;                 /* the registry's clock at registryAdd */
} registryNode;

typedef struct registryTable {
    registryNode **b;
    size_t mask; /* buckets - 1; b is NULL when the table is unused */
} registryTable;

typedef struct registry {
    pthread_mutex_t lock;
    uint64_t (*clock)(void); /* monotonic nanoseconds */
    uint64_t last_id;        /* the last id issued */
    uint64_t live;
    registryNode *head, *tail;
    registryTable t[2];                  /* t[1] is the target while rehashing */
    size_t rehash;                       /* next bucket of t[0] to move */
    registryNode *cursor[REGISTRY_AGES]; /* first node not counted; NULL: all counted */
    uint64_t older[REGISTRY_AGES];       /* live nodes before cursor[k] */
    registryNode *inline_b[REGISTRY_INLINE_BUCKETS];
} registry;

/* What registryAges reads. */
typedef struct registryAgeCounts {
    uint64_t live;
    bool any;                      /* false: none alive, oldest_ns means nothing */
    uint64_t oldest_ns;            /* the oldest live node's age */
    uint64_t older[REGISTRY_AGES]; /* live nodes older than each threshold */
} registryAgeCounts;

/* -------------------------------------------------------------------- API */

/* Makes r empty, with clock as its time source (monotonic nanoseconds; a
 * test passes its own). Cannot fail. */
void registryInit(registry *r, uint64_t (*clock)(void));

/* Frees the tables r allocated. The nodes are not r's: whoever embeds them
 * frees them. Call when no other thread uses r. */
void registryDestroy(registry *r);

/* Issues n the next id and stamps its birth, then links it at the tail.
 * O(1); never fails. n must not be in a registry. */
void registryAdd(registry *r, registryNode *n);

/* Unlinks n (which r holds). O(1). */
void registryRemove(registry *r, registryNode *n);

/* Advances the age cursors to now and reads the counts, the live count and
 * the oldest age. The cursors move in steps of a bounded size with the lock
 * dropped between, so that adds never wait for a long walk. */
registryAgeCounts registryAges(registry *r);

void registryLock(registry *r);
void registryUnlock(registry *r);

/* With the lock held: the node of id, or NULL when no live node has it. */
registryNode *do_registryFind(registry *r, uint64_t id);

/* With the lock held: the oldest live node (follow ->next for the rest). */
registryNode *do_registryOldest(registry *r);

/* With the lock held: the last id issued (0 before the first add). */
uint64_t do_registryLastId(registry *r);

/* With the lock held: the registry's clock now. */
uint64_t do_registryNow(registry *r);

#endif /* REGISTRY_H */
