/* cgroup.c -- memory usage and limit of this process's cgroup, v2 or v1. */
#include "cgroup.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PATH_BYTES 512
#define FILE_BYTES 4096
/* cgroup v1 writes "no limit" as the largest page-aligned signed 64-bit
 * value (9223372036854771712); anything this large is no limit. */
#define V1_NO_LIMIT (1ull << 60)

/* ---------------------------------------------------------------- private */

static int openAt(const char *dir, const char *file) {
    char path[PATH_BYTES];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
        return -1;
    return open(path, O_RDONLY | O_CLOEXEC);
}

static bool fileExists(const char *dir, const char *file) {
    int fd = openAt(dir, file);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* The whole small file at fd, NUL-terminated; length or -1. */
static ssize_t slurp(int fd, char *buf, size_t cap) {
    if (fd < 0)
        return -1;
    ssize_t n = pread(fd, buf, cap - 1, 0);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

/* A file holding one number, or "max" (v2: no limit) which reads as 0. */
static uint64_t readNumber(int fd) {
    char buf[64];
    if (slurp(fd, buf, sizeof(buf)) <= 0 || strncmp(buf, "max", 3) == 0)
        return 0;
    return strtoull(buf, NULL, 10);
}

/* The value of "key N" lines (memory.events, memory.oom_control). */
static uint64_t readKeyed(int fd, const char *key) {
    char buf[FILE_BYTES];
    if (slurp(fd, buf, sizeof(buf)) <= 0)
        return 0;
    size_t klen = strlen(key);
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
            return strtoull(line + klen + 1, NULL, 10);
    return 0;
}

/* The group's path in /proc/self/cgroup for v2 ("0::path") or for v1's
 * memory controller ("N:a,memory,b:path"). */
static bool pathOf(const char *root, int version, char *out, size_t cap) {
    char path[PATH_BYTES], buf[FILE_BYTES];
    snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = slurp(fd, buf, sizeof(buf));
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return false;
    char *lines;
    for (char *line = strtok_r(buf, "\n", &lines); line; line = strtok_r(NULL, "\n", &lines)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *controllers = c1 + 1;
        bool match = false;
        if (version == 2) {
            match = strncmp(line, "0:", 2) == 0 && *controllers == '\0';
        } else {
            char *toks;
            for (char *tok = strtok_r((char *)controllers, ",", &toks); tok && !match;
                 tok = strtok_r(NULL, ",", &toks))
                match = strcmp(tok, "memory") == 0;
        }
        if (match) {
            snprintf(out, cap, "%s", c2 + 1);
            return true;
        }
    }
    return false;
}

/* mount + path if the group's file is there; else the mount's root (a
 * container with its own cgroup namespace sees its group as the root). */
static bool dirOf(const char *mount, const char *path, const char *probe, char *out, size_t cap) {
    if ((size_t)snprintf(out, cap, "%s%s", mount, strcmp(path, "/") == 0 ? "" : path) < cap &&
        fileExists(out, probe))
        return true;
    snprintf(out, cap, "%s", mount);
    return fileExists(out, probe);
}

static bool tryRoot(cgroup *cg, const char *root, int version) {
    char path[PATH_BYTES / 2], mount[PATH_BYTES / 2], dir[PATH_BYTES];
    if (!pathOf(root, version, path, sizeof(path)))
        return false;
    if (version == 2) {
        /* pure v2 mounts the unified hierarchy at /sys/fs/cgroup; hybrid
         * machines at /sys/fs/cgroup/unified */
        snprintf(mount, sizeof(mount), "%s/sys/fs/cgroup", root);
        if (!fileExists(mount, "cgroup.controllers"))
            snprintf(mount, sizeof(mount), "%s/sys/fs/cgroup/unified", root);
        if (!dirOf(mount, path, "memory.current", dir, sizeof(dir)))
            return false;
        cg->usage_fd = openAt(dir, "memory.current");
        cg->limit_fd = openAt(dir, "memory.max");
        cg->events_fd = openAt(dir, "memory.events");
    } else {
        snprintf(mount, sizeof(mount), "%s/sys/fs/cgroup/memory", root);
        if (!dirOf(mount, path, "memory.usage_in_bytes", dir, sizeof(dir)))
            return false;
        cg->usage_fd = openAt(dir, "memory.usage_in_bytes");
        cg->limit_fd = openAt(dir, "memory.limit_in_bytes");
        cg->events_fd = openAt(dir, "memory.failcnt");
        cg->oom_fd = openAt(dir, "memory.oom_control");
    }
    if (cg->usage_fd < 0) {
        cgroupClose(cg);
        return false;
    }
    cg->version = version;
    snprintf(cg->dir, sizeof(cg->dir), "%s", dir);
    return true;
}

/* -------------------------------------------------------------------- API */

bool cgroupOpen(cgroup *cg, const char *root) {
    memset(cg, 0, sizeof(*cg));
    cg->usage_fd = cg->limit_fd = cg->events_fd = cg->oom_fd = -1;
    if (strcmp(root, "/") == 0)
        root = "";
    return tryRoot(cg, root, 2) || tryRoot(cg, root, 1);
}

cgroupMemory cgroupRead(const cgroup *cg) {
    cgroupMemory m = {0};
    if (cg->version == 0)
        return m;
    m.found = true;
    m.usage = readNumber(cg->usage_fd);
    m.limit = readNumber(cg->limit_fd);
    if (cg->version == 1) {
        if (m.limit >= V1_NO_LIMIT)
            m.limit = 0;
        m.max_hits = readNumber(cg->events_fd);
        m.oom_kills = readKeyed(cg->oom_fd, "oom_kill");
    } else {
        m.max_hits = readKeyed(cg->events_fd, "max");
        m.oom_kills = readKeyed(cg->events_fd, "oom_kill");
    }
    return m;
}

void cgroupClose(cgroup *cg) {
    int *fds[] = {&cg->usage_fd, &cg->limit_fd, &cg->events_fd, &cg->oom_fd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
    cg->version = 0;
}
