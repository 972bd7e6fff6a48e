/* test_redis_config.c -- the cache backend settings, Redis URLs,
 * and the settings that have no meaning with the backend chosen. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "memo.h"
#include "redis_client.h"
#include "resp.h"

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
        {"--redis-prefix", "a b"},
        {"--redis-prefix", "a\tb"},
        {"--redis-prefix", "a\x01"},
        {"--replica", "a\"b"},
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
    CHECK_STR_EQ(out, "redis://u:***@h:6379/0");
    rcliRedactUrl("redis://h:6379/0", out, sizeof(out));
    CHECK_STR_EQ(out, "redis://h:6379/0");
    rcliRedactUrl("unix:///run/r.sock", out, sizeof(out));
    CHECK_STR_EQ(out, "unix:///run/r.sock");
    rcliRedactUrl("redis://[::1]:7000/2", out, sizeof(out));
    CHECK_STR_EQ(out, "redis://[::1]:7000/2");
    rcliRedactUrl("redis://us%20er:pw@h", out, sizeof(out));
    CHECK_STR_EQ(out, "redis://us%20er:***@h:6379/0"); /* a user name shown encoded */
}

/* Passwords as generators and people write them: each with the characters
 * a URL gives a meaning to. Raw, they parse with the last '@' ending the
 * credentials; percent-encoded, they are decoded. */
static const struct {
    const char *written, *password;
} special[] = {
    {"S3cr/et", "S3cr/et"},       {"S3cr%2Fet", "S3cr/et"}, {"p@ss@w0rd", "p@ss@w0rd"},
    {"p%40ss", "p@ss"},           {"a:b:c", "a:b:c"},       {"sp ace d", "sp ace d"},
    {"sp%20ace", "sp ace"},       {"100%25off", "100%off"}, {"x/y@z:w%25 q", "x/y@z:w% q"},
    {"%2F%3F%23%5B%5D", "/?#[]"},
};

/* Does text hold the password, or any 4-byte piece of it? A redaction that
 * cut the URL at the wrong '/' or '@' leaves a piece. */
static bool leaks(const char *text, const char *password) {
    size_t n = strlen(password);
    if (n < 4)
        return strstr(text, password) != NULL;
    for (size_t i = 0; i + 4 <= n; i++) {
        char piece[5];
        memcpy(piece, password + i, 4);
        piece[4] = '\0';
        if (strchr(piece, ' ') == NULL && strstr(text, piece))
            return true;
    }
    return false;
}

static void passwords_with_special_characters_parse_and_never_show(void) {
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
        char url[RCLI_URL_LEN], err[128], shown[RCLI_URL_LEN];
        snprintf(url, sizeof(url), "redis://:%s@h.example:7000/3", special[i].written);
        checkContext("%s", url);
        rcliTarget t;
        CHECK(rcliParseUrl(url, &t, err, sizeof(err)));
        CHECK_STR_EQ(t.password, special[i].password);
        CHECK_STR_EQ(t.host, "h.example");
        CHECK_EQ(t.port, 7000);
        CHECK_EQ(t.db, 3);
        rcliRedactUrl(url, shown, sizeof(shown));
        CHECK_STR_EQ(shown, "redis://:***@h.example:7000/3");

        config c;
        const char *argv[] = {"memoscope", "--cache-backend", "redis", "--redis-url", url, NULL};
        CHECK(parse(&c, argv) == CONFIG_OK);
        char line[1024] = "";
        FILE *f = fmemopen(line, sizeof(line) - 1, "w");
        configDescribe(&c, 8080, f);
        fclose(f);
        CHECK(strstr(line, "redis_url=redis://:***@h.example:7000/3 ") != NULL);
        CHECK(!leaks(line, special[i].password));
        CHECK(!leaks(line, special[i].written));
        CHECK(!leaks(err_buf, special[i].password));
    }
    checkContext(NULL);
}

/* A URL that fails to parse is never shown, not a piece of it: the error
 * names the part that is wrong. */
