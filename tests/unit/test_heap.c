/* test_heap.c -- allocBytes() follows every allocation and free exactly, and
 * agrees with the allocator's own figure in a quiet process.
 *
 * The program re-executes itself once with the allocator's per-thread caches
 * turned off (glibc's tcache counts a cached free block as in use in
 * mallinfo2(); jemalloc's tcache as allocated in stats.allocated) and glibc's
 * mmap threshold fixed, so that the allocator's own figures are exact too.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "allocator.h"

#define TUNED_ENV "TEST_HEAP_TUNED"
#define GLIBC_TUNING "glibc.malloc.tcache_count=0:glibc.malloc.mmap_threshold=131072"
#define MMAP_THRESHOLD 131072
#define GLIBC_SIZE_SZ 8 /* a chunk's size field, in front of every block */

/* Sizes of a known sequence: small (fastbin), medium, and past the mmap
 * threshold. */
static const size_t sizes[] = {1, 24, 100, 1000, 4096 + 48, 20000, 65536, 300000, 2000000};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* What one live block adds to allocBytes(), as the allocator itself reports
 * a block: its usable size (glibc, jemalloc: the size class; ASan: the
 * request). TSan counts its size class but reports the request: there the
 * figure is checked as a range (see in_range). */
static int64_t expected(const void *p) {
    return (int64_t)malloc_usable_size((void *)p);
}

static int tsan_build(void) {
#if defined(__SANITIZE_THREAD__)
    return 1;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
    return 1;
#endif
#endif
    return 0;
}

/* got == want, or under TSan within its size-class rounding of want. */
static int in_range(int64_t got, int64_t want, size_t blocks) {
    if (!tsan_build())
        return got == want;
    return got >= want && got <= want + want / 4 + (int64_t)(blocks * 64);
}

static int64_t heap_now(void) {
    return (int64_t)allocBytes();
}

static void a_known_sequence_is_counted_block_by_block(void) {
    void *p[NSIZES * 4];
    size_t n = 0;
    int64_t base = heap_now(), want = 0;
    for (size_t i = 0; i < NSIZES; i++) {
        p[n++] = malloc(sizes[i]);
        p[n++] = calloc(3, sizes[i]);
        void *a = NULL;
        CHECK_EQ(posix_memalign(&a, 64, sizes[i]), 0);
        p[n++] = a;
        p[n++] = aligned_alloc(4096, (sizes[i] + 4095) / 4096 * 4096); /* C11: a multiple */
    }
    for (size_t i = 0; i < n; i++) {
        REQUIRE_NOT_NULL(p[i]);
        want += expected(p[i]);
    }
    CHECK(in_range(heap_now() - base, want, n));

    /* realloc grows, shrinks and moves; every other block is freed. */
    for (size_t i = 0; i < n; i += 2) {
        want -= expected(p[i]);
        p[i] = realloc(p[i], i % 4 == 0 ? 3 * sizes[i / 4] + 10 : 8);
        CHECK_NOT_NULL(p[i]);
        want += expected(p[i]);
    }
    CHECK(in_range(heap_now() - base, want, n));
    for (size_t i = 1; i < n; i += 2) {
        want -= expected(p[i]);
        free(p[i]);
    }
    CHECK(in_range(heap_now() - base, want, n / 2));

    /* glibc's own allocations (strdup, reallocarray) pass through the
     * counter too. */
    char *s = strdup("a string glibc allocates");
    CHECK(in_range(heap_now() - base, want + expected(s), n / 2 + 1));
    free(s);
    int *arr = reallocarray(NULL, 1000, sizeof(int));
    REQUIRE_NOT_NULL(arr);
    CHECK(in_range(heap_now() - base, want + expected(arr), n / 2 + 1));
    arr = reallocarray(arr, 5000, sizeof(int));
    REQUIRE_NOT_NULL(arr);
    CHECK(in_range(heap_now() - base, want + expected(arr), n / 2 + 1));
    free(arr);
    for (size_t i = 0; i < n; i += 2)
        free(p[i]);
    CHECK_EQ(heap_now() - base, 0);
}

/* glibc with the counting layer only: the counter against mallinfo2(), the
 * allocator's own figure (which walks the heap; fine in a test). A block in
 * use is its usable size plus a size field to glibc, plus one more word when
 * it is mmapped. */
