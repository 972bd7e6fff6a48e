/* allocator.h -- the counting allocator: the process's heap in bytes, kept as
 * allocations happen.
 *
 * /stats and /metrics read it on every scrape, so it must cost the same at
 * any heap size: no walk over chunks, no arena lock (glibc's mallinfo2()
 * walks every free chunk holding each arena's lock, so its cost and the
 * stall it causes grow with the leak: docs/design.md, "The heap counter").
 *
 * Which allocator sits under it is a build choice (CMake MEMOSCOPE_ALLOCATOR):
 *  - "counted" (the default): glibc's malloc with a counting layer. allocator.c
 *    defines malloc, free, calloc, realloc and the aligned forms in the
 *    executable, so every allocation of the process (libmicrohttpd's, cJSON's
 *    and glibc's own included) passes through it; each adds or subtracts the
 *    block's malloc_usable_size() on a per-thread slot, and a read adds the
 *    slots up (O(threads)).
 *  - "jemalloc": jemalloc's own counter, stats.allocated after an epoch
 *    refresh (O(arenas x size classes), independent of the heap's size).
 *  - sanitizer builds (ASan, TSan): the sanitizer replaces malloc and keeps
 *    its own counter, __sanitizer_get_current_allocated_bytes(): the bytes
 *    the program asked for, without the sanitizer's redzones and metadata.
 *    The counting layer is left out.
 *
 * Every function is thread-safe, allocates nothing and cannot fail.
 */
#ifndef ALLOCATOR_H
#define ALLOCATOR_H

#include <stdbool.h>
#include <stdint.h>

/* The bytes allocated and not freed, summed over every thread. "counted":
 * exact whenever no allocation is half way through on another thread (after
 * a quiet moment, always); a block counts as its usable size (the request
 * rounded up to glibc's 16-byte granule, a chunk's header not included).
 * "jemalloc": the bytes in allocated size classes, as of this read's epoch
 * refresh. Sanitizer builds: what the sanitizer counts. */
uint64_t allocBytes(void);

/* What allocBytes() reads: "counted", "jemalloc" or "sanitizer". A static
 * string. */
const char *allocSource(void);

/* Gives pages that the heap no longer uses back to the kernel, so that RSS
 * falls after a large free (DELETE /cache): malloc_trim(0) with glibc (it
 * walks the free chunks: call it after a clear, never on a scrape), a purge
 * of every arena's dirty pages with jemalloc, nothing in sanitizer builds. */
void allocRelease(void);

/* Asks for one allocRelease, to be run later by allocReleaseAsked on a
 * thread that no request waits on: with glibc it walks the heap holding
 * each arena's lock, for longer the larger and more fragmented the heap,
 * and a worker thread serves many connections. Asks made before the run
 * are one run. Any thread, O(1). */
void allocReleaseLater(void);

/* Runs allocRelease if allocReleaseLater was called since the last run,
 * and returns whether it did. The once-a-second sampler calls it. */
bool allocReleaseAsked(void);

#endif /* ALLOCATOR_H */
