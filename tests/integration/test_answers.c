/* test_answers.c -- what every answer has in common, against the real
 * binary: each ends with a newline (two curls print on two lines). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define STOP_MS 15000

/* Does the body end with exactly one newline, after the JSON or text? */
static bool endsWithNewline(const reply *r) {
    return r->len >= 2 && r->body[r->len - 1] == '\n' && r->body[r->len - 2] != '\n';
}

static void every_answer_ends_with_a_newline(void) {
    static const struct {
        const char *method, *path, *body;
        long status;
    } cases[] = {
        {"POST", "/calculate", "{\"a\": 1, \"b\": 2}", 200},
        {"POST", "/calculate", "{\"calls\": [{\"a\": 1, \"b\": 2}, {\"a\": 3, \"b\": 4}]}", 200},
        {"POST", "/calculate", "not json", 400},
        {"POST", "/calculate",
         "{\"a\": 1, \"b\": 2, \"pad\": \"" /* over the limit */
         "0123456789012345678901234567890123456789"
         "0123456789012345678901234567890123456789\"}",
         413},
        {"GET", "/calculate", NULL, 405},
        {"GET", "/nope", NULL, 404},
        {"GET", "/stats", NULL, 200},
        {"GET", "/metrics", NULL, 200},
        {"GET", "/cache", NULL, 200},
        {"DELETE", "/cache", NULL, 200},
        {"GET", "/healthz", NULL, 200},
        {"GET", "/", NULL, 200},
    };
    const char *const args[] = {"--delay-ms", "0", "--max-body-bytes", "64", NULL};
    server s;
    CHECK(serverStart(&s, args));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reply r = httpDo(&s, cases[i].method, cases[i].path, cases[i].body);
        CHECK_EQ(r.status, cases[i].status);
        if (!endsWithNewline(&r))
            fprintf(stderr, "  %s %s: answer does not end with one newline: %s\n", cases[i].method,
                    cases[i].path, r.body);
        CHECK(endsWithNewline(&r));
        replyFree(&r);
    }
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

int main(void) {
    static const harnessTest tests[] = {
        TEST(every_answer_ends_with_a_newline),
    };
    return harnessMain(tests, sizeof(tests) / sizeof(tests[0]));
}
