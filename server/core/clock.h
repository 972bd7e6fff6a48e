/* clock.h -- the one clock of the server, and the time constants.
 *
 * Every deadline, age and duration is read on CLOCK_MONOTONIC in
 * nanoseconds (as nginx keeps one cached clock in ngx_times.h, in one
 * place). clockNow is a vDSO read: no system call, any thread.
 */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>
#include <time.h>

#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

/* CLOCK_MONOTONIC, in nanoseconds. */
static inline uint64_t clockNow(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ns of CLOCK_MONOTONIC as a timespec (for a timed wait on that clock). */
static inline struct timespec clockTimespec(uint64_t ns) {
    return (struct timespec){(time_t)(ns / NS_PER_S), (long)(ns % NS_PER_S)};
}

#endif /* CLOCK_H */
