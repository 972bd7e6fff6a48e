/* config.c -- settings from defaults, MEMOSCOPE_* environment and flags. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "memo.h"
#include "request.h"

/* ------------------------------------------------------------------ types */

typedef enum settingKind {
    KIND_UINT,
    KIND_SIZE,
    KIND_SCOPE,
    KIND_MAXSIZE,
    KIND_ADDR,
    KIND_LIMIT, /* bytes with a suffix (--memory-limit) */
    KIND_GUARD  /* off, a fraction of the limit, or bytes (--memory-guard) */
} settingKind;

typedef struct setting {
    const char *flag; /* without the leading "--" */
    const char *env;
    settingKind kind;
    size_t offset; /* of the field in struct config */
    uint64_t min, max;
    const char *help;
} setting;

#define FIELD(f) offsetof(config, f)

/* Limits that keep one setting from taking the machine down by mistake. */
#define MAX_DELAY_MS REQUEST_MAX_DELAY_MS /* the one limit: a body may ask as much */
#define MAX_INSTANCE_BYTES (64u << 20)
#define MAX_THREADS 256
#define MIN_BODY_BYTES 64
#define MAX_BODY_BYTES (16u << 20)
#define MAX_CONNECTIONS 1000000
#define MAX_TIMEOUT_S 3600

static const setting settings[] = {
    {"port", "MEMOSCOPE_PORT", KIND_UINT, FIELD(port), 0, 65535,
     "TCP port (0 = any free port; the chosen one is logged)"},
    {"bind", "MEMOSCOPE_BIND", KIND_ADDR, FIELD(bind), 0, 0, "address to listen on (IPv4 or IPv6)"},
    {"cache-scope", "MEMOSCOPE_CACHE_SCOPE", KIND_SCOPE, FIELD(scope), 0, 0,
     "global, local, shared or off"},
    {"maxsize", "MEMOSCOPE_MAXSIZE", KIND_MAXSIZE, FIELD(maxsize), 0, 1u << 30,
     "entries per cache; none = unbounded; 0 = no caching"},
    {"delay-ms", "MEMOSCOPE_DELAY_MS", KIND_UINT, FIELD(delay_ms), 0, MAX_DELAY_MS,
     "how long a cache miss takes, in milliseconds"},
    {"instance-bytes", "MEMOSCOPE_INSTANCE_BYTES", KIND_SIZE, FIELD(instance_bytes), 0,
     MAX_INSTANCE_BYTES, "payload of each SlowAdder, in bytes"},
    {"threads", "MEMOSCOPE_THREADS", KIND_UINT, FIELD(threads), 1, MAX_THREADS,
     "worker threads, one per CPU this process may use"},
    {"max-body-bytes", "MEMOSCOPE_MAX_BODY_BYTES", KIND_SIZE, FIELD(max_body_bytes), MIN_BODY_BYTES,
     MAX_BODY_BYTES, "larger request bodies get 413"},
    {"max-connections", "MEMOSCOPE_MAX_CONNECTIONS", KIND_UINT, FIELD(max_connections), 1,
     MAX_CONNECTIONS, "open connections at most; more are refused at once"},
    {"max-connections-per-ip", "MEMOSCOPE_MAX_CONNECTIONS_PER_IP", KIND_UINT,
     FIELD(max_connections_per_ip), 0, MAX_CONNECTIONS,
     "open connections from one client address at most (0 = no limit)"},
    {"timeout-s", "MEMOSCOPE_TIMEOUT_S", KIND_UINT, FIELD(timeout_s), 1, MAX_TIMEOUT_S,
     "idle connections are closed after this many seconds"},
    {"memory-limit", "MEMOSCOPE_MEMORY_LIMIT", KIND_LIMIT, FIELD(memory_limit), 0, 0,
     "the memory limit for the guard and /stats (bytes, 512m, 2GiB); default: the cgroup's"},
    {"memory-guard", "MEMOSCOPE_MEMORY_GUARD", KIND_GUARD, FIELD(guard_bytes), 0, 0,
     "above this fraction of the limit (0.8) or bytes (100m), shed POST /calculate with 503"},
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static const char *scope_names[] = {"global", "local", "shared", "off"};

/* ---------------------------------------------------------------- private */

/* The CPUs this process may run on (a container's --cpuset-cpus, taskset),
 * which may be fewer than the machine has. */
static unsigned _cpusAvailable(void) {
    cpu_set_t set;
    long n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
                                                          : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (unsigned)n;
}

static void _defaults(config *cfg) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->port = 8080;
    strcpy(cfg->bind, "0.0.0.0");
    cfg->scope = SCOPE_LOCAL;
    cfg->maxsize = 128;
    cfg->delay_ms = 100;
    cfg->instance_bytes = 4096;
    cfg->threads = _cpusAvailable();
    cfg->max_body_bytes = 16384;
    cfg->max_connections = 4096;
    cfg->timeout_s = 30;
}