static void the_counter_agrees_with_mallinfo2(void) {
    if (strcmp(allocSource(), "counted") != 0) {
        fprintf(stderr, "  skipped: allocBytes() is %s's own figure here\n", allocSource());
        return;
    }
    void *p[NSIZES * 8];
    size_t n = 0;
    struct mallinfo2 m0 = mallinfo2();
    int64_t base = heap_now();
    for (int round = 0; round < 8; round++)
        for (size_t i = 0; i < NSIZES; i++)
            p[n++] = malloc(sizes[i] + (size_t)round * 40);
    for (size_t i = 0; i < n; i += 3) { /* holes between kept blocks */
        free(p[i]);
        p[i] = NULL;
    }
    int64_t counted = heap_now() - base;
    struct mallinfo2 m1 = mallinfo2();
    int64_t usable = 0, arena_want = 0, mmap_want = 0;
    for (size_t i = 0; i < n; i++) {
        if (!p[i])
            continue;
        int64_t u = expected(p[i]);
        usable += u;
        if (sizes[i % NSIZES] >= MMAP_THRESHOLD)
            mmap_want += u + 2 * GLIBC_SIZE_SZ;
        else
            arena_want += u + GLIBC_SIZE_SZ;
    }
    CHECK_EQ(counted, usable);
    CHECK_EQ((int64_t)(m1.uordblks - m0.uordblks), arena_want);
    CHECK_EQ((int64_t)(m1.hblkhd - m0.hblkhd), mmap_want);
    for (size_t i = 0; i < n; i++)
        free(p[i]);
    struct mallinfo2 m2 = mallinfo2();
    CHECK_EQ(heap_now() - base, 0);
    CHECK_EQ((int64_t)(m2.uordblks + m2.hblkhd), (int64_t)(m0.uordblks + m0.hblkhd));
}

/* ------------------------------------------------------- many threads */

enum { THREADS = 80, PER_THREAD = 50 }; /* more threads than allocator.c's slots */

typedef struct handoff {
    void *kept[PER_THREAD]; /* allocated here, freed by the main thread */
} handoff;

static void *allocate_and_hand_over(void *arg) {
    handoff *h = arg;
    void *mine[PER_THREAD];
    for (int i = 0; i < PER_THREAD; i++) {
        h->kept[i] = malloc((size_t)(16 + i * 40));
        mine[i] = malloc((size_t)(8 + i * 24));
    }
    for (int i = 0; i < PER_THREAD; i++)
        free(mine[i]);
    return NULL;
}

static void blocks_freed_on_another_thread_balance_out(void) {
    static handoff h[THREADS];
    pthread_t t[THREADS];
    /* glibc keeps a few bytes for the first thread it starts (and then for
     * good): start one before the count begins. */
    static handoff warm;
    REQUIRE_EQ(pthread_create(&t[0], NULL, allocate_and_hand_over, &warm), 0);
    pthread_join(t[0], NULL);
    for (int j = 0; j < PER_THREAD; j++)
        free(warm.kept[j]);
    int64_t base = heap_now(), want = 0;
    for (int i = 0; i < THREADS; i++) {
        REQUIRE_EQ(pthread_create(&t[i], NULL, allocate_and_hand_over, &h[i]), 0);
        pthread_join(t[i], NULL); /* one at a time: every thread a new slot */
    }
    for (int i = 0; i < THREADS; i++)
        for (int j = 0; j < PER_THREAD; j++)
            want += expected(h[i].kept[j]);
    CHECK(in_range(heap_now() - base, want, THREADS * PER_THREAD));
    for (int i = 0; i < THREADS; i++)
        for (int j = 0; j < PER_THREAD; j++)
            free(h[i].kept[j]);
    CHECK_EQ(heap_now() - base, 0);
}

int main(int argc, char **argv) {
    if (!getenv(TUNED_ENV)) {
        setenv(TUNED_ENV, "1", 1);
        setenv("GLIBC_TUNABLES", GLIBC_TUNING, 1);
        setenv("MALLOC_CONF", "tcache:false", 1);
        execv("/proc/self/exe", argv);
        perror("test_heap: re-exec");
        return 1;
    }
    (void)argc;
    fprintf(stderr, "allocBytes() reads: %s\n", allocSource());
    const checkTest tests[] = {
        TEST(a_known_sequence_is_counted_block_by_block),
        TEST(the_counter_agrees_with_mallinfo2),
        TEST(blocks_freed_on_another_thread_balance_out),
    };
    return checkMain(tests, sizeof(tests) / sizeof(tests[0]));
}
