/* proc.h -- the standard process figures every Prometheus exporter gives.
 *
 * process_resident_memory_bytes and process_virtual_memory_bytes from
 * /proc/self/statm, process_cpu_seconds_total from getrusage, process_open_fds
 * by counting /proc/self/fd, process_max_fds from RLIMIT_NOFILE and
 * process_start_time_seconds from the wall clock at procInit. Reading is
 * thread-safe; procInit runs once before any thread starts.
 */
#ifndef PROC_H
#define PROC_H

#include <stdint.h>

typedef struct procFigures {
    uint64_t rss_bytes;
    uint64_t vsize_bytes;
    double cpu_seconds; /* user + system, every thread */
    uint64_t open_fds;
    uint64_t max_fds;
    double start_time_s; /* since the Unix epoch */
} procFigures;

/* Notes the start time. */
void procInit(void);

/* Resident bytes only (two system calls, no allocation): the guard's figure. */
uint64_t procRssBytes(void);

/* Every figure now. Counting the descriptors opens /proc/self/fd (one
 * allocation by the C library, freed before returning). */
procFigures procRead(void);

/* Appends the six process_* metrics in Prometheus text format (HELP, TYPE,
 * value) to t. */
struct textBuf;
void procFormatPrometheus(const procFigures *p, struct textBuf *t);

#endif /* PROC_H */
