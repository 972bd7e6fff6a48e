/* test_redis_config.c -- issue 12: the cache backend settings, Redis URLs,
 * and the settings that have no meaning with the backend chosen. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "memo.h"
#include "redis_client.h"

#include "config_parse.h"

static void defaults_keep_memory_and_name_the_replica(void) {
    config c;
    const char *argv[] = {"memoscope", NULL};
    CHECK(parse(&c, argv) == CONFIG_OK);
    CHECK(c.backend == BACKEND_MEMORY);
    CHECK(strcmp(c.redis_url, "redis://127.0.0.1:6379/0") == 0);
    CHECK(strcmp(c.redis_prefix, "memoscope:") == 0);
    CHECK(c.replica[0] != '\0');
    CHECK_EQ(c.maxsize, 128);
    CHECK(!configUsesRedis(&c));
}

static void redis_takes_global_and_shared_unbounded(void) {
    config c;
    const char *argv[] = {"memoscope",
                          "--cache-backend",
                          "redis",
                          "--cache-scope",
                          "shared",
                          "--redis-url",
                          "redis://127.0.0.1:7001/2",
                          "--redis-prefix",
                          "x:",
                          "--replica",
                          "r-1.a_b",
                          NULL};
    CHECK(parse(&c, argv) == CONFIG_OK);
    CHECK(configUsesRedis(&c));
    CHECK(c.maxsize == MEMO_UNBOUNDED);
    CHECK(strcmp(c.redis_prefix, "x:") == 0);
    CHECK(strcmp(c.replica, "r-1.a_b") == 0);
    const char *none[] = {"memoscope", "--cache-backend=redis", "--cache-scope=global",
                          "--maxsize=none", NULL};
    CHECK(parse(&c, none) == CONFIG_OK);
    /* local and off keep their caches in the process: maxsize still means something */
    const char *local[] = {"memoscope", "--cache-backend=redis", "--cache-scope=local",
                           "--maxsize=10", NULL};
    CHECK(parse(&c, local) == CONFIG_OK);
    CHECK(!configUsesRedis(&c));
    CHECK_EQ(c.maxsize, 10);
}

static void meaningless_settings_exit_saying_why(void) {
    config c;
    const char *maxsize[] = {"memoscope", "--cache-backend", "redis", "--cache-scope",
                             "shared",    "--maxsize",       "10",    NULL};
    CHECK(parse(&c, maxsize) == CONFIG_ERROR);
    CHECK(strstr(err_buf, "--maxsize 10 has no meaning with --cache-backend redis") != NULL);
    const char *url[] = {"memoscope", "--redis-url", "redis://h:1/0", NULL};
    CHECK(parse(&c, url) == CONFIG_ERROR);
    CHECK(strstr(err_buf, "--redis-url has no meaning with --cache-backend memory") != NULL);
    const char *prefix[] = {"memoscope", "--redis-prefix", "p:", NULL};
    CHECK(parse(&c, prefix) == CONFIG_ERROR);
    CHECK(strstr(err_buf, "--redis-prefix") != NULL);
    setenv("MEMOSCOPE_MAXSIZE", "64", 1);
    setenv("MEMOSCOPE_CACHE_BACKEND", "redis", 1);
    const char *env[] = {"memoscope", "--cache-scope", "global", NULL};
    CHECK(parse(&c, env) == CONFIG_ERROR);
    unsetenv("MEMOSCOPE_MAXSIZE");
    unsetenv("MEMOSCOPE_CACHE_BACKEND");
}

static void bad_values_are_refused_and_hide_the_password(void) {
    static const char *const bad[][2] = {
        {"--cache-backend", "disk"},
        {"--redis-url", "http://:pw-secret@h:1/0"},
        {"--redis-url", "redis://:pw-secret@h:0/0"},
        {"--redis-url", "redis://:pw-secret@h:70000/0"},
        {"--redis-url", "redis://:pw-secret@h:1/x"},
        {"--redis-url", "redis://:pw-secret@"},
        {"--redis-url", "unix://relative/path"},
        {"--redis-prefix", "a*"},
        {"--redis-prefix", "a b"},
        {"--redis-prefix", ""},
        {"--replica", "a b"},
        {"--replica", "a:b"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        config c;
        const char *argv[] = {"memoscope", "--cache-backend", "redis", bad[i][0], bad[i][1], NULL};
        checkContext("%s %s", bad[i][0], bad[i][1]);
        CHECK(parse(&c, argv) == CONFIG_ERROR);
        CHECK(strstr(err_buf, bad[i][0]) != NULL);
        CHECK(strstr(err_buf, "pw-secret") == NULL);
    }
    checkContext(NULL);
}

static void urls_parse_into_their_parts(void) {
    rcliTarget t;
    char err[128];
    CHECK(rcliParseUrl("redis://:p@ss@h.example:7000/3", &t, err, sizeof(err)));
    CHECK(!t.unix_socket && strcmp(t.host, "h.example") == 0 && t.port == 7000 && t.db == 3);
    CHECK(strcmp(t.password, "p@ss") == 0 && t.user[0] == '\0');
    CHECK(rcliParseUrl("redis://u:pw@h", &t, err, sizeof(err)));
    CHECK(strcmp(t.user, "u") == 0 && strcmp(t.password, "pw") == 0 && t.port == 6379);
    CHECK(t.db == 0);
    CHECK(rcliParseUrl("unix:///run/redis.sock?db=2", &t, err, sizeof(err)));
    CHECK(t.unix_socket && strcmp(t.host, "/run/redis.sock") == 0 && t.db == 2);
    CHECK(!rcliParseUrl("unix:///s?x=1", &t, err, sizeof(err)));
}

static void redaction_hides_only_the_password(void) {
    char out[RCLI_URL_LEN];
    rcliRedactUrl("redis://:pw@h:1/0", out, sizeof(out));
    CHECK(strcmp(out, "redis://:***@h:1/0") == 0);
    rcliRedactUrl("redis://u:p@w@h/0", out, sizeof(out));
    CHECK(strcmp(out, "redis://u:***@h/0") == 0);
    rcliRedactUrl("redis://h:6379/0", out, sizeof(out));
    CHECK(strcmp(out, "redis://h:6379/0") == 0);
    rcliRedactUrl("unix:///run/r.sock", out, sizeof(out));
    CHECK(strcmp(out, "unix:///run/r.sock") == 0);
}

static void the_startup_line_shows_the_backend_not_the_password(void) {
    config c;
    const char *argv[] = {"memoscope",   "--cache-backend",          "redis",
                          "--redis-url", "redis://:pw-secret@h:1/0", NULL};
    CHECK(parse(&c, argv) == CONFIG_OK);
    char line[1024] = "";
    FILE *f = fmemopen(line, sizeof(line) - 1, "w");
    configDescribe(&c, 8080, f);
    fclose(f);
    CHECK(strstr(line, "cache_backend=redis redis_url=redis://:***@h:1/0") != NULL);
    CHECK(strstr(line, "pw-secret") == NULL);
}

int main(void) {
    static const checkTest tests[] = {
        TEST(defaults_keep_memory_and_name_the_replica),
        TEST(redis_takes_global_and_shared_unbounded),
        TEST(meaningless_settings_exit_saying_why),
        TEST(bad_values_are_refused_and_hide_the_password),
        TEST(urls_parse_into_their_parts),
        TEST(redaction_hides_only_the_password),
        TEST(the_startup_line_shows_the_backend_not_the_password),
    };
    return checkMain(tests, sizeof(tests) / sizeof(tests[0]));
}
