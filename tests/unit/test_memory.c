/* test_memory.c -- the cgroup reader on fake /proc and /sys trees (v2, hybrid, v1,
 * no limit, a container's namespaced root, none), and the memory settings
 * (--memory-limit, --memory-guard) with their bad values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "check.h"
#include "config.h"
#include "guard.h"

static char root[256];

/* A fresh empty tree for one case. */
static void freshRoot(void) {
    static int n;
    snprintf(root, sizeof(root), "/tmp/memoscope-cgroup-%d-%d", (int)getpid(), n++);
    mkdir(root, 0700);
}

/* Writes root/path (making its directories) with text. */
static void put(const char *path, const char *text) {
    char full[512];
    snprintf(full, sizeof(full), "%s/%s", root, path);
    for (char *p = full + strlen(root) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(full, 0700);
            *p = '/';
        }
    }
    FILE *f = fopen(full, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void removeRoot(void) {
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    CHECK_EQ(system(cmd), 0);
}

static void v2_pure_reads_current_max_and_events(void) {
    freshRoot();
    put("proc/self/cgroup", "0::/app.slice/memoscope\n");
    put("sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    put("sys/fs/cgroup/app.slice/memoscope/memory.current", "123456\n");
    put("sys/fs/cgroup/app.slice/memoscope/memory.max", "134217728\n");
    put("sys/fs/cgroup/app.slice/memoscope/memory.events",
        "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\n");
    cgroup cg;
    CHECK(cgroupOpen(&cg, root));
    CHECK_EQ(cg.version, 2);
    cgroupMemory m = cgroupRead(&cg);
    CHECK(m.found);
    CHECK_EQ(m.usage, 123456);
    CHECK_EQ(m.limit, 134217728);
    CHECK_EQ(m.max_hits, 7);
    CHECK_EQ(m.oom_kills, 1);
    put("sys/fs/cgroup/app.slice/memoscope/memory.current", "999\n");
    CHECK_EQ(cgroupRead(&cg).usage, 999); /* read again each time, from the open file */
    cgroupClose(&cg);
    removeRoot();
}

static void v2_max_means_no_limit(void) {
    freshRoot();
    put("proc/self/cgroup", "0::/\n");
    put("sys/fs/cgroup/cgroup.controllers", "memory\n");
    put("sys/fs/cgroup/memory.current", "5000\n"); /* a container: its group is the root */
    put("sys/fs/cgroup/memory.max", "max\n");
    cgroup cg;
    CHECK(cgroupOpen(&cg, root));
    cgroupMemory m = cgroupRead(&cg);
    CHECK_EQ(m.usage, 5000);
    CHECK_EQ(m.limit, 0);
    cgroupClose(&cg);
    removeRoot();
}

/* These machines: v1 controllers, the v2 hierarchy at unified/ without the
 * memory controller. v1's memory group is the one read. */
static void hybrid_without_v2_memory_falls_back_to_v1(void) {
    freshRoot();
    put("proc/self/cgroup", "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n");
    put("sys/fs/cgroup/unified/cgroup.procs", "1\n");
    put("sys/fs/cgroup/memory/process_api/abc/memory.usage_in_bytes", "4096000\n");
    put("sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes", "268435456\n");
    put("sys/fs/cgroup/memory/process_api/abc/memory.failcnt", "3\n");
    put("sys/fs/cgroup/memory/process_api/abc/memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    cgroup cg;
    CHECK(cgroupOpen(&cg, root));
    CHECK_EQ(cg.version, 1);
    cgroupMemory m = cgroupRead(&cg);
    CHECK_EQ(m.usage, 4096000);
    CHECK_EQ(m.limit, 268435456);
    CHECK_EQ(m.max_hits, 3);
    CHECK_EQ(m.oom_kills, 2);
    cgroupClose(&cg);
    removeRoot();
}

static void hybrid_with_v2_memory_reads_unified(void) {
    freshRoot();
    put("proc/self/cgroup", "4:memory:/\n0::/svc\n");
    put("sys/fs/cgroup/unified/svc/memory.current", "77\n");
    put("sys/fs/cgroup/unified/svc/memory.max", "1000\n");
    cgroup cg;
    CHECK(cgroupOpen(&cg, root));
    CHECK_EQ(cg.version, 2);
    CHECK_EQ(cgroupRead(&cg).limit, 1000);
    cgroupClose(&cg);
    removeRoot();
}

static void v1_huge_limit_is_no_limit_and_a_combined_controller_line_is_found(void) {
    freshRoot();
    put("proc/self/cgroup", "3:cpu,memory,blkio:/job\n");
    put("sys/fs/cgroup/memory/job/memory.usage_in_bytes", "10\n");
    put("sys/fs/cgroup/memory/job/memory.limit_in_bytes", "9223372036854771712\n");
    cgroup cg;
    CHECK(cgroupOpen(&cg, root));
    cgroupMemory m = cgroupRead(&cg);
    CHECK_EQ(m.usage, 10);
    CHECK_EQ(m.limit, 0);
    CHECK_EQ(m.oom_kills, 0); /* no oom_control file: 0, not an error */
    cgroupClose(&cg);
    removeRoot();
}

static void no_memory_controller_is_found_as_none(void) {
    freshRoot();
    put("proc/self/cgroup", "1:cpu:/\n0::/\n");
    cgroup cg;
    CHECK(!cgroupOpen(&cg, root));
    CHECK(!cgroupRead(&cg).found);
    cgroupClose(&cg);
    removeRoot();
}

/* ------------------------------------------------------------ settings */

/* The guard started with cfg's settings, as main does. */
static bool guardFrom(const config *cfg, const char *cgroup_root, FILE *err) {
    guardSettings s = configGuardSettings(cfg);
    return guardStart(&s, cgroup_root, err);
}

static configResult parse(config *cfg, const char *flag, const char *value, char *err, size_t cap) {
    char *argv[] = {"memoscope", (char *)flag, (char *)value, NULL};
    FILE *out = fopen("/dev/null", "w");
    FILE *e = fmemopen(err, cap, "w");
    configResult r = configParse(cfg, 3, argv, out, e);
    fclose(out);
    fclose(e);
    return r;
}

static void memory_limit_takes_bytes_with_suffixes(void) {
    static const struct {
        const char *text;
        unsigned long long bytes;
    } good[] = {{"536870912", 536870912ull}, {"512m", 512ull << 20}, {"2GiB", 2ull << 30},
                {"64MiB", 64ull << 20},      {"1k", 1024},           {"3T", 3ull << 40}};
    static const char *const bad[] = {"0", "-5", "5q", "m", "1.5g", "", "99999999999999999999"};
    config cfg;
    char err[256];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        CHECK_EQ(parse(&cfg, "--memory-limit", good[i].text, err, sizeof(err)), CONFIG_OK);
        CHECK_EQ(cfg.memory_limit, good[i].bytes);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(err, 0, sizeof(err));
        CHECK_EQ(parse(&cfg, "--memory-limit", bad[i], err, sizeof(err)), CONFIG_ERROR);
        CHECK(strstr(err, "--memory-limit") != NULL);
    }
}

static void memory_guard_is_off_a_fraction_or_bytes(void) {
    config cfg;
    char err[256];
    CHECK_EQ(parse(&cfg, "--memory-guard", "0.8", err, sizeof(err)), CONFIG_OK);
    CHECK(cfg.guard_fraction > 0.79 && cfg.guard_fraction < 0.81);
    CHECK_EQ(cfg.guard_bytes, 0);
    CHECK_EQ(parse(&cfg, "--memory-guard", "100m", err, sizeof(err)), CONFIG_OK);
    CHECK_EQ(cfg.guard_bytes, 100ull << 20);
    CHECK(cfg.guard_fraction == 0);
    CHECK_EQ(parse(&cfg, "--memory-guard", "off", err, sizeof(err)), CONFIG_OK);
    CHECK(cfg.guard_bytes == 0 && cfg.guard_fraction == 0);
    static const char *const bad[] = {"0", "0.0", "1.5", "-0.5", "abc", ".5x", "10x", "on"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(err, 0, sizeof(err));
        CHECK_EQ(parse(&cfg, "--memory-guard", bad[i], err, sizeof(err)), CONFIG_ERROR);
        CHECK(strstr(err, "--memory-guard") != NULL);
    }
}

/* A fraction of a limit that does not exist cannot mean anything: exit 2. */
static void a_guard_fraction_without_a_limit_is_refused_by_name(void) {
    freshRoot();
    put("proc/self/cgroup", "1:cpu:/\n");
    config cfg;
    char err[256];
    CHECK_EQ(parse(&cfg, "--memory-guard", "0.8", err, sizeof(err)), CONFIG_OK);
    memset(err, 0, sizeof(err));
    FILE *e = fmemopen(err, sizeof(err), "w");
    CHECK(!guardFrom(&cfg, root, e));
    fclose(e);
    CHECK(strstr(err, "--memory-guard") != NULL);
    cfg.memory_limit = 1ull << 30; /* with a limit it starts, and its guard is 0.8 of it */
    CHECK(guardFrom(&cfg, root, stderr));
    guardFigures f = guardRead();
    CHECK_EQ(f.limit_bytes, 1ull << 30);
    CHECK_EQ(f.guard_bytes, (uint64_t)((double)(1ull << 30) * 0.8));
    CHECK(!f.cgroup_found);
    guardStop();
    removeRoot();
}

int main(void) {
    static const checkTest tests[] = {
        TEST(v2_pure_reads_current_max_and_events),
        TEST(v2_max_means_no_limit),
        TEST(hybrid_without_v2_memory_falls_back_to_v1),
        TEST(hybrid_with_v2_memory_reads_unified),
        TEST(v1_huge_limit_is_no_limit_and_a_combined_controller_line_is_found),
        TEST(no_memory_controller_is_found_as_none),
        TEST(memory_limit_takes_bytes_with_suffixes),
        TEST(memory_guard_is_off_a_fraction_or_bytes),
        TEST(a_guard_fraction_without_a_limit_is_refused_by_name),
    };
    return checkMain(tests, sizeof(tests) / sizeof(tests[0]));
}