/* Parses a whole decimal string; false on anything else (sign, space, junk,
 * overflow). */
static bool _parseUnsigned(const char *s, uint64_t *out) {
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

bool configParseBytes(const char *s, uint64_t *out) {
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {{"", 0},     {"k", 10},   {"m", 20},   {"g", 30},   {"t", 40},
                 {"kib", 10}, {"mib", 20}, {"gib", 30}, {"tib", 40}, {"b", 0}};
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || v == 0)
        return false;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(end, units[i].suffix) == 0) {
            if (v > (UINT64_MAX >> units[i].shift))
                return false;
            *out = (uint64_t)v << units[i].shift;
            return true;
        }
    }
    return false;
}

/* --memory-guard: off, a fraction in (0, 1] written with a point, or bytes. */
static bool _parseGuard(const char *value, config *cfg) {
    if (strcmp(value, "off") == 0) {
        cfg->guard_bytes = 0;
        cfg->guard_fraction = 0;
        return true;
    }
    if (strchr(value, '.')) {
        char *end;
        errno = 0;
        double f = strtod(value, &end);
        if (errno || *end || value[0] < '0' || value[0] > '9' || !(f > 0 && f <= 1))
            return false;
        cfg->guard_fraction = f;
        cfg->guard_bytes = 0;
        return true;
    }
    uint64_t v;
    if (!configParseBytes(value, &v))
        return false;
    cfg->guard_bytes = v;
    cfg->guard_fraction = 0;
    return true;
}

/* Stores value into the setting's field; false (with a message) if bad. */
static bool _apply(config *cfg, const setting *st, const char *value, const char *source,
                   FILE *err) {
    char *field = (char *)cfg + st->offset;
    uint64_t v;

    switch (st->kind) {
    case KIND_SCOPE:
        for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++) {
            if (strcmp(value, scope_names[i]) == 0) {
                *(scopeKind *)field = (scopeKind)i;
                return true;
            }
        }
        fprintf(err, "memoscope: bad %s '%s': must be global, local, shared or off\n", source,
                value);
        return false;
    case KIND_ADDR: {
        unsigned char buf[sizeof(struct in6_addr)];
        if (strlen(value) < sizeof(cfg->bind) &&
            (inet_pton(AF_INET, value, buf) == 1 || inet_pton(AF_INET6, value, buf) == 1)) {
            strcpy(field, value);
            return true;
        }
        fprintf(err, "memoscope: bad %s '%s': must be an IPv4 or IPv6 address\n", source, value);
        return false;
    }
    case KIND_LIMIT:
        if (configParseBytes(value, (uint64_t *)field))
            return true;
        fprintf(err, "memoscope: bad %s '%s': must be bytes, e.g. 536870912, 512m or 2GiB\n",
                source, value);
        return false;
    case KIND_GUARD:
        if (_parseGuard(value, cfg))
            return true;
        fprintf(err,
                "memoscope: bad %s '%s': must be off, a fraction of the limit from 0 to 1 "
                "(0.8), or bytes (100m)\n",
                source, value);
        return false;
    case KIND_MAXSIZE:
        if (strcmp(value, "none") == 0) {
            *(size_t *)field = MEMO_UNBOUNDED;
            return true;
        }
        __attribute__((fallthrough)); /* a number */
    case KIND_UINT:
    case KIND_SIZE:
        if (!_parseUnsigned(value, &v) || v < st->min || v > st->max) {
            fprintf(err, "memoscope: bad %s '%s': must be an integer from %llu to %llu%s\n", source,
                    value, (unsigned long long)st->min, (unsigned long long)st->max,
                    st->kind == KIND_MAXSIZE ? ", or none" : "");
            return false;
        }
        if (st->kind == KIND_UINT)
            *(unsigned *)field = (unsigned)v;
        else
            *(size_t *)field = (size_t)v;
        return true;
    }
    return false;
}

static const setting *_findFlag(const char *name, size_t len) {
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strlen(settings[i].flag) == len && strncmp(settings[i].flag, name, len) == 0)
            return &settings[i];
    return NULL;
}

