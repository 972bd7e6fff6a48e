/* cgroup.h -- the memory controller of this process's cgroup, seen from inside.
 *
 * Finds the group in /proc/self/cgroup and reads its memory usage, limit and
 * events: cgroup v2 (memory.current, memory.max, memory.events) where the
 * unified hierarchy has the memory controller, at /sys/fs/cgroup or, on
 * hybrid machines, /sys/fs/cgroup/unified; otherwise cgroup v1
 * (memory.usage_in_bytes, memory.limit_in_bytes, memory.failcnt and
 * memory.oom_control's oom_kill). Inside a container with its own cgroup
 * namespace the group is "/", the hierarchy's root: that is read too.
 *
 * The files are opened once (cgroupOpen) and read with pread, so a reading
 * costs a few system calls and allocates nothing. Nothing here ever writes
 * to a cgroup. Not thread-safe for one cgroup value: one reader (the guard's
 * sampler) at a time.
 */
#ifndef CGROUP_H
#define CGROUP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct cgroup {
    int version;   /* 1 or 2; 0 when no memory controller was found */
    int usage_fd;  /* memory.current / memory.usage_in_bytes */
    int limit_fd;  /* memory.max / memory.limit_in_bytes */
    int events_fd; /* memory.events / memory.failcnt (-1 if absent) */
    int oom_fd;    /* v1 memory.oom_control (-1 if absent) */
    char dir[512]; /* the group's directory, for the startup line */
} cgroup;

typedef struct cgroupMemory {
    bool found;
    uint64_t usage;     /* bytes charged to the group now */
    uint64_t limit;     /* bytes; 0 when the group has no limit */
    uint64_t max_hits;  /* v2 events "max" (usage hit the limit); v1 failcnt */
    uint64_t oom_kills; /* v2 events "oom_kill"; v1 oom_control "oom_kill" */
} cgroupMemory;

/* Finds and opens this process's memory cgroup under root ("/" on a real
 * system; a test passes a directory laid out as /proc and /sys are).
 * Returns false (cg->version 0) when there is none; cg is usable either way
 * and must be closed. */
bool cgroupOpen(cgroup *cg, const char *root);

/* Reads the figures now (found false when cg has no controller). */
cgroupMemory cgroupRead(const cgroup *cg);

void cgroupClose(cgroup *cg);

#endif /* CGROUP_H */
