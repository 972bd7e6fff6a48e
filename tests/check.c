/* check.c -- the runner behind tests/check.h. */
#include "check.h"

int check_failures;

int checkMain(const checkTest *tests, size_t n) {
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        check_failures = 0;
        fprintf(stderr, "test %s\n", tests[i].name);
        tests[i].fn();
        if (check_failures) {
            fprintf(stderr, "  -> FAILED (%d checks)\n", check_failures);
            failed++;
        }
    }
    printf("%zu passed, %zu failed\n", n - failed, failed);
    return failed ? 1 : 0;
}
