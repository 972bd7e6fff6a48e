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
 * (the dynamic loader's) are counted in memory only. The shim forwards to
 * glibc's __libc_* entry points, so it needs no dlsym (which itself
 * allocates).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t size);

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

void *malloc(size_t size) {
    _count(C_MALLOC);
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
    _count(C_CALLOC);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size) {
    _count(C_REALLOC);
    return __libc_realloc(p, size);
}

void free(void *p) {
    if (p)
        _count(C_FREE);
    __libc_free(p);
}

void *memalign(size_t align, size_t size) {
    _count(C_MEMALIGN);
    return __libc_memalign(align, size);
}

void *aligned_alloc(size_t align, size_t size) {
    return memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size) {
    void *p = memalign(align, size);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}
