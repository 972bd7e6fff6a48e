/* config.c -- settings from defaults, MEMOSCOPE_* environment and flags. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"
#include "memo.h"
#include "calculate_body.h"
#include "redis_client.h"
#include "text.h"
#include "probe.h"

/* ------------------------------------------------------------------ types */

typedef enum settingKind {
    KIND_UINT,
    KIND_SIZE,
    KIND_SCOPE,
    KIND_MAXSIZE,
    KIND_ADDR,
    KIND_LIMIT, /* bytes with a suffix (--memory-limit) */
    KIND_GUARD, /* off, a fraction of the limit, or bytes (--memory-guard) */
    KIND_BACKEND,
    KIND_URL,
    KIND_PREFIX,
    KIND_NAME,
    KIND_SECONDS, /* uint64_t nanoseconds from decimal seconds, or none */
    KIND_BYTES    /* size_t from a byte count with a suffix, or none */
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
#define MAX_WAIT_MS 3600000u /* an hour */
#define MAX_TIMEOUT_S 3600
#define MAX_REDIS_TIMEOUT_MS 10000
#define MIN_TTL_NS 1000000ull                  /* 1 ms: the sweep's grain is coarser anyway */
#define MAX_TTL_NS (366ull * 86400 * NS_PER_S) /* a year */
#define MAX_BYTES (1ull << 62)                 /* beyond any machine; no overflow in sums */
#define TTL_DIGITS 9                           /* fraction digits a nanosecond count can hold */
#define MIN_CONNECTION_MEMORY 2048
#define MAX_CONNECTION_MEMORY (1u << 20)

static const setting settings[] = {
    {"port", "MEMOSCOPE_PORT", KIND_UINT, FIELD(port), 0, 65535,
     "TCP port (0 = any free port; the chosen one is logged)"},
    {"bind", "MEMOSCOPE_BIND", KIND_ADDR, FIELD(bind), 0, 0, "address to listen on (IPv4 or IPv6)"},
    {"cache-scope", "MEMOSCOPE_CACHE_SCOPE", KIND_SCOPE, FIELD(scope), 0, 0,
     "global, local, shared, off or weak"},
    {"maxsize", "MEMOSCOPE_MAXSIZE", KIND_MAXSIZE, FIELD(maxsize), 0, 1u << 30,
     "entries per cache; none = unbounded; 0 = no caching"},
    {"delay-ms", "MEMOSCOPE_DELAY_MS", KIND_UINT, FIELD(delay_ms), 0, MAX_DELAY_MS,
     "how long a cache miss takes, in milliseconds"},
    {"instance-bytes", "MEMOSCOPE_INSTANCE_BYTES", KIND_SIZE, FIELD(instance_bytes), 0,
     MAX_INSTANCE_BYTES, "payload of each SlowAdder, in bytes"},
    {"threads", "MEMOSCOPE_THREADS", KIND_UINT, FIELD(threads), 1, MAX_THREADS, "worker threads"},
    {"max-body-bytes", "MEMOSCOPE_MAX_BODY_BYTES", KIND_SIZE, FIELD(max_body_bytes), MIN_BODY_BYTES,
     MAX_BODY_BYTES, "larger request bodies get 413"},
    {"max-connections", "MEMOSCOPE_MAX_CONNECTIONS", KIND_UINT, FIELD(max_connections), 1,
     MAX_CONNECTIONS,
     "requests at work at most (POST /calculate, DELETE /cache); more get 503 with "
     "Retry-After"},
    {"reserved-connections", "MEMOSCOPE_RESERVED_CONNECTIONS", KIND_UINT,
     FIELD(reserved_connections), 1, MAX_CONNECTIONS,
     "connections beyond --max-connections, for probes, scrapers and quick 503s"},
    {"connection-memory-bytes", "MEMOSCOPE_CONNECTION_MEMORY_BYTES", KIND_SIZE,
     FIELD(connection_memory_bytes), MIN_CONNECTION_MEMORY, MAX_CONNECTION_MEMORY,
     "memory pool of each connection: request line, headers, answer headers"},
    {"max-connections-per-ip", "MEMOSCOPE_MAX_CONNECTIONS_PER_IP", KIND_UINT,
     FIELD(max_connections_per_ip), 0, MAX_CONNECTIONS,
     "open connections from one client address at most (0 = no limit); unless set, half of "
     "--max-connections"},
    {"timeout-s", "MEMOSCOPE_TIMEOUT_S", KIND_UINT, FIELD(timeout_s), 1, MAX_TIMEOUT_S,
     "idle connections are closed after this many seconds"},
    {"memory-limit", "MEMOSCOPE_MEMORY_LIMIT", KIND_LIMIT, FIELD(memory_limit), 0, 0,
     "the memory limit for the guard and /stats (bytes, 512m, 2GiB)"},
    {"memory-guard", "MEMOSCOPE_MEMORY_GUARD", KIND_GUARD, FIELD(guard_bytes), 0, 0,
     "above this fraction of the limit (0.8) or bytes (100m), shed POST /calculate with 503"},
    {"cache-backend", "MEMOSCOPE_CACHE_BACKEND", KIND_BACKEND, FIELD(backend), 0, 0,
     "where global and shared keep entries: memory or redis"},
    {"redis-url", "MEMOSCOPE_REDIS_URL", KIND_URL, FIELD(redis_url), 0, 0,
     "redis://[:password@]host[:port][/db] or unix:///path"},
    {"redis-prefix", "MEMOSCOPE_REDIS_PREFIX", KIND_PREFIX, FIELD(redis_prefix), 0, 0,
     "our keys in Redis start with it"},
    {"replica", "MEMOSCOPE_REPLICA", KIND_NAME, FIELD(replica), 0, 0,
     "this replica's name, in its global keys"},
    {"max-wait-ms", "MEMOSCOPE_MAX_WAIT_MS", KIND_UINT, FIELD(max_wait_ms), 1, MAX_WAIT_MS,
     "a request still waiting on another's computation, on Redis or on a clear this long "
     "after it began gets 504"},
    {"redis-timeout-ms", "MEMOSCOPE_REDIS_TIMEOUT_MS", KIND_UINT, FIELD(redis_timeout_ms), 1,
     MAX_REDIS_TIMEOUT_MS, "a Redis reply later than this is a fault: answer without the cache"},
    {"ttl-s", "MEMOSCOPE_TTL_S", KIND_SECONDS, FIELD(ttl_ns), MIN_TTL_NS, MAX_TTL_NS,
     "entries expire this many seconds (fractions too) after they were stored; none = never"},
    {"maxbytes", "MEMOSCOPE_MAXBYTES", KIND_BYTES, FIELD(maxbytes), 1, MAX_BYTES,
     "bytes a cache may keep alive (4096, 64MiB, 512m...); none = no byte bound"},
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* ---------------------------------------------------------------- private */

/* The CPUs this process may run on (a container's --cpuset-cpus, taskset),
 * which may be fewer than the machine has. */
static unsigned cpusAvailable(void) {
    cpu_set_t set;
    long n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
                                                          : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (unsigned)n;
}

/* A replica name: letters, digits, '.', '_' and '-', as host names are. */
static bool nameOk(const char *s) {
    if (!*s || strlen(s) >= CONFIG_REPLICA_LEN)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return false;
    return true;
}

/* A key prefix: printable ASCII without spaces (SCAN MATCH escapes its
 * glob characters; /stats and the startup line escape the rest). */
static bool prefixOk(const char *s) {
    if (!*s || strlen(s) >= CONFIG_REDIS_PREFIX_LEN)
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s > '~')
            return false;
    return true;
}

static void setDefaults(config *cfg) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->port = 8080;
    strcpy(cfg->bind, "0.0.0.0");
    cfg->scope = SCOPE_LOCAL;
    cfg->maxsize = 128;
    cfg->delay_ms = 100;
    cfg->instance_bytes = 4096;
    cfg->threads = cpusAvailable();
    cfg->max_body_bytes = 16384;
    cfg->max_connections = 4096;
    cfg->reserved_connections = 64;
    cfg->max_connections_per_ip = cfg->max_connections / 2; /* configParse: of the one set */
    cfg->max_wait_ms = 30000;
    cfg->timeout_s = 30;
    cfg->backend = BACKEND_MEMORY;
    strcpy(cfg->redis_url, "redis://127.0.0.1:6379/0");
    strcpy(cfg->redis_prefix, "memoscope:");
    cfg->redis_timeout_ms = RCLI_TIMEOUT_MS;
    if (gethostname(cfg->replica, sizeof(cfg->replica)) != 0 || !nameOk(cfg->replica))
        strcpy(cfg->replica, "replica");
    cfg->ttl_ns = CONFIG_TTL_NONE;
    cfg->maxbytes = CONFIG_MAXBYTES_NONE;
    cfg->connection_memory_bytes = 8192; /* docs/benchmarks.md, "Per-connection memory" */
}

