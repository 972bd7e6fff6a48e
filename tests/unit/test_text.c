/* test_text.c -- the bounded text writer (server/core/text.h), specified by
 * example, and the POST /calculate answer written with it (reply.h).
 *
 * Each case writes into a small buffer with a guard byte after its end, so
 * a write past the bound shows as a changed guard.
 */
#include "calculate_answer.h"
#include "reply.h"
#include "calculate_body.h"
#include "text.h"

#include <limits.h>
#include <string.h>

#include "check.h"

#define GUARD '#'

typedef struct area {
    char buf[64];
} area;

/* A writer over the first cap bytes of a, the rest filled with GUARD. */
static textBuf over(area *a, size_t cap) {
    memset(a->buf, GUARD, sizeof(a->buf));
    return textOn(a->buf, cap);
}

/* The text written so far, NUL-terminated into out. */
static const char *written(const textBuf *t, char *out) {
    memcpy(out, t->buf, t->len);
    out[t->len] = '\0';
    return out;
}

static void pieces_are_written_in_order(void) {
    area a;
    char out[65];
    textBuf t = over(&a, sizeof(a.buf));
    TEXT_LIT(&t, "{\"n\":");
    textUint(&t, 0);
    textChar(&t, ',');
    textInt(&t, -42);
    textStr(&t, ",x");
    TEXT_LIT(&t, "}\n");
    CHECK(!textTruncated(&t));
    CHECK_UINT_EQ(textEnd(&t), strlen("{\"n\":0,-42,x}\n"));
    CHECK_STR_EQ(written(&t, out), "{\"n\":0,-42,x}\n");
}

static void numbers_at_their_limits(void) {
    area a;
    char out[65];
    textBuf t = over(&a, sizeof(a.buf));
    textUint(&t, ULLONG_MAX);
    textChar(&t, ' ');
    textInt(&t, LLONG_MIN);
    textChar(&t, ' ');
    textInt(&t, LLONG_MAX);
    CHECK_STR_EQ(written(&t, out), "18446744073709551615 -9223372036854775808 9223372036854775807");
}

static void fixed_point_keeps_every_decimal(void) {
    area a;
    char out[65];
    textBuf t = over(&a, sizeof(a.buf));
    textFixed(&t, 1234, 1);
    textChar(&t, ' ');
    textFixed(&t, 5, 3);
    textChar(&t, ' ');
    textFixed(&t, 0, 1);
    textChar(&t, ' ');
    textFixed(&t, 77, 0);
    CHECK_STR_EQ(written(&t, out), "123.4 0.005 0.0 77");
}

static void a_piece_that_does_not_fit_is_not_written_nor_anything_after(void) {
    area a;
    char out[65];
    textBuf t = over(&a, 8);
    TEXT_LIT(&t, "abcde");
    textUint(&t, 1234); /* 4 bytes, 3 left: not written */
    CHECK(textTruncated(&t));
    textChar(&t, 'z'); /* would fit, but comes after the cut */
    CHECK_STR_EQ(written(&t, out), "abcde");
    CHECK_UINT_EQ(textEnd(&t), 0);
    CHECK_EQ(a.buf[5], GUARD);
    CHECK_EQ(a.buf[8], GUARD);
}

static void a_text_that_fills_the_buffer_exactly_fits(void) {
    area a;
    textBuf t = over(&a, 4);
    TEXT_LIT(&t, "ab");
    textInt(&t, -1);
    CHECK(!textTruncated(&t));
    CHECK_UINT_EQ(textEnd(&t), 4);
    CHECK_MEM_EQ(a.buf, "ab-1", 4);
    CHECK_EQ(a.buf[4], GUARD);
}

static void a_negative_number_is_cut_whole(void) {
    area a;
    textBuf t = over(&a, 3);
    textInt(&t, -123);
    CHECK(textTruncated(&t));
    CHECK_UINT_EQ(t.len, 0); /* never a lone '-' */
}

static void json_text_is_escaped(void) {
    area a;
    char out[65];
    textBuf t = over(&a, sizeof(a.buf));
    textJson(&t, "a\"b\\c\n\x01\xc3\xa9.");
    CHECK_STR_EQ(written(&t, out), "a\\\"b\\\\c\\u000a\\u0001??.");
}

