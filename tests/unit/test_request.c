/* test_request.c -- the POST /calculate body parser (server/routes/calculate_body.h),
 * specified by example, without a server: what it accepts and fills in,
 * and what it refuses with which words. (test_badinput.c checks the same
 * refusals end to end, as 400 answers that change nothing.)
 */
#include "calculate_body.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check.h"

#define CJSON_LEVELS CJSON_NESTING_LIMIT

/* Parses a NUL-terminated body; on refusal err holds the message. */
static bool parse(const char *body, requestBody *out, char err[REQUEST_ERR_LEN]) {
    err[0] = '\0';
    return requestParse(body, strlen(body), out, err);
}

/* Is the body refused with a message that says fragment? */
static bool refused(const char *body, const char *fragment) {
    requestBody req;
    char err[REQUEST_ERR_LEN];
    if (parse(body, &req, err)) {
        fprintf(stderr, "  accepted: %s\n", body);
        return false;
    }
    if (!strstr(err, fragment)) {
        fprintf(stderr, "  %s: message \"%s\" does not say \"%s\"\n", body, err, fragment);
        return false;
    }
    return true;
}

/* --------------------------------------------------------------- accepted */

static void one_call(void) {
    requestBody req;
    char err[REQUEST_ERR_LEN];
    REQUIRE(parse("{\"a\": 1, \"b\": -2}", &req, err));
    CHECK_UINT_EQ(req.ncalls, 1);
    CHECK(!req.batch);
    CHECK(!req.has_delay);
    CHECK_EQ(req.calls[0].a, 1);
    CHECK_EQ(req.calls[0].b, -2);
}

static void one_call_with_a_delay(void) {
    requestBody req;
    char err[REQUEST_ERR_LEN];
    REQUIRE(parse("{\"delay_ms\": 250, \"b\": 0, \"a\": 7}", &req, err));
    CHECK(req.has_delay);
    CHECK_UINT_EQ(req.delay_ms, 250);
    CHECK_EQ(req.calls[0].a, 7);
    CHECK_EQ(req.calls[0].b, 0);
}

static void a_batch_keeps_its_order(void) {
    requestBody req;
    char err[REQUEST_ERR_LEN];
    REQUIRE(parse("{\"calls\": [{\"a\": 1, \"b\": 2}, {\"b\": 4, \"a\": 3}, {\"a\": 1, \"b\": 2}],"
                  " \"delay_ms\": 0}",
                  &req, err));
    CHECK(req.batch);
    CHECK(req.has_delay);
    CHECK_UINT_EQ(req.delay_ms, 0);
    REQUIRE_UINT_EQ(req.ncalls, 3);
    CHECK_EQ(req.calls[1].a, 3);
    CHECK_EQ(req.calls[1].b, 4);
    CHECK_EQ(req.calls[2].a, 1);
}

static void the_limits_themselves_are_accepted(void) {
    requestBody req;
    char err[REQUEST_ERR_LEN];
    REQUIRE(parse("{\"a\": 9007199254740991, \"b\": -9007199254740991, \"delay_ms\": 10000}", &req,
                  err));
    CHECK_EQ(req.calls[0].a, REQUEST_MAX_INT);
    CHECK_EQ(req.calls[0].b, -REQUEST_MAX_INT);
    CHECK_UINT_EQ(req.delay_ms, REQUEST_MAX_DELAY_MS);

    char batch[REQUEST_MAX_CALLS * 24 + 32];
    size_t n = (size_t)snprintf(batch, sizeof(batch), "{\"calls\":[");
    for (int i = 0; i < REQUEST_MAX_CALLS; i++)
        n += (size_t)snprintf(batch + n, sizeof(batch) - n, "%s{\"a\":%d,\"b\":-%d}", i ? "," : "",
                              i, i);
    snprintf(batch + n, sizeof(batch) - n, "]}");
    REQUIRE(parse(batch, &req, err));
    CHECK_UINT_EQ(req.ncalls, REQUEST_MAX_CALLS);
    CHECK_EQ(req.calls[REQUEST_MAX_CALLS - 1].a, REQUEST_MAX_CALLS - 1);
    CHECK_EQ(req.calls[REQUEST_MAX_CALLS - 1].b, -(REQUEST_MAX_CALLS - 1));
}

static void json_whitespace_and_escapes_are_json(void) {
    requestBody req;
    char err[REQUEST_ERR_LEN];
    CHECK(parse(" \t\r\n{\"a\"\n:\r-0 ,\t\"b\": 5}\n", &req, err));
    CHECK_EQ(req.calls[0].a, 0);
    CHECK(parse("{\"\\u0061\": 1, \"b\": 2}", &req, err)); /* "a", escaped */
    CHECK_EQ(req.calls[0].a, 1);
    CHECK(parse("{\"a\": 1, \"b\": 2, \"delay_ms\": 0}", &req, err));
}