static void bad_urls_name_the_wrong_part_and_never_show_the_password(void) {
    static const struct {
        const char *fmt, *part;
    } bad[] = {
        {"redis://:%s@host:63x79/0", "the port is not a number"},
        {"redis://:%s@host:0/0", "the port is not a number"},
        {"redis://:%s@host:6379/zero", "the database"},
        {"redis://:%s@ho st:6379/0", "the host"},
        {"redis://:%s@ho\"st:6379/0", "the host"},
        {"redis://:%s@:6379/0", "names no host"},
        {"redis://:%s@", "names no host"},
        {"redis://:%s%%zz@host:6379/0", "the password has a '%' not followed by two hex digits"},
        {"redis://:%s%%@host:6379/0", "the password has a '%'"},
        {"redis://:%s%%00@host:6379/0", "the password holds %00"},
        {"redis://justauser@host:6379/0", "must be :password or user:password"},
        {"redis://us%%zz:%s@host/0", "the user name has a '%'"},
        {"http://:%s@host:6379/0", "must start with redis:// or unix://"},
        {"rediss://:%s@host:6379/0", "TLS"},
        {"redis://:%s@[::1/0", "IPv6"},
        {"redis://:%s@host:6379/0?x=1", "the database"},
    };
    for (size_t k = 0; k < sizeof(special) / sizeof(special[0]); k++) {
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            char url[RCLI_URL_LEN], shown[RCLI_URL_LEN];
            snprintf(url, sizeof(url), bad[i].fmt, special[k].written, special[k].written);
            checkContext("%s", url);
            config c;
            const char *argv[] = {"memoscope", "--cache-backend", "redis", "--redis-url", url,
                                  NULL};
            CHECK(parse(&c, argv) == CONFIG_ERROR);
            CHECK(strstr(err_buf, "bad --redis-url: ") != NULL);
            CHECK(strstr(err_buf, bad[i].part) != NULL);
            CHECK(!leaks(err_buf, special[k].password));
            CHECK(!leaks(err_buf, special[k].written));
            rcliRedactUrl(url, shown, sizeof(shown));
            CHECK_STR_EQ(shown, "(not a valid URL)");
            rcliTarget t;
            char err[128];
            CHECK(!rcliParseUrl(url, &t, err, sizeof(err)));
            CHECK_STR_EQ(t.password, ""); /* nothing of a refused URL kept */
        }
        /* the same from the environment, and a misspelt flag with '=' */
        char env[RCLI_URL_LEN], flag[RCLI_URL_LEN + 16];
        snprintf(env, sizeof(env), "redis://:%s@host:99999/0", special[k].written);
        checkContext("MEMOSCOPE_REDIS_URL=%s", env);
        setenv("MEMOSCOPE_REDIS_URL", env, 1);
        const char *argv[] = {"memoscope", "--cache-backend", "redis", NULL};
        config c;
        CHECK(parse(&c, argv) == CONFIG_ERROR);
        CHECK(strstr(err_buf, "bad MEMOSCOPE_REDIS_URL: the port") != NULL);
        CHECK(!leaks(err_buf, special[k].password));
        unsetenv("MEMOSCOPE_REDIS_URL");
        snprintf(flag, sizeof(flag), "--redis-ur=redis://:%s@host/0", special[k].written);
        const char *typo[] = {"memoscope", flag, NULL};
        CHECK(parse(&c, typo) == CONFIG_ERROR);
        CHECK(strstr(err_buf, "unknown flag '--redis-ur'") != NULL);
        CHECK(!leaks(err_buf, special[k].password));
        /* an unquoted password with a space leaves a stray word */
        const char *stray[] = {"memoscope",   "--cache-backend",    "redis", "--redis-url",
                               "redis://:pw", "secret-word@host/0", NULL};
        CHECK(parse(&c, stray) == CONFIG_ERROR);
        CHECK(strstr(err_buf, "secret") == NULL);
    }
    checkContext(NULL);
}

