/* test_history.c -- the ring of once-a-second figures: oldest first, fixed size,
 * the JSON the live page reads on load. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "history.h"
#include "text.h"

static cJSON *formatted(void) {
    char *buf = malloc(HISTORY_JSON_BYTES);
    if (!buf)
        return NULL;
    textBuf t = textOn(buf, HISTORY_JSON_BYTES);
    historyFormat(&t);
    size_t n = textEnd(&t);
    cJSON *o = n ? cJSON_ParseWithLength(buf, n) : NULL;
    free(buf);
    return o;
}

static historySample sample(unsigned i) {
    historySample s = {0};
    s.uptime_s = i;
    s.requests = 100ull * i;
    s.live = i;
    s.rss_bytes = 1000000ull + i;
    s.oldest_age_s = i % 2 ? (double)i / 2 : -1;
    s.shed = 7ull * i;
    s.shedding = i == 2;
    return s;
}

static void an_empty_ring_is_an_empty_list(void) {
    historyReset();
    cJSON *o = formatted();
    REQUIRE(o != NULL);
    CHECK_EQ(cJSON_GetObjectItemCaseSensitive(o, "period_s")->valuedouble, 1);
    CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "samples")), 0);
    cJSON_Delete(o);
}

static void samples_come_back_oldest_first_with_their_figures(void) {
    historyReset();
    for (unsigned i = 1; i <= 3; i++) {
        historySample s = sample(i);
        historyPush(&s);
    }
    cJSON *o = formatted();
    REQUIRE(o != NULL);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "samples");
    REQUIRE(cJSON_GetArraySize(list) == 3);
    const cJSON *first = cJSON_GetArrayItem(list, 0);
    CHECK_EQ(cJSON_GetObjectItemCaseSensitive(first, "uptime_s")->valuedouble, 1);
    CHECK_EQ(cJSON_GetObjectItemCaseSensitive(first, "requests")->valuedouble, 100);
    CHECK_EQ(cJSON_GetObjectItemCaseSensitive(first, "rss_bytes")->valuedouble, 1000001);
    CHECK(cJSON_GetObjectItemCaseSensitive(first, "oldest_age_s")->valuedouble == 0.5);
    const cJSON *second = cJSON_GetArrayItem(list, 1);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(second, "oldest_age_s"))); /* none alive */
    /* The memory guard: requests shed so far, and whether it sheds. */
    CHECK_EQ(cJSON_GetObjectItemCaseSensitive(first, "shed")->valuedouble, 7);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(first, "shedding")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(second, "shedding")));
    CHECK_EQ(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(list, 2), "live")->valuedouble, 3);
    cJSON_Delete(o);
}

/* Eleven minutes of samples: the ring keeps the last ten, in order. */
static void a_full_ring_keeps_the_last_ten_minutes(void) {
    historyReset();
    for (unsigned i = 1; i <= HISTORY_SAMPLES + 60; i++) {
        historySample s = sample(i);
        historyPush(&s);
    }
    cJSON *o = formatted();
    REQUIRE(o != NULL);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "samples");
    REQUIRE(cJSON_GetArraySize(list) == HISTORY_SAMPLES);
    double prev = 0;
    unsigned bad = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, list) {
        double u = cJSON_GetObjectItemCaseSensitive(x, "uptime_s")->valuedouble;
        bad += u != prev + 1 && prev != 0;
        prev = u;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(list, 0), "uptime_s")->valuedouble,
             61);
    CHECK_EQ(prev, HISTORY_SAMPLES + 60);
    cJSON_Delete(o);
}

/* The largest figures still fit the answer's buffer. */
static void the_largest_figures_fit(void) {
    historyReset();
    for (unsigned i = 0; i < HISTORY_SAMPLES; i++) {
        historySample s;
        memset(&s, 0xff, sizeof(s));
        s.uptime_s = 1e9;
        s.oldest_age_s = 1e9;
        s.shedding = false; /* "false" is the longer word */
        historyPush(&s);
    }
    cJSON *o = formatted();
    CHECK(o != NULL);
    cJSON_Delete(o);
}

int main(void) {
    static const checkTest tests[] = {
        TEST(an_empty_ring_is_an_empty_list),
        TEST(samples_come_back_oldest_first_with_their_figures),
        TEST(a_full_ring_keeps_the_last_ten_minutes),
        TEST(the_largest_figures_fit),
    };
    return checkMain(tests, sizeof(tests) / sizeof(tests[0]));
}