static void a_second_parse_forgets_the_first(void) {
    requestBody req;
    char err[REQUEST_ERR_LEN];
    REQUIRE(parse("{\"calls\": [{\"a\": 1, \"b\": 2}, {\"a\": 3, \"b\": 4}], \"delay_ms\": 9}",
                  &req, err));
    REQUIRE(parse("{\"a\": 5, \"b\": 6}", &req, err));
    CHECK(!req.batch);
    CHECK(!req.has_delay);
    CHECK_UINT_EQ(req.delay_ms, 0);
    CHECK_UINT_EQ(req.ncalls, 1);
}

/* ---------------------------------------------------------------- refused */

static void not_json(void) {
    CHECK(refused("", "empty"));
    CHECK(refused("hello", "not JSON"));
    CHECK(refused("{\"a\": 1, \"b\": 2} x", "not JSON"));
    CHECK(refused("{\"a\": 01, \"b\": 2}", "starts with 0"));
    CHECK(refused("{\"a\": 1,\x01 \"b\": 2}", "control character 0x01"));
    /* Balanced arrays deeper than cJSON's nesting limit, and just at it. */
    static char deep[2 * (CJSON_LEVELS + 1) + 1];
    memset(deep, '[', CJSON_LEVELS + 1);
    memset(deep + CJSON_LEVELS + 1, ']', CJSON_LEVELS + 1);
    CHECK(refused(deep, "nests deeper than"));
    memset(deep, '[', CJSON_LEVELS);
    memset(deep + CJSON_LEVELS, ']', CJSON_LEVELS);
    deep[2 * CJSON_LEVELS] = '\0';
    CHECK(refused(deep, "must be a JSON object")); /* parsed: the depth was allowed */
}

/* JSONTestSuite (github.com/nst/JSONTestSuite) cases that cJSON 1.7.15
 * takes and RFC 8259 does not: each as a field's value (the suite's text
 * inside the array), so that only its being JSON decides. An unknown field
 * is refused after the parse: "unknown field" means it passed for JSON. */
static void strings_json_does_not_have(void) {
    /* n_string_unescaped_tab, n_string_unescaped_newline */
    CHECK(refused("{\"a\": 1, \"b\": 2, \"x\": [\"\t\"]}", "not JSON: control character 0x09"));
    CHECK(refused("{\"a\": 1, \"b\": 2, \"x\": [\"new\nline\"]}",
                  "not JSON: control character 0x0a"));
    CHECK(refused("{\"a\": 1, \"b\": 2, \"x\": [\"\x1f\"]}", "not JSON: control character 0x1f"));
    /* n_string_invalid_unicode_escape, n_string_incomplete_escaped_character,
     * n_string_escape_x, n_string_invalid_backslash_esc, n_string_1_surrogate_then_escape_u1 */
    CHECK(refused("{\"a\": 1, \"b\": 2, \"x\": [\"\\uqqqq\"]}", "an escape JSON does not have"));
    CHECK(refused("{\"a\": 1, \"b\": 2, \"x\": [\"\\u00A\"]}", "an escape JSON does not have"));
    CHECK(refused("{\"a\": 1, \"b\": 2, \"x\": [\"\\x00\"]}", "an escape JSON does not have"));
    CHECK(refused("{\"a\": 1, \"b\": 2, \"x\": [\"\\a\"]}", "an escape JSON does not have"));
    CHECK(
        refused("{\"a\": 1, \"b\": 2, \"x\": [\"\\uD800\\u1\"]}", "an escape JSON does not have"));
    CHECK(refused("{\"a\": 1, \"b\": 2, \"x\": \"\\", "an escape JSON does not have"));
    /* lone surrogates (the suite's i_ cases): refused, first or second */
    CHECK(refused("{\"a\": 1, \"b\": 2, \"x\": [\"\\uD800\"]}", "not JSON"));
    CHECK(refused("{\"a\": 1, \"b\": 2, \"x\": [\"\\uDd1e\\uD834\"]}", "not JSON"));
    CHECK(refused("{\"a\": 1, \"b\": 2, \"x\": [\"\\uDFAA\"]}", "not JSON"));
    /* every escape RFC 8259 has, and a whole pair, pass for JSON */
    CHECK(refused("{\"a\": 1, \"b\": 2, \"x\": [\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 "
                  "\\uD834\\uDd1e\"]}",
                  "unknown field 'x'"));
    CHECK(refused("{\"a\": 1, \"b\": 2, \"x\": [\"\x7f\xc3\xa9\"]}", "unknown field 'x'"));
}