/* Configured strings written into the startup line cannot forge a field:
 * a value with '"', '\\', '=' or a space is quoted and escaped. */
static void the_startup_line_quotes_what_could_forge_a_field(void) {
    config c;
    const char *argv[] = {"memoscope",      "--cache-backend", "redis",
                          "--redis-prefix", "a\"b\\c=d",       NULL};
    CHECK(parse(&c, argv) == CONFIG_OK);
    CHECK_STR_EQ(c.redis_prefix, "a\"b\\c=d");
    char line[1024] = "";
    FILE *f = fmemopen(line, sizeof(line) - 1, "w");
    configDescribe(&c, 8080, f);
    fclose(f);
    CHECK(strstr(line, " redis_prefix=\"a\\\"b\\\\c=d\" replica=") != NULL);
    const char *plain[] = {"memoscope", "--cache-backend", "redis", "--redis-prefix", "app:", NULL};
    CHECK(parse(&c, plain) == CONFIG_OK);
    f = fmemopen(line, sizeof(line) - 1, "w");
    configDescribe(&c, 8080, f);
    fclose(f);
    CHECK(strstr(line, " redis_prefix=app: replica=") != NULL);
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

/* ------------------------------------------------ the handshake's commands */

static void noReply(void *ctx, const struct redisReply *reply) {
    (void)ctx;
    (void)reply;
}

/* rcliNodeMake, failing the call numbered fail_at (from 0; -1: none). */
static int make_calls, fail_at = -1;
static rcliNode *makeOrFail(rcliDone done, void *ctx, uint64_t deadline, int argc,
                            const char *const *argv, const size_t *lens) {
    return make_calls++ == fail_at ? NULL : rcliNodeMake(done, ctx, deadline, argc, argv, lens);
}

static bool holds(const rcliNode *n, const char *resp) {
    return n->len == strlen(resp) && memcmp(n->cmd, resp, n->len) == 0;
}

static void the_handshake_is_made_whole_or_not_at_all(void) {
    rcliTarget t;
    char err[128];
    REQUIRE(rcliParseUrl("redis://u:p%2Fw@h:1/7", &t, err, sizeof(err)));
    rcliNode *n[RCLI_HANDSHAKE_MAX];
    make_calls = 0;
    fail_at = -1;
    REQUIRE(rcliHandshakeMake(&t, noReply, noReply, 0, makeOrFail, n) == 3);
    CHECK(holds(n[0], "*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$3\r\np/w\r\n"));
    CHECK(holds(n[1], "*2\r\n$6\r\nSELECT\r\n$1\r\n7\r\n"));
    CHECK(holds(n[2], "*1\r\n$4\r\nPING\r\n"));
    for (int i = 0; i < 3; i++)
        free(n[i]);
    /* Out of memory at AUTH, SELECT or PING: no command at all, so that the
     * connection fails and is retried, never opened without its AUTH or
     * SELECT (a skipped SELECT writes into database 0). */
    for (int at = 0; at < 3; at++) {
        checkContext("allocation %d fails", at);
        make_calls = 0;
        fail_at = at;
        CHECK_EQ(rcliHandshakeMake(&t, noReply, noReply, 0, makeOrFail, n), 0);
    }
    checkContext(NULL);
    /* No password, database 0: PING alone. */
    REQUIRE(rcliParseUrl("redis://h", &t, err, sizeof(err)));
    make_calls = 0;
    fail_at = -1;
    REQUIRE(rcliHandshakeMake(&t, noReply, noReply, 0, makeOrFail, n) == 1);
    CHECK(holds(n[0], "*1\r\n$4\r\nPING\r\n"));
    free(n[0]);
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
        TEST(passwords_with_special_characters_parse_and_never_show),
        TEST(bad_urls_name_the_wrong_part_and_never_show_the_password),
        TEST(the_startup_line_quotes_what_could_forge_a_field),
        TEST(the_handshake_is_made_whole_or_not_at_all),
    };
    return checkMain(tests, sizeof(tests) / sizeof(tests[0]));
}
