/* memo_tracked.h -- the memo tests' tracked records: a key is an id plus the
 * token of this copy, a value its key's id, its own token and a result,
 * 2 * id, so that a hit can be checked against the right key and each
 * release callback can count releases per token. Equal ids are equal keys,
 * as two references to the same object are. Shared by test_memo.c and
 * test_memo_threads.c, each with release callbacks of its own (plain
 * counters there, atomic ones under threads); include it in one .c each. */
#ifndef MEMOSCOPE_TESTS_MEMO_TRACKED_H
#define MEMOSCOPE_TESTS_MEMO_TRACKED_H

#include <stdint.h>

#include "memo.h"

typedef struct tkey {
    int64_t id;
    uint64_t token;
} tkey;

typedef struct tval {
    int64_t id;
    uint64_t token;
    int64_t result;
} tval;

static uint64_t tkeyHash(void *ctx, const void *k) {
    (void)ctx;
    return memoHashBytes(&((const tkey *)k)->id, sizeof(int64_t));
}

static bool tkeyEqual(void *ctx, const void *a, const void *b) {
    (void)ctx;
    return ((const tkey *)a)->id == ((const tkey *)b)->id;
}

/* The memoType of tracked records, with the given release callbacks. */
#define TRACKED_TYPE(keyRelease, valRelease)                                                       \
    {                                                                                              \
        .key_size = sizeof(tkey), .val_size = sizeof(tval), .hash = tkeyHash, .equal = tkeyEqual,  \
        .key_release = (keyRelease), .val_release = (valRelease),                                  \
    }

#endif