static void a_nul_byte_is_refused(void) {
    static const char body[] = "{\"a\": 1,\0 \"b\": 2}";
    requestBody req;
    char err[REQUEST_ERR_LEN];
    CHECK(!requestParse(body, sizeof(body) - 1, &req, err));
    CHECK(strstr(err, "NUL byte") != NULL);
    CHECK(refused("{\"a\": 1, \"b\": 2, \"a\\u0000\": 3}", "holds a NUL"));
}

static void the_wrong_shape(void) {
    CHECK(refused("[1, 2]", "must be a JSON object"));
    CHECK(refused("42", "must be a JSON object"));
    CHECK(refused("{}", "'a' is missing"));
    CHECK(refused("{\"a\": 1}", "'b' is missing"));
    CHECK(refused("{\"a\": \"1\", \"b\": 2}", "'a' must be an integer"));
    CHECK(refused("{\"a\": 1, \"b\": null}", "'b' must be an integer"));
    CHECK(refused("{\"a\": 1, \"b\": 2, \"c\": 3}", "unknown field 'c' in the body"));
    CHECK(refused("{\"A\": 1, \"b\": 2}", "unknown field 'A'"));
    CHECK(refused("{\"a\": 1, \"b\": 2, \"a\": 1}", "'a' appears twice in the body"));
}

static void numbers_outside_the_contract(void) {
    CHECK(refused("{\"a\": 1.0, \"b\": 2}", "without a fraction or an exponent: 1.0"));
    CHECK(refused("{\"a\": 1e2, \"b\": 2}", "without a fraction or an exponent: 1e2"));
    CHECK(refused("{\"a\": 9007199254740992, \"b\": 2}",
                  "from -9007199254740991 to 9007199254740991"));
    CHECK(refused("{\"a\": 1, \"b\": -9007199254740992}", "'b' must be an integer from"));
    CHECK(
        refused("{\"a\": 1, \"b\": 2, \"delay_ms\": -1}", "'delay_ms' must be an integer from 0"));
    CHECK(refused("{\"a\": 1, \"b\": 2, \"delay_ms\": 10001}", "from 0 to 10000"));
}

static void batches_outside_the_contract(void) {
    CHECK(refused("{\"calls\": []}", "1 to 64 calls, not 0"));
    CHECK(refused("{\"calls\": {}}", "'calls' must be an array"));
    CHECK(refused("{\"calls\": [7]}", "calls[0] must be an object"));
    CHECK(refused("{\"calls\": [{\"a\": 1, \"b\": 2}, {\"a\": 1}]}", "'b' is missing"));
    CHECK(refused("{\"calls\": [{\"a\": 1, \"b\": 2, \"delay_ms\": 1}]}",
                  "unknown field 'delay_ms' in calls[0]"));
    CHECK(
        refused("{\"calls\": [{\"a\": 1, \"b\": 2, \"b\": 2}]}", "'b' appears twice in calls[0]"));
    CHECK(refused("{\"a\": 1, \"calls\": [{\"a\": 1, \"b\": 2}]}", "not both"));

    char batch[(REQUEST_MAX_CALLS + 1) * 16 + 32];
    size_t n = (size_t)snprintf(batch, sizeof(batch), "{\"calls\":[");
    for (int i = 0; i <= REQUEST_MAX_CALLS; i++)
        n += (size_t)snprintf(batch + n, sizeof(batch) - n, "%s{\"a\":1,\"b\":2}", i ? "," : "");
    snprintf(batch + n, sizeof(batch) - n, "]}");
    CHECK(refused(batch, "1 to 64 calls, not 65"));
}

static void a_long_field_name_is_cut_in_the_message(void) {
    char body[512], err[REQUEST_ERR_LEN];
    requestBody req;
    char name[301];
    memset(name, 'x', 300);
    name[300] = '\0';
    snprintf(body, sizeof(body), "{\"a\": 1, \"b\": 2, \"%s\": 3}", name);
    CHECK(!parse(body, &req, err));
    CHECK_LT(strlen(err), REQUEST_ERR_LEN);
    CHECK(strstr(err, "unknown field 'xxxx") == err);
}

int main(void) {
    const checkTest tests[] = {
        TEST(one_call),
        TEST(one_call_with_a_delay),
        TEST(a_batch_keeps_its_order),
        TEST(the_limits_themselves_are_accepted),
        TEST(json_whitespace_and_escapes_are_json),
        TEST(a_second_parse_forgets_the_first),
        TEST(not_json),
        TEST(strings_json_does_not_have),
        TEST(a_nul_byte_is_refused),
        TEST(the_wrong_shape),
        TEST(numbers_outside_the_contract),
        TEST(batches_outside_the_contract),
        TEST(a_long_field_name_is_cut_in_the_message),
    };
    return checkMain(tests, sizeof(tests) / sizeof(tests[0]));
}
