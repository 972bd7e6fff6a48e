/* test_config.c -- every setting is a flag and an environment variable, the
 * flag wins, and a bad value is refused with a message naming the setting. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "memo.h"

#include "config_parse.h"

static void defaults_are_the_contracts(void) {
    config c;
    const char *argv[] = {"memoscope", NULL};
    CHECK(parse(&c, argv) == CONFIG_OK);
    CHECK_EQ(c.port, 8080);
    CHECK(strcmp(c.bind, "0.0.0.0") == 0);
    CHECK(c.scope == SCOPE_LOCAL);
    CHECK_EQ(c.maxsize, 128);
    CHECK_EQ(c.delay_ms, 100);
    CHECK_EQ(c.instance_bytes, 4096);
    CHECK(c.threads >= 1);
    CHECK_EQ(c.max_body_bytes, 16384);
}

static void flags_in_both_forms(void) {
    config c;
    const char *argv[] = {"memoscope",
                          "--port",
                          "0",
                          "--cache-scope=global",
                          "--maxsize",
                          "none",
                          "--delay-ms=0",
                          "--bind",
                          "::1",
                          "--threads",
                          "3",
                          NULL};
    CHECK(parse(&c, argv) == CONFIG_OK);
    CHECK_EQ(c.port, 0);
    CHECK(c.scope == SCOPE_GLOBAL);
    CHECK(c.maxsize == MEMO_UNBOUNDED);
    CHECK_EQ(c.delay_ms, 0);
    CHECK(strcmp(c.bind, "::1") == 0);
    CHECK_EQ(c.threads, 3);
}

static void environment_is_read_and_the_flag_wins(void) {
    config c;
    setenv("MEMOSCOPE_CACHE_SCOPE", "shared", 1);
    setenv("MEMOSCOPE_MAXSIZE", "7", 1);
    const char *argv[] = {"memoscope", "--maxsize", "9", NULL};
    CHECK(parse(&c, argv) == CONFIG_OK);
    CHECK(c.scope == SCOPE_SHARED);
    CHECK_EQ(c.maxsize, 9);
    unsetenv("MEMOSCOPE_CACHE_SCOPE");
    unsetenv("MEMOSCOPE_MAXSIZE");
}

static void bad_values_are_refused_naming_the_setting(void) {
    static const struct {
        const char *flag, *value, *named;
    } cases[] = {
        {"--port", "65536", "--port"},
        {"--port", "-1", "--port"},
        {"--port", "80x", "--port"},
        {"--port", "", "--port"},
        {"--cache-scope", "Global", "--cache-scope"},
        {"--maxsize", "-3", "--maxsize"},
        {"--maxsize", "nonee", "--maxsize"},
        {"--delay-ms", "10001", "--delay-ms"},
        {"--bind", "localhost", "--bind"},
        {"--threads", "0", "--threads"},
        {"--instance-bytes", "1e3", "--instance-bytes"},
        {"--max-body-bytes", "1", "--max-body-bytes"},
        {"--timeout-s", "0", "--timeout-s"},
        {"--cache-scope", "weakref", "--cache-scope"},
        {"--ttl-s", "0", "--ttl-s"},
        {"--ttl-s", "-1", "--ttl-s"},
        {"--ttl-s", "1e3", "--ttl-s"},
        {"--ttl-s", ".5", "--ttl-s"},
        {"--ttl-s", "2.", "--ttl-s"},
        {"--ttl-s", "0.0001", "--ttl-s"},
        {"--ttl-s", "0.0000000001", "--ttl-s"},
        {"--ttl-s", "nan", "--ttl-s"},
        {"--ttl-s", "inf", "--ttl-s"},
        {"--ttl-s", "2s", "--ttl-s"},
        {"--ttl-s", "99999999999999999999", "--ttl-s"},
        {"--ttl-s", "", "--ttl-s"},
        {"--maxbytes", "0", "--maxbytes"},
        {"--maxbytes", "-1", "--maxbytes"},
        {"--maxbytes", "64MB", "--maxbytes"},
        {"--maxbytes", "64 MiB", "--maxbytes"},
        {"--maxbytes", "MiB", "--maxbytes"},
        {"--maxbytes", "1.5", "--maxbytes"},
        {"--maxbytes", "1.5GiB", "--maxbytes"},
        {"--maxbytes", "1e6", "--maxbytes"},
        {"--maxbytes", "9999999TiB", "--maxbytes"},
        {"--maxbytes", "", "--maxbytes"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config c;
        const char *argv[] = {"memoscope", cases[i].flag, cases[i].value, NULL};
        CHECK(parse(&c, argv) == CONFIG_ERROR);
        if (!strstr(err_buf, cases[i].named))
            fprintf(stderr, "  message does not name %s: %s", cases[i].named, err_buf);
        CHECK(strstr(err_buf, cases[i].named) != NULL);
    }
    setenv("MEMOSCOPE_DELAY_MS", "soon", 1);
    config c;
    const char *argv[] = {"memoscope", NULL};
    CHECK(parse(&c, argv) == CONFIG_ERROR);
    CHECK(strstr(err_buf, "MEMOSCOPE_DELAY_MS") != NULL);
    unsetenv("MEMOSCOPE_DELAY_MS");
}

static void ttl_takes_seconds_with_fractions_or_none(void) {
    static const struct {
        const char *value;
        uint64_t ns;
        const char *text;
    } cases[] = {
        {"2", 2000000000ull, "2"},
        {"0.25", 250000000ull, "0.25"},
        {"0.001", 1000000ull, "0.001"},
        {"1.000000001", 1000000001ull, "1.000000001"},
        {"86400", 86400000000000ull, "86400"},
        {"none", CONFIG_TTL_NONE, "none"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config c;
        const char *argv[] = {"memoscope", "--cache-scope", "global",
                              "--ttl-s",   cases[i].value,  NULL};
        CHECK(parse(&c, argv) == CONFIG_OK);
        CHECK(c.ttl_ns == cases[i].ns);
        char buf[CONFIG_TTL_LEN];
        CHECK(strcmp(configTtlText(c.ttl_ns, "none", buf), cases[i].text) == 0);
    }
    config c;
    const char *argv[] = {"memoscope", NULL};
    CHECK(parse(&c, argv) == CONFIG_OK);
    CHECK(c.ttl_ns == CONFIG_TTL_NONE);
    setenv("MEMOSCOPE_TTL_S", "1.5", 1);
    CHECK(parse(&c, argv) == CONFIG_OK);
    CHECK(c.ttl_ns == 1500000000ull);
    unsetenv("MEMOSCOPE_TTL_S");
}

static void maxbytes_takes_suffixes_or_none(void) {
    static const struct {
        const char *value;
        uint64_t bytes;
    } cases[] = {
        {"4096", 4096},       {"1", 1},
        {"100B", 100},        {"64KiB", 64ull << 10},
        {"8MiB", 8ull << 20}, {"8mib", 8ull << 20},
        {"3GiB", 3ull << 30}, {"2TiB", 2ull << 40},
        {"64m", 64ull << 20}, {"2K", 2048},
        {"3g", 3ull << 30},   {"1t", 1ull << 40},
        {"512B", 512},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 0;
        CHECK(configParseBytes(cases[i].value, &v));
        CHECK_EQ(v, cases[i].bytes);
        config c;
        const char *argv[] = {"memoscope", "--maxbytes", cases[i].value, NULL};
        CHECK(parse(&c, argv) == CONFIG_OK);
        CHECK_EQ(c.maxbytes, cases[i].bytes);
    }
    config c;
    const char *none[] = {"memoscope", "--maxbytes", "none", NULL};
    CHECK(parse(&c, none) == CONFIG_OK);
    CHECK(c.maxbytes == CONFIG_MAXBYTES_NONE);
    const char *dflt[] = {"memoscope", NULL};
    CHECK(parse(&c, dflt) == CONFIG_OK);
    CHECK(c.maxbytes == CONFIG_MAXBYTES_NONE);
    setenv("MEMOSCOPE_MAXBYTES", "1MiB", 1);
    CHECK(parse(&c, dflt) == CONFIG_OK);
    CHECK_EQ(c.maxbytes, 1 << 20);
    unsetenv("MEMOSCOPE_MAXBYTES");
}

static void weak_is_a_scope(void) {
    config c;
    const char *argv[] = {"memoscope", "--cache-scope", "weak", NULL};
    CHECK(parse(&c, argv) == CONFIG_OK);
    CHECK(c.scope == SCOPE_WEAK);
    CHECK(strcmp(configScopeName(c.scope), "weak") == 0);
}

/* A bound for a cache that does not exist, or stores nothing, is refused
 * with the reason, whichever way it was given. */
