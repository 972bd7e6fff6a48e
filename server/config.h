/* config.h -- memoscope's settings: command-line flags and MEMOSCOPE_* env.
 *
 * Every setting is a flag and an environment variable; the flag wins.
 * Single-threaded: parsed once in main before any thread starts.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "calculate.h"
#include "daemon.h"
#include "guard.h"
#include "scope.h"
#include "stats.h"

/* The version is CMakeLists.txt's project version, defined by the build:
 * the binary, the image's label and the docs read that one place. */
#ifndef MEMOSCOPE_VERSION
#error "MEMOSCOPE_VERSION comes from the build (CMakeLists.txt: project VERSION)"
#endif

#define CONFIG_REDIS_URL_LEN 256
#define CONFIG_REDIS_PREFIX_LEN 64
#define CONFIG_REPLICA_LEN 64

typedef struct config {
    unsigned port;
    char bind[64];
    scopeKind scope;
    size_t maxsize; /* MEMO_UNBOUNDED for "none" */
    unsigned delay_ms;
    size_t instance_bytes;
    unsigned threads;
    size_t max_body_bytes;
    unsigned max_connections;        /* work slots (connections.h) */
    unsigned reserved_connections;   /* connections beyond them, for the rest */
    unsigned max_connections_per_ip; /* 0: no limit */
    unsigned max_wait_ms;            /* a request's waits on others end by then */
    size_t connection_memory_bytes;  /* libmicrohttpd's memory pool per connection */
    unsigned timeout_s;
    uint64_t memory_limit; /* bytes; 0 = the cgroup's (--memory-limit) */
    uint64_t guard_bytes;  /* --memory-guard in bytes, or 0 */
    double guard_fraction; /* --memory-guard as a fraction of the limit, or 0 */
    backendKind backend;
    char redis_url[CONFIG_REDIS_URL_LEN]; /* may hold a password: never print it */
    char redis_prefix[CONFIG_REDIS_PREFIX_LEN];
    char replica[CONFIG_REPLICA_LEN];
    unsigned redis_timeout_ms;
    uint64_t ttl_ns; /* --ttl-s in nanoseconds; CONFIG_TTL_NONE for "none" */
    size_t maxbytes; /* CONFIG_MAXBYTES_NONE for "none" */

    /* --probe's path (argv's, or a literal): ask the server, do not serve.
     * NULL to serve. */
    const char *probe_path;
} config;

/* "none" is 0 for both bounds, so that a zeroed config has neither. */
#define CONFIG_TTL_NONE 0
#define CONFIG_MAXBYTES_NONE 0

typedef enum configResult {
    CONFIG_OK,    /* cfg is filled in: run the server */
    CONFIG_EXIT,  /* --help or --version was printed: exit 0 */
    CONFIG_PROBE, /* --probe: cfg is filled in: ask the server on cfg->port, do not serve */
    CONFIG_ERROR  /* a message naming the setting was printed: exit 2 */
} configResult;

/* Fills cfg from the defaults, then the environment, then argv. Messages for
 * --help and --version go to out, errors to err. A bad MEMOSCOPE_* variable
 * is CONFIG_ERROR, unless --help or --version is given: they still print
 * (CONFIG_EXIT), after the message naming the variable. */
configResult configParse(config *cfg, int argc, char **argv, FILE *out, FILE *err);

/* The name of a scope ("global", ...). */
const char *configScopeName(scopeKind s);

/* The name of a backend ("memory", "redis"). */
const char *configBackendName(backendKind b);

/* Do global and shared scope keep their entries in Redis? */
bool configUsesRedis(const config *cfg);

/* maxsize as text: the number, or unbounded ("none", "null") for
 * MEMO_UNBOUNDED. Writes into buf and returns it. */
#define CONFIG_MAXSIZE_LEN 24
const char *configMaxsizeText(size_t maxsize, const char *unbounded, char buf[CONFIG_MAXSIZE_LEN]);

/* maxbytes as text: the number, or unbounded for CONFIG_MAXBYTES_NONE. */
const char *configMaxbytesText(size_t maxbytes, const char *unbounded,
                               char buf[CONFIG_MAXSIZE_LEN]);

/* ttl_ns as seconds ("2", "0.25"), or unbounded for CONFIG_TTL_NONE. */
#define CONFIG_TTL_LEN 32
const char *configTtlText(uint64_t ttl_ns, const char *unbounded, char buf[CONFIG_TTL_LEN]);

/* Parses a number of bytes: digits, optionally followed by k, m, g or t (or
 * B, KiB, MiB, GiB, TiB: powers of 1024, as docker's --memory), any case:
 * "4096", "512m", "64MiB". Returns false, leaving *out alone, on anything
 * else (a fraction too), 0, or above 2^62. */
bool configParseBytes(const char *s, uint64_t *out);

/* Each layer's own settings, taken from cfg (whose strings they point to:
 * cfg must outlive them). */
scopeSettings configScopeSettings(const config *cfg);
httpSettings configHttpSettings(const config *cfg);
guardSettings configGuardSettings(const config *cfg);
calcSettings configCalcSettings(const config *cfg);

/* What /stats and /metrics say of the configuration (stats.h), written
 * from cfg, which must outlive every scrape. */
statsSettingsWriter configStatsWriter(const config *cfg);

/* Writes the one-line description of the effective configuration. */
void configDescribe(const config *cfg, unsigned real_port, FILE *out);

#endif /* CONFIG_H */