/* Parses a whole decimal string; false on anything else (sign, space, junk,
 * overflow). */
static bool parseUnsigned(const char *s, uint64_t *out) {
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

/* Parses "digits[.digits]" into a whole part and a fraction of up to
 * max_frac digits (as frac / 10^frac_digits). */
static bool parseDecimal(const char **s, uint64_t *whole, uint64_t *frac, unsigned *frac_digits,
                         unsigned max_frac) {
    const char *p = *s;
    if (*p < '0' || *p > '9')
        return false;
    uint64_t w = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (w > (UINT64_MAX - 9) / 10)
            return false;
        w = w * 10 + (uint64_t)(*p - '0');
    }
    uint64_t f = 0;
    unsigned n = 0;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (++n > max_frac)
                return false;
            f = f * 10 + (uint64_t)(*p - '0');
        }
    }
    *whole = w;
    *frac = f;
    *frac_digits = n;
    *s = p;
    return true;
}

static uint64_t pow10u(unsigned n) {
    uint64_t v = 1;
    while (n--)
        v *= 10;
    return v;
}

/* Seconds with up to 9 fraction digits, into nanoseconds. */
static bool parseSeconds(const char *s, uint64_t *ns) {
    uint64_t whole, frac;
    unsigned digits;
    if (!parseDecimal(&s, &whole, &frac, &digits, TTL_DIGITS) || *s)
        return false;
    if (whole > UINT64_MAX / NS_PER_S - 1)
        return false;
    *ns = whole * NS_PER_S + frac * pow10u(TTL_DIGITS - digits);
    return true;
}

