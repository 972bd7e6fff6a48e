/* check.h -- the few macros the server's unit tests share.
 *
 * A test program lists its tests and calls checkMain, which prints each
 * name, every failed check, and the closing line "N passed, M failed"; it
 * returns non-zero when any test failed.
 */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>

static int check_failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                      \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(got, want)                                                                        \
    do {                                                                                           \
        long long _g = (long long)(got), _w = (long long)(want);                                   \
        if (_g != _w) {                                                                            \
            fprintf(stderr, "  FAIL %s:%d: %s == %lld, want %s == %lld\n", __FILE__, __LINE__,     \
                    #got, _g, #want, _w);                                                          \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

typedef struct checkTest {
    const char *name;
    void (*fn)(void);
} checkTest;

#define TEST(name)                                                                                 \
    { #name, name }

static inline int checkMain(const checkTest *tests, size_t n) {
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        check_failures = 0;
        fprintf(stderr, "test %s\n", tests[i].name);
        tests[i].fn();
        if (check_failures)
            failed++;
    }
    printf("%zu passed, %zu failed\n", n - failed, failed);
    return failed ? 1 : 0;
}

#endif /* CHECK_H */
