/* proc.c -- process_* figures from /proc and the C library. */
#include "proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "text.h"

static double start_time_s;

/* Size and resident pages from /proc/self/statm, without stdio. */
static void readStatm(uint64_t *vsize, uint64_t *rss) {
    char buf[128];
    *vsize = *rss = 0;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    char *p;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    *vsize = strtoull(buf, &p, 10) * page;
    *rss = strtoull(p, NULL, 10) * page;
}

void procInit(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    start_time_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t procRssBytes(void) {
    uint64_t vsize, rss;
    readStatm(&vsize, &rss);
    return rss;
}

procFigures procRead(void) {
    procFigures p = {0};
    readStatm(&p.vsize_bytes, &p.rss_bytes);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        p.cpu_seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                        (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        while (readdir(d))
            p.open_fds++;
        closedir(d);
        p.open_fds = p.open_fds > 3 ? p.open_fds - 3 : 0; /* ".", ".." and the DIR's own */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        p.max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    p.start_time_s = start_time_s;
    return p;
}

void procFormatPrometheus(const procFigures *p, textBuf *t) {
    textf(t,
          "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
          "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %llu\n"
          "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
          "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %llu\n"
          "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
          "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.3f\n",
          (unsigned long long)p->rss_bytes, (unsigned long long)p->vsize_bytes, p->cpu_seconds);
    textf(t,
          "# HELP process_open_fds Number of open file descriptors.\n"
          "# TYPE process_open_fds gauge\nprocess_open_fds %llu\n"
          "# HELP process_max_fds Maximum number of open file descriptors.\n"
          "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n"
          "# HELP process_start_time_seconds Start time of the process since unix epoch in "
          "seconds.\n"
          "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.3f\n",
          (unsigned long long)p->open_fds, (unsigned long long)p->max_fds, p->start_time_s);
}
