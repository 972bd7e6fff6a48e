/* check.h -- the few macros the unit and integration tests share.
 *
 * A test program lists its tests and calls checkMain, which prints each
 * name, every failed check, and the closing line "N passed, M failed"; it
 * returns non-zero when any test failed.
 */
#ifndef CHECK_H
#define CHECK_H

#include <stddef.h>
#include <stdio.h>

extern int check_failures; /* checks failed in the test running now */

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

/* Runs every test: prints each name, every failed check, and the closing
 * line "N passed, M failed". Returns the process exit status. */
int checkMain(const checkTest *tests, size_t n);

#endif /* CHECK_H */