/* --memory-guard: off, a fraction in (0, 1] written with a point, or bytes. */
static bool parseGuard(const char *value, config *cfg) {
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
static bool apply(config *cfg, const setting *st, const char *value, const char *source,
                  FILE *err) {
    char *field = (char *)cfg + st->offset;
    uint64_t v;

    /* No setting takes one, and an error line must not carry it to a terminal. */
    for (const char *c = value; *c; c++) {
        if ((unsigned char)*c < ' ' || *c == 0x7f) {
            fprintf(err, "memoscope: bad %s: holds a control character\n", source);
            return false;
        }
    }

    switch (st->kind) {
    case KIND_SCOPE:
        for (int i = 0; i < SCOPE_KINDS; i++) {
            if (strcmp(value, scopeKindName((scopeKind)i)) == 0) {
                *(scopeKind *)field = (scopeKind)i;
                return true;
            }
        }
        fprintf(err, "memoscope: bad %s '%s': must be global, local, shared, off or weak\n", source,
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
        if (parseGuard(value, cfg))
            return true;
        fprintf(err,
                "memoscope: bad %s '%s': must be off, a fraction of the limit from 0 to 1 "
                "(0.8), or bytes (100m)\n",
                source, value);
        return false;
    case KIND_BACKEND:
        for (int i = 0; i < BACKEND_KINDS; i++) {
            if (strcmp(value, scopeBackendKindName((backendKind)i)) == 0) {
                *(backendKind *)field = (backendKind)i;
                return true;
            }
        }
        fprintf(err, "memoscope: bad %s '%s': must be memory or redis\n", source, value);
        return false;
    case KIND_URL: {
        rcliTarget t;
        char why[128];
        if (rcliParseUrl(value, &t, why, sizeof(why))) {
            strcpy(field, value); /* rcliParseUrl took at most RCLI_URL_LEN - 1 */
            return true;
        }
        /* A URL that failed to parse is never shown: any part of it may be
         * the password. */
        fprintf(err, "memoscope: bad %s: %s\n", source, why);
        return false;
    }
    case KIND_PREFIX:
        if (prefixOk(value)) {
            strcpy(field, value);
            return true;
        }
        fprintf(err,
                "memoscope: bad %s: must be 1 to %d printable ASCII characters without spaces "
                "nor control characters\n",
                source, CONFIG_REDIS_PREFIX_LEN - 1);
        return false;
    case KIND_NAME:
        if (nameOk(value)) {
            strcpy(field, value);
            return true;
        }
        fprintf(err, "memoscope: bad %s: must be 1 to %d letters, digits, '.', '_' or '-'\n",
                source, CONFIG_REPLICA_LEN - 1);
        return false;
    case KIND_SECONDS:
        if (strcmp(value, "none") == 0) {
            *(uint64_t *)field = CONFIG_TTL_NONE;
            return true;
        }
        if (!parseSeconds(value, &v) || v < st->min || v > st->max) {
            fprintf(err,
                    "memoscope: bad %s '%s': must be seconds from 0.001 to %llu (e.g. 2 or 0.25), "
                    "or none\n",
                    source, value, (unsigned long long)(st->max / NS_PER_S));
            return false;
        }
        *(uint64_t *)field = v;
        return true;
    case KIND_BYTES:
        if (strcmp(value, "none") == 0) {
            *(size_t *)field = CONFIG_MAXBYTES_NONE;
            return true;
        }
        if (!configParseBytes(value, &v) || v < st->min || v > st->max || v > SIZE_MAX - 1) {
            fprintf(err,
                    "memoscope: bad %s '%s': must be a byte count of at least 1 (4096, 64KiB, "
                    "8MiB, 512m, 2GiB...), or none\n",
                    source, value);
            return false;
        }
        *(size_t *)field = (size_t)v;
        return true;
    case KIND_MAXSIZE:
        if (strcmp(value, "none") == 0) {
            *(size_t *)field = MEMO_UNBOUNDED;
            return true;
        }
        __attribute__((fallthrough)); /* a number */
    case KIND_UINT:
    case KIND_SIZE:
        if (!parseUnsigned(value, &v) || v < st->min || v > st->max) {
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

static const setting *findFlag(const char *name, size_t len) {
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strlen(settings[i].flag) == len && strncmp(settings[i].flag, name, len) == 0)
            return &settings[i];
    return NULL;
}

/* The default as --help shows it: the same words on every machine (a
 * default that depends on the machine says what it is taken from; the
 * startup line shows the value). */
static void defaultText(const setting *st, const config *d, char *def, size_t len) {
    const char *field = (const char *)d + st->offset;
    switch (st->kind) {
    case KIND_UINT:
        if (st->offset == FIELD(threads))
            snprintf(def, len, "one per CPU this process may use");
        else
            snprintf(def, len, "%u", *(const unsigned *)field);
        break;
    case KIND_SIZE:
    case KIND_MAXSIZE:
        snprintf(def, len, "%zu", *(const size_t *)field);
        break;
    case KIND_SCOPE:
        snprintf(def, len, "%s", scopeKindName(*(const scopeKind *)field));
        break;
    case KIND_BACKEND:
        snprintf(def, len, "%s", scopeBackendKindName(*(const backendKind *)field));
        break;
    case KIND_NAME:
        snprintf(def, len, "the host name");
        break;
    case KIND_ADDR:
    case KIND_URL:
    case KIND_PREFIX:
        snprintf(def, len, "%s", field);
        break;
    case KIND_LIMIT:
        snprintf(def, len, "the cgroup's");
        break;
    case KIND_GUARD:
        snprintf(def, len, "off");
        break;
    case KIND_SECONDS:
    case KIND_BYTES:
        snprintf(def, len, "none");
        break;
    }
}

/* The range of a whole-number setting, "" for the others (their help says
 * what they take). */
static void rangeText(const setting *st, char *range, size_t len) {
    if (st->kind == KIND_UINT || st->kind == KIND_SIZE)
        snprintf(range, len, "%llu to %llu; ", (unsigned long long)st->min,
                 (unsigned long long)st->max);
    else if (st->kind == KIND_MAXSIZE)
        snprintf(range, len, "%llu to %llu or none; ", (unsigned long long)st->min,
                 (unsigned long long)st->max);
    else
        range[0] = '\0';
}

static void printUsage(FILE *out) {
    config d;
    setDefaults(&d);
    fprintf(out, "usage: memoscope [--flag value]...\n\n"
                 "An HTTP service that shows what the scope of a memo cache does to memory.\n"
                 "Each flag is also an environment variable; the flag wins.\n\n");
    /* Columns as wide as the longest flag and variable, so that none breaks them. */
    int flag_w = (int)strlen("version"), env_w = 0;
    for (size_t i = 0; i < NSETTINGS; i++) {
        if ((int)strlen(settings[i].flag) > flag_w)
            flag_w = (int)strlen(settings[i].flag);
        if ((int)strlen(settings[i].env) > env_w)
            env_w = (int)strlen(settings[i].env);
    }
    for (size_t i = 0; i < NSETTINGS; i++) {
        const setting *st = &settings[i];
        char def[64], range[64];
        defaultText(st, &d, def, sizeof(def));
        rangeText(st, range, sizeof(range));
        fprintf(out, "  --%-*s %-*s %s (%sdefault: %s)\n", flag_w, st->flag, env_w, st->env,
                st->help, range, def);
    }
    fprintf(out,
            "  --%-*s %-*s ask the server on this machine (its --port or MEMOSCOPE_PORT) for "
            "PATH: exit 0 on 200, 1 otherwise, within %d ms; serves nothing (default: %s)\n",
            flag_w, "probe [PATH]", env_w, "", PROBE_TIMEOUT_MS, PROBE_DEFAULT_PATH);
    fprintf(out, "  --%-*s %-*s print this and exit\n", flag_w, "help", env_w, "");
    fprintf(out, "  --%-*s %-*s print the version and exit\n", flag_w, "version", env_w, "");
}

static bool wasGiven(const bool *given, const char *flag) {
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strcmp(settings[i].flag, flag) == 0)
            return given[i];
    return false;
}

/* Settings that have no meaning together exit 2, saying why: a user who
 * sets one expects it to act. */
static bool validate(config *cfg, const bool *given, FILE *err) {
    if (cfg->backend == BACKEND_MEMORY) {
        static const char *const redis_only[] = {"redis-url", "redis-prefix", "redis-timeout-ms"};
        for (size_t i = 0; i < sizeof(redis_only) / sizeof(redis_only[0]); i++) {
            if (wasGiven(given, redis_only[i])) {
                fprintf(err,
                        "memoscope: --%s has no meaning with --cache-backend memory "
                        "(set --cache-backend redis to use Redis)\n",
                        redis_only[i]);
                return false;
            }
        }
        return true;
    }
    if (!configUsesRedis(cfg))
        return true; /* local, off and weak keep their caches in the process */
    if (wasGiven(given, "maxsize") && cfg->maxsize != MEMO_UNBOUNDED) {
        fprintf(err,
                "memoscope: --maxsize %zu has no meaning with --cache-backend redis in %s scope: "
                "Redis bounds its entries by TTL or its own maxmemory (leave --maxsize out, or "
                "say none)\n",
                cfg->maxsize, configScopeName(cfg->scope));
        return false;
    }
    if (cfg->maxbytes != CONFIG_MAXBYTES_NONE) {
        fprintf(err,
                "memoscope: --maxbytes has no meaning with --cache-backend redis in %s scope: "
                "Redis bounds its memory with its own maxmemory (leave --maxbytes out)\n",
                configScopeName(cfg->scope));
        return false;
    }
    cfg->maxsize = MEMO_UNBOUNDED;
    return true;
}

/* A bound set for a scope without a cache (off), or for a cache that stores
 * nothing (maxsize 0), means nothing: say so rather than ignore it. */
static bool checkMeaning(const config *cfg, FILE *err) {
    const char *why = NULL;
    if (cfg->scope == SCOPE_OFF)
        why = "--cache-scope off has no cache";
    else if (cfg->maxsize == 0)
        why = "--maxsize 0 stores nothing";
    if (!why)
        return true;
    if (cfg->ttl_ns != CONFIG_TTL_NONE) {
        fprintf(err, "memoscope: --ttl-s (MEMOSCOPE_TTL_S) has no meaning here: %s to expire\n",
                why);
        return false;
    }
    if (cfg->maxbytes != CONFIG_MAXBYTES_NONE) {
        fprintf(err,
                "memoscope: --maxbytes (MEMOSCOPE_MAXBYTES) has no meaning here: %s to bound\n",
                why);
        return false;
    }
    return true;
}

/* -------------------------------------------------------------------- API */

bool configParseBytes(const char *s, uint64_t *out) {
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {{"", 0},   {"b", 0},    {"k", 10},   {"m", 20},   {"g", 30},
                 {"t", 40}, {"kib", 10}, {"mib", 20}, {"gib", 30}, {"tib", 40}};
    uint64_t whole, frac;
    unsigned digits;
    if (!parseDecimal(&s, &whole, &frac, &digits, 0)) /* whole numbers only */
        return false;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(s, units[i].suffix) != 0)
            continue;
        unsigned shift = units[i].shift;
        if (whole == 0 || whole > (MAX_BYTES >> shift))
            return false;
        *out = whole << shift;
        return true;
    }
    return false;
}

const char *configMaxbytesText(size_t maxbytes, const char *unbounded,
                               char buf[CONFIG_MAXSIZE_LEN]) {
    if (maxbytes == CONFIG_MAXBYTES_NONE)
        snprintf(buf, CONFIG_MAXSIZE_LEN, "%s", unbounded);
    else
        snprintf(buf, CONFIG_MAXSIZE_LEN, "%zu", maxbytes);
    return buf;
}

const char *configTtlText(uint64_t ttl_ns, const char *unbounded, char buf[CONFIG_TTL_LEN]) {
    if (ttl_ns == CONFIG_TTL_NONE) {
        snprintf(buf, CONFIG_TTL_LEN, "%s", unbounded);
        return buf;
    }
    int n = snprintf(buf, CONFIG_TTL_LEN, "%llu", (unsigned long long)(ttl_ns / NS_PER_S));
    uint64_t frac = ttl_ns % NS_PER_S;
    if (frac) {
        int digits = TTL_DIGITS;
        while (frac % 10 == 0) {
            frac /= 10;
            digits--;
        }
        snprintf(buf + n, CONFIG_TTL_LEN - (size_t)n, ".%0*llu", digits, (unsigned long long)frac);
    }
    return buf;
}

configResult configParse(config *cfg, int argc, char **argv, FILE *out, FILE *err) {
    bool given[NSETTINGS] = {false};
    setDefaults(cfg);

    /* A bad variable is reported, but --help and --version still work: a
     * user reads --help to fix a setting. */
    bool env_bad = false;
    for (size_t i = 0; i < NSETTINGS; i++) {
        const char *v = getenv(settings[i].env);
        if (v && !apply(cfg, &settings[i], v, settings[i].env, err))
            env_bad = true;
        given[i] |= v != NULL;
    }

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            printUsage(out);
            return CONFIG_EXIT;
        }
        if (strcmp(arg, "--version") == 0) {
            fprintf(out, "memoscope %s\n", MEMOSCOPE_VERSION);
            return CONFIG_EXIT;
        }
        if (strcmp(arg, "--probe") == 0 || strncmp(arg, "--probe=", 8) == 0) {
            /* The path is optional: the next argument, when it is one. */
            const char *path = PROBE_DEFAULT_PATH;
            if (arg[7] == '=')
                path = arg + 8;
            else if (i + 1 < argc && argv[i + 1][0] == '/')
                path = argv[++i];
            if (!probePathOk(path)) {
                fprintf(err,
                        "memoscope: bad --probe '%s': must be a path starting with /, at most %d "
                        "printable characters without spaces\n",
                        path, PROBE_PATH_MAX);
                return CONFIG_ERROR;
            }
            cfg->probe_path = path;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            /* not shown: a stray word may be part of a secret */
            fprintf(err, "memoscope: unexpected argument number %d (see --help)\n", i);
            return CONFIG_ERROR;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        const setting *st = findFlag(name, eq ? (size_t)(eq - name) : strlen(name));
        if (!st) {
            /* the name only: a value after '=' may be a secret */
            fprintf(err, "memoscope: unknown flag '%.*s' (see --help)\n",
                    eq ? (int)(eq - arg) : (int)strlen(arg), arg);
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
        if (!apply(cfg, st, value, source, err))
            return CONFIG_ERROR;
        given[st - settings] = true;
    }
    if (env_bad)
        return CONFIG_ERROR;
    /* One address may take half the work slots: others keep the rest. */
    if (!wasGiven(given, "max-connections-per-ip"))
        cfg->max_connections_per_ip = cfg->max_connections > 1 ? cfg->max_connections / 2 : 1;
    if (!validate(cfg, given, err))
        return CONFIG_ERROR;
    if (!checkMeaning(cfg, err))
        return CONFIG_ERROR;
    return cfg->probe_path ? CONFIG_PROBE : CONFIG_OK;
}

const char *configScopeName(scopeKind s) {
    return scopeKindName(s);
}

const char *configBackendName(backendKind b) {
    return scopeBackendKindName(b);
}

bool configUsesRedis(const config *cfg) {
    return cfg->backend == BACKEND_REDIS &&
           (cfg->scope == SCOPE_GLOBAL || cfg->scope == SCOPE_SHARED);
}

const char *configMaxsizeText(size_t maxsize, const char *unbounded, char buf[CONFIG_MAXSIZE_LEN]) {
    if (maxsize == MEMO_UNBOUNDED)
        snprintf(buf, CONFIG_MAXSIZE_LEN, "%s", unbounded);
    else
        snprintf(buf, CONFIG_MAXSIZE_LEN, "%zu", maxsize);
    return buf;
}

/* key=value for the startup line: a value holding a space, '"', '\\' or
 * '=' goes between quotes with '"' and '\\' escaped (as logfmt does), so
 * that a configured string cannot forge a field. */
static void describeValue(FILE *out, const char *key, const char *v) {
    fputs(key, out);
    if (!v[strcspn(v, " \"\\=")]) {
        fputs(v, out);
        return;
    }
    fputc('"', out);
    for (; *v; v++) {
        if (*v == '"' || *v == '\\')
            fputc('\\', out);
        fputc(*v, out);
    }
    fputc('"', out);
}

void configDescribe(const config *cfg, unsigned real_port, FILE *out) {
    char maxsize[CONFIG_MAXSIZE_LEN], maxbytes[CONFIG_MAXSIZE_LEN], ttl[CONFIG_TTL_LEN];
    char limit[24] = "cgroup", guard[24] = "off";
    if (cfg->memory_limit)
        snprintf(limit, sizeof(limit), "%llu", (unsigned long long)cfg->memory_limit);
    if (cfg->guard_fraction > 0)
        snprintf(guard, sizeof(guard), "%g", cfg->guard_fraction);
    else if (cfg->guard_bytes)
        snprintf(guard, sizeof(guard), "%llu", (unsigned long long)cfg->guard_bytes);
    fprintf(out,
            "memoscope %s listening on %s port=%u cache_scope=%s maxsize=%s delay_ms=%u "
            "instance_bytes=%zu threads=%u max_body_bytes=%zu max_connections=%u "
            "reserved_connections=%u max_connections_per_ip=%u max_wait_ms=%u timeout_s=%u "
            "memory_limit=%s memory_guard=%s ttl_s=%s maxbytes=%s cache_backend=%s",
            MEMOSCOPE_VERSION, cfg->bind, real_port, configScopeName(cfg->scope),
            configMaxsizeText(cfg->maxsize, "none", maxsize), cfg->delay_ms, cfg->instance_bytes,
            cfg->threads, cfg->max_body_bytes, cfg->max_connections, cfg->reserved_connections,
            cfg->max_connections_per_ip, cfg->max_wait_ms, cfg->timeout_s, limit, guard,
            configTtlText(cfg->ttl_ns, "none", ttl),
            configMaxbytesText(cfg->maxbytes, "none", maxbytes), configBackendName(cfg->backend));
    char url[RCLI_URL_LEN];
    rcliRedactUrl(cfg->redis_url, url, sizeof(url));
    if (cfg->backend == BACKEND_REDIS) {
        describeValue(out, " redis_url=", url);
        describeValue(out, " redis_prefix=", cfg->redis_prefix);
        describeValue(out, " replica=", cfg->replica);
        fprintf(out, " redis_timeout_ms=%u", cfg->redis_timeout_ms);
    }
    fputc('\n', out);
    fflush(out);
}

/* ---------------------------------------------------- each layer's settings */

scopeSettings configScopeSettings(const config *cfg) {
    return (scopeSettings){
        .kind = cfg->scope,
        .maxsize = cfg->maxsize,
        .maxbytes = cfg->maxbytes == CONFIG_MAXBYTES_NONE ? MEMO_UNBOUNDED : cfg->maxbytes,
        .ttl_ns = cfg->ttl_ns,
        .instance_bytes = cfg->instance_bytes,
        .backend = cfg->backend,
        .redis_url = cfg->redis_url,
        .redis_prefix = cfg->redis_prefix,
        .replica = cfg->replica,
        .redis_timeout_ms = cfg->redis_timeout_ms,
    };
}

httpSettings configHttpSettings(const config *cfg) {
    httpSettings s = {
        .port = cfg->port,
        .threads = cfg->threads,
        .max_connections = cfg->max_connections,
        .reserved_connections = cfg->reserved_connections,
        .max_connections_per_ip = cfg->max_connections_per_ip,
        .connection_memory_bytes = cfg->connection_memory_bytes,
        .timeout_s = cfg->timeout_s,
    };
    snprintf(s.bind, sizeof(s.bind), "%s", cfg->bind);
    return s;
}

guardSettings configGuardSettings(const config *cfg) {
    return (guardSettings){.memory_limit = cfg->memory_limit,
                           .guard_bytes = cfg->guard_bytes,
                           .guard_fraction = cfg->guard_fraction};
}

calcSettings configCalcSettings(const config *cfg) {
    return (calcSettings){.delay_ms = cfg->delay_ms,
                          .max_body_bytes = cfg->max_body_bytes,
                          .max_wait_ms = cfg->max_wait_ms,
                          .can_wait = cfg->scope == SCOPE_SHARED || configUsesRedis(cfg)};
}

/* /stats' first fields. */
static void statsJson(void *ctx, textBuf *t) {
    const config *cfg = ctx;
    char maxsize[CONFIG_MAXSIZE_LEN], maxbytes[CONFIG_MAXSIZE_LEN], ttl[CONFIG_TTL_LEN];
    textf(t,
          "\"version\":\"%s\",\"cache_scope\":\"%s\",\"maxsize\":%s,\"maxbytes\":%s,"
          "\"ttl_s\":%s,\"delay_ms\":%u,\"instance_bytes\":%zu,\"threads\":%u",
          MEMOSCOPE_VERSION, configScopeName(cfg->scope),
          configMaxsizeText(cfg->maxsize, "null", maxsize),
          configMaxbytesText(cfg->maxbytes, "null", maxbytes),
          configTtlText(cfg->ttl_ns, "null", ttl), cfg->delay_ms, cfg->instance_bytes,
          cfg->threads);
}

/* The settings of /stats' backend object: where the process-wide caches live. */
static void statsBackendJson(void *ctx, textBuf *t) {
    const config *cfg = ctx;
    if (!configUsesRedis(cfg)) {
        textf(t, "\"kind\":\"%s\"", configBackendName(cfg->backend));
        if (cfg->backend == BACKEND_REDIS) /* local and off never touch Redis */
            TEXT_LIT(t, ",\"used\":false");
        return;
    }
    char url[RCLI_URL_LEN];
    rcliRedactUrl(cfg->redis_url, url, sizeof(url));
    /* A prefix may hold '"' or '\', a socket path too: each is escaped. */
    TEXT_LIT(t, "\"kind\":\"redis\",\"url\":\"");
    textJson(t, url);
    TEXT_LIT(t, "\",\"prefix\":\"");
    textJson(t, cfg->redis_prefix);
    TEXT_LIT(t, "\",\"replica\":\"");
    textJson(t, cfg->replica);
    TEXT_LIT(t, "\"");
}

/* memoscope_info's labels. */
static void statsInfoLabels(void *ctx, textBuf *t) {
    const config *cfg = ctx;
    char maxsize[CONFIG_MAXSIZE_LEN];
    textf(t, "version=\"%s\",cache_scope=\"%s\",maxsize=\"%s\",cache_backend=\"%s\"",
          MEMOSCOPE_VERSION, configScopeName(cfg->scope),
          configMaxsizeText(cfg->maxsize, "none", maxsize), configBackendName(cfg->backend));
}

statsSettingsWriter configStatsWriter(const config *cfg) {
    return (statsSettingsWriter){.ctx = (void *)cfg,
                                 .json = statsJson,
                                 .backend_json = statsBackendJson,
                                 .info_labels = statsInfoLabels};
}