static void bounds_without_a_cache_are_refused_saying_why(void) {
    static const struct {
        const char *argv[8];
        const char *named, *why;
    } cases[] = {
        {{"memoscope", "--cache-scope", "off", "--ttl-s", "2"}, "--ttl-s", "off"},
        {{"memoscope", "--cache-scope", "off", "--maxbytes", "8MiB"}, "--maxbytes", "off"},
        {{"memoscope", "--maxsize", "0", "--ttl-s", "2"}, "--ttl-s", "--maxsize 0"},
        {{"memoscope", "--maxsize", "0", "--maxbytes", "1KiB"}, "--maxbytes", "--maxsize 0"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config c;
        const char **argv = (const char **)cases[i].argv; /* NULL-terminated by the zeroes */
        CHECK(parse(&c, argv) == CONFIG_ERROR);
        CHECK(strstr(err_buf, cases[i].named) != NULL);
        CHECK(strstr(err_buf, "no meaning") != NULL);
        CHECK(strstr(err_buf, cases[i].why) != NULL);
    }
    /* From the environment too, and "none" is always fine. */
    setenv("MEMOSCOPE_TTL_S", "2", 1);
    config c;
    const char *off[] = {"memoscope", "--cache-scope", "off", NULL};
    CHECK(parse(&c, off) == CONFIG_ERROR);
    CHECK(strstr(err_buf, "MEMOSCOPE_TTL_S") != NULL);
    unsetenv("MEMOSCOPE_TTL_S");
    const char *off_none[] = {"memoscope", "--cache-scope", "off",  "--ttl-s",
                              "none",      "--maxbytes",    "none", NULL};
    CHECK(parse(&c, off_none) == CONFIG_OK);
    /* Every scope with a cache takes both. */
    static const char *const scopes[] = {"global", "local", "shared", "weak"};
    for (size_t i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
        const char *argv[] = {"memoscope", "--cache-scope", scopes[i], "--ttl-s",
                              "0.5",       "--maxbytes",    "1MiB",    NULL};
        CHECK(parse(&c, argv) == CONFIG_OK);
    }
}

static void unknown_flags_and_missing_values_are_errors(void) {
    config c;
    const char *unknown[] = {"memoscope", "--colour", "red", NULL};
    CHECK(parse(&c, unknown) == CONFIG_ERROR);
    CHECK(strstr(err_buf, "--colour") != NULL);
    const char *missing[] = {"memoscope", "--port", NULL};
    CHECK(parse(&c, missing) == CONFIG_ERROR);
    const char *stray[] = {"memoscope", "global", NULL};
    CHECK(parse(&c, stray) == CONFIG_ERROR);
}

static void help_lists_every_setting_and_version_prints_it(void) {
    config c;
    const char *help[] = {"memoscope", "--help", NULL};
    CHECK(parse(&c, help) == CONFIG_EXIT);
    static const char *const names[] = {
        "--port",
        "MEMOSCOPE_PORT",
        "--bind",
        "MEMOSCOPE_BIND",
        "--cache-scope",
        "MEMOSCOPE_CACHE_SCOPE",
        "--maxsize",
        "MEMOSCOPE_MAXSIZE",
        "--delay-ms",
        "MEMOSCOPE_DELAY_MS",
        "--instance-bytes",
        "MEMOSCOPE_INSTANCE_BYTES",
        "--threads",
        "MEMOSCOPE_THREADS",
        "--max-body-bytes",
        "MEMOSCOPE_MAX_BODY_BYTES",
        "--version",
        "default: 8080",
        "--ttl-s",
        "MEMOSCOPE_TTL_S",
        "--maxbytes",
        "MEMOSCOPE_MAXBYTES",
        "weak",
        "--probe [PATH]",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        CHECK(strstr(out_buf, names[i]) != NULL);
    const char *version[] = {"memoscope", "--version", NULL};
    CHECK(parse(&c, version) == CONFIG_EXIT);
    CHECK(strcmp(out_buf, "memoscope " MEMOSCOPE_VERSION "\n") == 0);
}

static void probe_takes_an_optional_path_and_the_servers_port(void) {
    config c;
    const char *plain[] = {"memoscope", "--probe", NULL};
    CHECK(parse(&c, plain) == CONFIG_PROBE); /* main asks, and serves nothing */
    CHECK_STR_EQ(c.probe_path, "/healthz");
    CHECK_EQ(c.port, 8080);
    const char *path_then_port[] = {"memoscope", "--probe", "/stats", "--port", "9000", NULL};
    CHECK(parse(&c, path_then_port) == CONFIG_PROBE);
    CHECK_STR_EQ(c.probe_path, "/stats");
    CHECK_EQ(c.port, 9000);
    const char *port_then_probe[] = {"memoscope", "--port", "9001", "--probe=/readyz", NULL};
    CHECK(parse(&c, port_then_probe) == CONFIG_PROBE);
    CHECK_STR_EQ(c.probe_path, "/readyz");
    CHECK_EQ(c.port, 9001);
    const char *flag_after[] = {"memoscope", "--probe", "--port", "9002", NULL};
    CHECK(parse(&c, flag_after) == CONFIG_PROBE); /* a flag is not the path */
    CHECK_STR_EQ(c.probe_path, "/healthz");
    CHECK_EQ(c.port, 9002);
    const char *serve[] = {"memoscope", NULL};
    CHECK(parse(&c, serve) == CONFIG_OK);
    CHECK(c.probe_path == NULL);
    const char *spaced[] = {"memoscope", "--probe=/a b", NULL};
    CHECK(parse(&c, spaced) == CONFIG_ERROR);
    CHECK(strstr(err_buf, "bad --probe '/a b'") != NULL);
    const char *crlf[] = {"memoscope", "--probe=/a\r\nX-Injected: 1", NULL};
    CHECK(parse(&c, crlf) == CONFIG_ERROR); /* nothing can end the request line */
    const char *relative[] = {"memoscope", "--probe", "healthz", NULL};
    CHECK(parse(&c, relative) == CONFIG_ERROR);
}

static void help_and_version_work_despite_a_bad_variable(void) {
    setenv("MEMOSCOPE_THREADS", "0", 1);
    config c;
    const char *help[] = {"memoscope", "--help", NULL};
    CHECK(parse(&c, help) == CONFIG_EXIT); /* main exits 0 on CONFIG_EXIT */
    CHECK(strstr(out_buf, "usage: memoscope") != NULL);
    CHECK(strstr(err_buf, "MEMOSCOPE_THREADS") != NULL); /* and says what is wrong */
    const char *version[] = {"memoscope", "--version", NULL};
    CHECK(parse(&c, version) == CONFIG_EXIT);
    const char *none[] = {"memoscope", NULL};
    CHECK(parse(&c, none) == CONFIG_ERROR); /* without them, still refused */
    const char *flag_after[] = {"memoscope", "--port", "9000", NULL};
    CHECK(parse(&c, flag_after) == CONFIG_ERROR);
    unsetenv("MEMOSCOPE_THREADS");
}

int main(void) {
    static const checkTest tests[] = {
        TEST(defaults_are_the_contracts),
        TEST(flags_in_both_forms),
        TEST(environment_is_read_and_the_flag_wins),
        TEST(bad_values_are_refused_naming_the_setting),
        TEST(ttl_takes_seconds_with_fractions_or_none),
        TEST(maxbytes_takes_suffixes_or_none),
        TEST(weak_is_a_scope),
        TEST(bounds_without_a_cache_are_refused_saying_why),
        TEST(unknown_flags_and_missing_values_are_errors),
        TEST(help_lists_every_setting_and_version_prints_it),
        TEST(probe_takes_an_optional_path_and_the_servers_port),
        TEST(help_and_version_work_despite_a_bad_variable),
    };
    return checkMain(tests, sizeof(tests) / sizeof(tests[0]));
}
