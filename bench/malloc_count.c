/* malloc_count.c -- an LD_PRELOAD shim that counts allocator calls, so that
 * bench/bench_ceiling.sh can report allocations per request of any server.
 *
 *   MALLOC_COUNT_FILE=/tmp/counts LD_PRELOAD=.../libmalloc_count.so server ...
 *
 * The counters live in MALLOC_COUNT_FILE, mapped shared, so that another
 * process reads them at any moment (before and after a load) without
 * signalling the server: eight little-endian uint64 in this order:
 * malloc, calloc, realloc, free (of a non-NULL pointer), memalign (all the
 * aligned forms), then three unused. Calls made before the file is mapped
 * (the dynamic loader's) are counted in memory only.
 *
 * A program that brings its own malloc (memoscope's counting layer,
 * server/memory/allocator.c) forwards to glibc's __libc_* entry points: the shim
 * defines those too, counts there as well, and forwards both to glibc's,
 * found with dlsym(RTLD_NEXT). A call made while dlsym itself runs is served
 * from a small static buffer and never freed.
 */
#include <errno.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { C_MALLOC, C_CALLOC, C_REALLOC, C_FREE, C_MEMALIGN, C_SLOTS = 8 };

static _Atomic uint64_t early[C_SLOTS];
static _Atomic uint64_t *counts = early;

static inline void _count(int which) {
    atomic_fetch_add_explicit(&counts[which], 1, memory_order_relaxed);
}

__attribute__((constructor)) static void _mapCounters(void) {
    const char *path = getenv("MALLOC_COUNT_FILE");
    if (!path)
        return;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    size_t bytes = sizeof(early);
    if (ftruncate(fd, (off_t)bytes) == 0) {
        void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED) {
            _Atomic uint64_t *c = m;
            for (int i = 0; i < C_SLOTS; i++)
                atomic_store(&c[i], atomic_load(&early[i]));
            counts = c;
        }
    }
    close(fd);
}

/* ------------------------------------------------ glibc's own, found once */

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static void *(*real_memalign)(size_t, size_t);
static __thread int resolving;
static _Alignas(64) char boot[64 * 1024]; /* for dlsym's own calls */
static atomic_size_t boot_used;

static void resolve(void) {
    if (real_free)
        return;
    resolving = 1;
    real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "__libc_malloc");
    real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "__libc_calloc");
    real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "__libc_realloc");
    real_memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "__libc_memalign");
    real_free = (void (*)(void *))dlsym(RTLD_NEXT, "__libc_free");
    resolving = 0;
}

static void *boot_alloc(size_t size) {
    size_t at = atomic_fetch_add(&boot_used, (size + 63) / 64 * 64);
    return at + size <= sizeof(boot) ? boot + at : NULL;
}

static int is_boot(const void *p) {
    return (const char *)p >= boot && (const char *)p < boot + sizeof(boot);
}

static void *count_malloc(size_t size) {
    _count(C_MALLOC);
    resolve();
    return resolving ? boot_alloc(size) : real_malloc(size);
}

static void *count_calloc(size_t n, size_t size) {
    _count(C_CALLOC);
    resolve();
    return resolving ? boot_alloc(n * size) : real_calloc(n, size); /* boot is zeroed */
}

static void *count_realloc(void *p, size_t size) {
    _count(C_REALLOC);
    resolve();
    if (is_boot(p)) { /* rare: copy out of the boot buffer */
        void *q = real_malloc(size);
        if (q)
            memcpy(q, p, size);
        return q;
    }
    return real_realloc(p, size);
}

static void count_free(void *p) {
    if (!p || is_boot(p))
        return;
    _count(C_FREE);
    resolve();
    real_free(p);
}

static void *count_memalign(size_t align, size_t size) {
    _count(C_MEMALIGN);
    resolve();
    return real_memalign(align, size);
}

/* ------------------------------------------------------ the entry points */

void *malloc(size_t size) {
    return count_malloc(size);
}

void *calloc(size_t n, size_t size) {
    return count_calloc(n, size);
}

void *realloc(void *p, size_t size) {
    return count_realloc(p, size);
}

void free(void *p) {
    count_free(p);
}

void *memalign(size_t align, size_t size) {
    return count_memalign(align, size);
}

void *aligned_alloc(size_t align, size_t size) {
    return count_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size) {
    void *p = count_memalign(align, size);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void *__libc_malloc(size_t size) {
    return count_malloc(size);
}

void *__libc_calloc(size_t n, size_t size) {
    return count_calloc(n, size);
}

void *__libc_realloc(void *p, size_t size) {
    return count_realloc(p, size);
}

void __libc_free(void *p) {
    count_free(p);
}

void *__libc_memalign(size_t align, size_t size) {
    return count_memalign(align, size);
}