static void _usage(FILE *out) {
    config d;
    _defaults(&d);
    fprintf(out, "usage: memoscope [--flag value]...\n\n"
                 "An HTTP service that shows what the scope of a memo cache does to memory.\n"
                 "Each flag is also an environment variable; the flag wins.\n\n");
    for (size_t i = 0; i < NSETTINGS; i++) {
        const setting *st = &settings[i];
        char def[64];
        const char *field = (const char *)&d + st->offset;
        switch (st->kind) {
        case KIND_UINT:
            snprintf(def, sizeof(def), "%u", *(const unsigned *)field);
            break;
        case KIND_SIZE:
            snprintf(def, sizeof(def), "%zu", *(const size_t *)field);
            break;
        case KIND_MAXSIZE:
            snprintf(def, sizeof(def), "%zu", *(const size_t *)field);
            break;
        case KIND_SCOPE:
            snprintf(def, sizeof(def), "%s", scope_names[*(const scopeKind *)field]);
            break;
        case KIND_ADDR:
            snprintf(def, sizeof(def), "%s", field);
            break;
        case KIND_LIMIT:
            snprintf(def, sizeof(def), "the cgroup's");
            break;
        case KIND_GUARD:
            snprintf(def, sizeof(def), "off");
            break;
        }
        fprintf(out, "  --%-16s %-26s %s (default: %s)\n", st->flag, st->env, st->help, def);
    }
    fprintf(out, "  --help                                      print this and exit\n"
                 "  --version                                   print the version and exit\n");
}

/* -------------------------------------------------------------------- API */

configResult configParse(config *cfg, int argc, char **argv, FILE *out, FILE *err) {
    _defaults(cfg);

    /* A bad variable is reported, but --help and --version still work: a
     * user reads --help to fix a setting. */
    bool env_bad = false;
    for (size_t i = 0; i < NSETTINGS; i++) {
        const char *v = getenv(settings[i].env);
        if (v && !_apply(cfg, &settings[i], v, settings[i].env, err))
            env_bad = true;
    }

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            _usage(out);
            return CONFIG_EXIT;
        }
        if (strcmp(arg, "--version") == 0) {
            fprintf(out, "memoscope %s\n", MEMOSCOPE_VERSION);
            return CONFIG_EXIT;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(err, "memoscope: unexpected argument '%s' (see --help)\n", arg);
            return CONFIG_ERROR;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        const setting *st = _findFlag(name, eq ? (size_t)(eq - name) : strlen(name));
        if (!st) {
            fprintf(err, "memoscope: unknown flag '%s' (see --help)\n", arg);
            return CONFIG_ERROR;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (i + 1 >= argc) {
                fprintf(err, "memoscope: --%s needs a value\n", st->flag);
                return CONFIG_ERROR;
            }
            value = argv[++i];
        }
        char source[32];
        snprintf(source, sizeof(source), "--%s", st->flag);
        if (!_apply(cfg, st, value, source, err))
            return CONFIG_ERROR;
    }
    return env_bad ? CONFIG_ERROR : CONFIG_OK;
}

const char *configScopeName(scopeKind s) {
    return scope_names[s];
}

const char *configMaxsizeText(size_t maxsize, const char *unbounded, char buf[CONFIG_MAXSIZE_LEN]) {
    if (maxsize == MEMO_UNBOUNDED)
        snprintf(buf, CONFIG_MAXSIZE_LEN, "%s", unbounded);
    else
        snprintf(buf, CONFIG_MAXSIZE_LEN, "%zu", maxsize);
    return buf;
}

void configDescribe(const config *cfg, unsigned real_port, FILE *out) {
    char maxsize[CONFIG_MAXSIZE_LEN];
    char limit[24] = "cgroup", guard[24] = "off";
    if (cfg->memory_limit)
        snprintf(limit, sizeof(limit), "%llu", (unsigned long long)cfg->memory_limit);
    if (cfg->guard_fraction > 0)
        snprintf(guard, sizeof(guard), "%g", cfg->guard_fraction);
    else if (cfg->guard_bytes)
        snprintf(guard, sizeof(guard), "%llu", (unsigned long long)cfg->guard_bytes);
    fprintf(out,
            "memoscope %s listening on %s port=%u cache_scope=%s maxsize=%s delay_ms=%u "
            "instance_bytes=%zu threads=%u max_body_bytes=%zu max_connections=%u timeout_s=%u "
            "memory_limit=%s memory_guard=%s\n",
            MEMOSCOPE_VERSION, cfg->bind, real_port, configScopeName(cfg->scope),
            configMaxsizeText(cfg->maxsize, "none", maxsize), cfg->delay_ms, cfg->instance_bytes,
            cfg->threads, cfg->max_body_bytes, cfg->max_connections, cfg->timeout_s, limit, guard);
    fflush(out);
}