static void json_fit_cuts_at_a_whole_character_and_keeps_room(void) {
    area a;
    char out[65];
    textBuf t = over(&a, 10);
    TEXT_LIT(&t, "[");
    CHECK(!textJsonFit(&t, "abc\"def", 3)); /* 6 bytes left for it: a b c \" d */
    CHECK(!textTruncated(&t));
    TEXT_LIT(&t, "]\n"); /* the kept room */
    CHECK(!textTruncated(&t));
    CHECK_STR_EQ(written(&t, out), "[abc\\\"d]\n");

    t = over(&a, 10);
    CHECK(textJsonFit(&t, "short", 3));
    CHECK_STR_EQ(written(&t, out), "short");
}

static void printf_pieces_are_whole_too(void) {
    area a;
    char out[65];
    textBuf t = over(&a, 12);
    textf(&t, "%s=%.3f", "up", 1.5);
    CHECK_STR_EQ(written(&t, out), "up=1.500");
    textf(&t, "%d", 1234); /* 4 bytes and its NUL: 4 left, so it does not fit */
    CHECK(textTruncated(&t));
    CHECK_STR_EQ(written(&t, out), "up=1.500");
    CHECK_EQ(a.buf[12], GUARD);
}

/* ------------------------------------------------ the /calculate answer */

static void one_call_answer(void) {
    char buf[CALC_ANSWER_BYTES], out[CALC_ANSWER_BYTES + 1];
    int64_t results[] = {-9007199254740991LL};
    bool cached[] = {true};
    calcAnswer r = {false, 1, results, cached, 7, 123};
    textBuf t = textOn(buf, sizeof(buf));
    CHECK_UINT_NE(calcAnswerText(&t, &r), 0);
    CHECK_STR_EQ(written(&t, out), "{\"result\":-9007199254740991,\"cached\":true,\"instance\":7,"
                                   "\"elapsed_ms\":12.3}\n");
}

static void batch_answer(void) {
    char buf[CALC_ANSWER_BYTES], out[CALC_ANSWER_BYTES + 1];
    int64_t results[] = {3, 0};
    bool cached[] = {false, true};
    calcAnswer r = {true, 2, results, cached, 18446744073709551615ull, 5};
    textBuf t = textOn(buf, sizeof(buf));
    CHECK_UINT_NE(calcAnswerText(&t, &r), 0);
    CHECK_STR_EQ(written(&t, out),
                 "{\"results\":[{\"result\":3,\"cached\":false},{\"result\":0,\"cached\":true}],"
                 "\"instance\":18446744073709551615,\"elapsed_ms\":0.5}\n");
}

static void the_largest_batch_fits(void) {
    char buf[CALC_ANSWER_BYTES];
    int64_t results[REQUEST_MAX_CALLS];
    bool cached[REQUEST_MAX_CALLS];
    for (size_t i = 0; i < REQUEST_MAX_CALLS; i++) {
        results[i] = -2 * REQUEST_MAX_INT;
        cached[i] = false;
    }
    calcAnswer r = {true, REQUEST_MAX_CALLS, results, cached, ULLONG_MAX, ULLONG_MAX};
    textBuf t = textOn(buf, sizeof(buf));
    CHECK_UINT_GT(calcAnswerText(&t, &r), 0);
}

int main(void) {
    const checkTest tests[] = {
        TEST(pieces_are_written_in_order),
        TEST(numbers_at_their_limits),
        TEST(fixed_point_keeps_every_decimal),
        TEST(a_piece_that_does_not_fit_is_not_written_nor_anything_after),
        TEST(a_text_that_fills_the_buffer_exactly_fits),
        TEST(a_negative_number_is_cut_whole),
        TEST(json_text_is_escaped),
        TEST(json_fit_cuts_at_a_whole_character_and_keeps_room),
        TEST(printf_pieces_are_whole_too),
        TEST(one_call_answer),
        TEST(batch_answer),
        TEST(the_largest_batch_fits),
    };
    return checkMain(tests, sizeof(tests) / sizeof(tests[0]));
}
