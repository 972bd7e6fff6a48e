/* bench_heap.c -- what one heap statistics read costs, at 0 and at N live
 * blocks, and what an allocation costs, in the allocator this binary was
 * built with (bench/bench_heap.sh builds it twice: counted and jemalloc).
 *
 *   bench_heap [LIVE]     (LIVE defaults to 1000000)
 *
 * The heap is filled the way global scope fills it: 64-byte blocks, every
 * other one freed once all are made, so that a free chunk sits between two
 * kept ones. Prints
 * one line per figure: "name value unit", medians of READS reads.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "timer.h"

#define READS 201
#define PAIRS 2000000
#define BLOCK 64

/* glibc's own entry points: its malloc without the counting layer. */
extern void *__libc_malloc(size_t size);
extern void __libc_free(void *p);

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static volatile uint64_t sink;

/* Median nanoseconds of one call of read(), over READS calls. */
static double median_ns(uint64_t (*read)(void)) {
    uint64_t t[READS];
    for (int i = 0; i < READS; i++) {
        uint64_t t0 = clockNow();
        sink += read();
        t[i] = clockNow() - t0;
    }
    qsort(t, READS, sizeof(t[0]), cmp_u64);
    return (double)t[READS / 2];
}

static uint64_t read_mallinfo2(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

static void report_reads(const char *when) {
    printf("read_%s_allocBytes %.0f ns\n", when, median_ns(allocBytes));
    if (strcmp(allocSource(), "counted") == 0)
        printf("read_%s_mallinfo2 %.0f ns\n", when, median_ns(read_mallinfo2));
}

/* Nanoseconds per malloc(BLOCK) + free pair. */
static double pair_ns(void *(*alloc)(size_t), void (*release)(void *)) {
    uint64_t t0 = clockNow();
    for (int i = 0; i < PAIRS; i++) {
        void *p = alloc(BLOCK);
        sink += (uintptr_t)p;
        release(p);
    }
    return (double)(clockNow() - t0) / PAIRS;
}

int main(int argc, char **argv) {
    long live = argc > 1 ? atol(argv[1]) : 1000000;
    if (live < 0) {
        fprintf(stderr, "usage: bench_heap [LIVE]\n");
        return 2;
    }
    printf("allocator %s\n", allocSource());
    printf("pair_malloc_free %.1f ns\n", pair_ns(malloc, free));
    if (strcmp(allocSource(), "counted") == 0)
        printf("pair_glibc_uncounted %.1f ns\n", pair_ns(__libc_malloc, __libc_free));
    report_reads("empty");

    void **kept = malloc((size_t)live * sizeof(void *));
    void **gaps = malloc((size_t)live * sizeof(void *));
    if ((!kept || !gaps) && live > 0) {
        fprintf(stderr, "bench_heap: out of memory\n");
        return 1;
    }
    for (long i = 0; i < live; i++) {
        gaps[i] = malloc(BLOCK);
        kept[i] = malloc(BLOCK);
    }
    for (long i = 0; i < live; i++)
        free(gaps[i]);
    free(gaps);
    char when[32];
    snprintf(when, sizeof(when), "%ld_live", live);
    report_reads(when);
    printf("heap_bytes_%s %llu B\n", when, (unsigned long long)allocBytes());
    for (long i = 0; i < live; i++)
        free(kept[i]);
    free(kept);
    return 0;
}
