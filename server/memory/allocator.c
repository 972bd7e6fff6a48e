/* allocator.c -- the heap's size without a walk: a counting layer over glibc's
 * malloc, jemalloc's counters or a sanitizer's (see allocator.h). */
#include "allocator.h"

#include <stdatomic.h>
#include <stddef.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HEAP_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HEAP_SANITIZER 1
#endif

/* ------------------------------------------- a release, off the request */

static atomic_bool release_asked;

void allocReleaseLater(void) {
    atomic_store_explicit(&release_asked, true, memory_order_relaxed);
}

bool allocReleaseAsked(void) {
    if (!atomic_exchange(&release_asked, false))
        return false;
    allocRelease();
    return true;
}

#if HEAP_SANITIZER
/* ---------------------------------------------------- sanitizer builds */

/* From the sanitizer runtime (gcc ships no header for it). */
size_t __sanitizer_get_current_allocated_bytes(void);

uint64_t allocBytes(void) {
    return (uint64_t)__sanitizer_get_current_allocated_bytes();
}

const char *allocSource(void) {
    return "sanitizer";
}

void allocRelease(void) {}

#elif MEMOSCOPE_HEAP_JEMALLOC
/* ------------------------------------------------------------- jemalloc */
#include <jemalloc/jemalloc.h>
#include <pthread.h>

#define HEAP_STR(x) #x
#define HEAP_XSTR(x) HEAP_STR(x)

/* Names are looked up once: a MIB read skips mallctl's string parsing. */
enum { HEAP_MIB_MAX = 4 };
static pthread_once_t mib_once = PTHREAD_ONCE_INIT;
static size_t epoch_mib[HEAP_MIB_MAX], epoch_len = HEAP_MIB_MAX;
static size_t allocated_mib[HEAP_MIB_MAX], allocated_len = HEAP_MIB_MAX;
static int mib_error;

static void heapLookup(void) {
    mib_error = mallctlnametomib("epoch", epoch_mib, &epoch_len) ||
                mallctlnametomib("stats.allocated", allocated_mib, &allocated_len);
}

uint64_t allocBytes(void) {
    pthread_once(&mib_once, heapLookup);
    if (mib_error)
        return 0;
    /* Writing the epoch makes jemalloc merge every arena's statistics. */
    uint64_t epoch = 1;
    size_t len = sizeof(epoch);
    size_t allocated = 0, alen = sizeof(allocated);
    if (mallctlbymib(epoch_mib, epoch_len, &epoch, &len, &epoch, len) != 0 ||
        mallctlbymib(allocated_mib, allocated_len, &allocated, &alen, NULL, 0) != 0)
        return 0;
    return (uint64_t)allocated;
}

const char *allocSource(void) {
    return "jemalloc";
}

void allocRelease(void) {
    mallctl("arena." HEAP_XSTR(MALLCTL_ARENAS_ALL) ".purge", NULL, NULL, NULL, 0);
}

#else
/* ------------------------------------------- glibc with a counting layer */
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

/* glibc's own entry points, which its malloc(3) and friends are aliases of:
 * forwarding to them needs no dlsym (which itself allocates). */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t size);

/* One slot per thread, a cache line each. The first HEAP_SLOTS - 1 threads
 * own a slot for life and update it with a plain load and store (no locked
 * instruction on the allocation path); later threads share the last slot
 * with atomic adds. A slot's balance outlives its thread (a block is often
 * freed on another thread than the one that allocated it), so a slot is
 * never handed out twice. */
enum { HEAP_SLOTS = 64, HEAP_LINE = 64 };
typedef struct heapSlot {
    _Alignas(HEAP_LINE) _Atomic int64_t bytes;
} heapSlot;
static heapSlot slots[HEAP_SLOTS];

uint64_t allocBytes(void) {
    int64_t sum = 0;
    for (unsigned i = 0; i < HEAP_SLOTS; i++)
        sum += atomic_load_explicit(&slots[i].bytes, memory_order_relaxed);
    return sum > 0 ? (uint64_t)sum : 0;
}

const char *allocSource(void) {
#if MEMOSCOPE_HEAP_UNCOUNTED
    return "uncounted";
#else
    return "counted";
#endif
}

void allocRelease(void) {
    malloc_trim(0);
}

/* MEMOSCOPE_HEAP_UNCOUNTED (-DCMAKE_C_FLAGS=-DMEMOSCOPE_HEAP_UNCOUNTED=1)
 * leaves the layer out, to measure what it costs (bench/bench_heap.sh):
 * allocBytes() then reads 0. Never a build to run. */
#if !MEMOSCOPE_HEAP_UNCOUNTED

static atomic_uint slots_taken;
/* initial-exec: the executable's own TLS, reached without __tls_get_addr
 * (which may allocate). 0 = no slot yet, else the slot's index + 1. */
static __thread unsigned my_slot __attribute__((tls_model("initial-exec")));

static void heapCount(int64_t delta) {
    unsigned s = my_slot;
    if (s == 0) {
        unsigned n = atomic_fetch_add_explicit(&slots_taken, 1, memory_order_relaxed);
        s = (n < HEAP_SLOTS - 1 ? n : HEAP_SLOTS - 1) + 1;
        my_slot = s;
    }
    _Atomic int64_t *b = &slots[s - 1].bytes;
    if (s < HEAP_SLOTS) {
        int64_t v = atomic_load_explicit(b, memory_order_relaxed);
        atomic_store_explicit(b, v + delta, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(b, delta, memory_order_relaxed);
    }
}

static void *heapCounted(void *p) {
    if (p)
        heapCount((int64_t)malloc_usable_size(p));
    return p;
}

/* The process's allocator: these definitions in the executable take the
 * place of glibc's for every library, as glibc documents ("Replacing
 * malloc": malloc, free, calloc, realloc, and the aligned forms, which
 * would otherwise reach glibc's without being counted). */

void *malloc(size_t size) {
    return heapCounted(__libc_malloc(size));
}

void *calloc(size_t n, size_t size) {
    return heapCounted(__libc_calloc(n, size));
}

void free(void *p) {
    if (!p)
        return;
    heapCount(-(int64_t)malloc_usable_size(p));
    __libc_free(p);
}

void *realloc(void *p, size_t size) {
    if (!p)
        return malloc(size);
    size_t old = malloc_usable_size(p);
    void *q = __libc_realloc(p, size);
    if (q)
        heapCount((int64_t)malloc_usable_size(q) - (int64_t)old);
    else if (size == 0)
        heapCount(-(int64_t)old); /* glibc's realloc(p, 0) frees p */
    return q;
}

void *memalign(size_t align, size_t size) {
    return heapCounted(__libc_memalign(align, size));
}

void *aligned_alloc(size_t align, size_t size) {
    return memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size) {
    if (align % sizeof(void *) != 0 || (align & (align - 1)) != 0 || align == 0)
        return EINVAL;
    void *p = memalign(align, size);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void *valloc(size_t size) {
    return memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

void *pvalloc(size_t size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded = (size + page - 1) / page * page;
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    return memalign(page, rounded ? rounded : page);
}

#endif /* !MEMOSCOPE_HEAP_UNCOUNTED */

#endif
