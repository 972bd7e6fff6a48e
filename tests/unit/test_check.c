/* test_check.c -- the test harness (tests/check.h), specified by example.
 *
 * Each case runs checkMain on a few sample cases in a child process, with
 * the child's stderr and stdout in a pipe, and checks what the child printed
 * and how it exited: a CHECK goes on, a REQUIRE stops the case, every typed
 * check prints both values, and the closing line counts the failed cases.
 */
#include "check.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUTPUT_CAP 16384

typedef struct run {
    int status; /* the child's exit status, or 128 + signal */
    char out[OUTPUT_CAP];
} run;

/* Runs checkMain(tests, n) in a child; collects its output and status. */
static void runCases(run *r, const checkTest *tests, size_t n) {
    int fd[2];
    memset(r, 0, sizeof(*r));
    r->status = -1;
    REQUIRE_EQ(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE_GE(pid, 0);
    if (pid == 0) {
        dup2(fd[1], STDERR_FILENO);
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        int status = checkMain(tests, n);
        fflush(NULL);
        _exit(status);
    }
    close(fd[1]);
    size_t len = 0;
    ssize_t got;
    while (len < sizeof(r->out) - 1 &&
           (got = read(fd[0], r->out + len, sizeof(r->out) - 1 - len)) > 0)
        len += (size_t)got;
    r->out[len] = '\0';
    close(fd[0]);
    int status;
    REQUIRE_EQ(waitpid(pid, &status, 0), pid);
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Does the output hold text? Prints the output when it does not. */
static bool said(const run *r, const char *text) {
    if (strstr(r->out, text))
        return true;
    fprintf(stderr, "  the output has no \"%s\"; it was:\n%s\n", text, r->out);
    return false;
}

/* ------------------------------------------------------- sample cases */

static int reached; /* how far the sample cases got, written in the child */

static void passes(void) {
    CHECK(1 + 1 == 2);
    CHECK_EQ(-3, -3);
    CHECK_UINT_EQ(UINT64_MAX, UINT64_MAX);
    CHECK_STR_EQ("abc", "abc");
    CHECK_STR_NE("abc", NULL);
    CHECK_MEM_EQ("abc", "abd", 2);
    CHECK_NULL(NULL);
    CHECK_LT(1, 2);
    CHECK_GE(2, 2);
}

static void check_goes_on(void) {
    CHECK_EQ(2 + 2, 5);
    reached = 1;
    printf("reached after the CHECK\n");
}

static void require_stops(void) {
    REQUIRE_EQ(7 * 6, 41);
    printf("reached after the REQUIRE\n");
}

static int giveNothing(void) {
    REQUIRE(0 > 1); /* stops the case from inside a function it calls, too */
    return 1;
}

static void require_in_helper_stops(void) {
    giveNothing();
    printf("reached after the inner function\n");
}

static void typed_values(void) {
    CHECK_UINT_EQ(UINT64_MAX, 1u);
    CHECK_STR_EQ("got \"this\"\n", "want that");
    CHECK_STR_EQ(NULL, "x");
    CHECK_MEM_EQ("abcdef", "abcxef", 6);
    CHECK_GT(1, 2);
    CHECK_PTR_NE(NULL, NULL);
}

static void with_context(void) {
    checkContext("step %d", 3);
    CHECK(1 == 2);
}

static int ended; /* cases checkOnCaseEnd saw end */

static void countEnd(void) {
    ended++;
    printf("case end %d\n", ended);
}

/* ---------------------------------------------------------------- cases */

static void passing_cases_exit_zero(void) {
    run r;
    const checkTest t[] = {TEST(passes)};
    runCases(&r, t, 1);
    CHECK_EQ(r.status, 0);
    CHECK(said(&r, "test passes\n"));
    CHECK(said(&r, "1 passed, 0 failed\n"));
    CHECK(!strstr(r.out, "FAIL"));
}

static void a_check_fails_the_case_and_goes_on(void) {
    run r;
    const checkTest t[] = {TEST(check_goes_on), TEST(passes)};
    runCases(&r, t, 2);
    CHECK_EQ(r.status, 1);
    CHECK(said(&r, "2 + 2 == 5: got 4, want == 5\n"));
    CHECK(said(&r, "reached after the CHECK\n"));
    CHECK(said(&r, "-> FAILED (1 checks)\n"));
    CHECK(said(&r, "1 passed, 1 failed\n"));
}

static void a_require_stops_the_case_and_the_next_runs(void) {
    run r;
    const checkTest t[] = {TEST(require_stops), TEST(require_in_helper_stops), TEST(passes)};
    runCases(&r, t, 3);
    CHECK_EQ(r.status, 1);
    CHECK(said(&r, "7 * 6 == 41: got 42, want == 41\n"));
    CHECK(!strstr(r.out, "reached after the REQUIRE"));
    CHECK(said(&r, "0 > 1\n"));
    CHECK(!strstr(r.out, "reached after the inner function"));
    CHECK(said(&r, "-> stopped by a REQUIRE\n"));
    CHECK(said(&r, "test passes\n"));
    CHECK(said(&r, "1 passed, 2 failed\n"));
}

static void typed_checks_print_both_values(void) {
    run r;
    const checkTest t[] = {TEST(typed_values)};
    runCases(&r, t, 1);
    CHECK_EQ(r.status, 1);
    CHECK(said(&r, "got 18446744073709551615, want == 1\n"));
    CHECK(said(&r, "got \"got \\\"this\\\"\\x0a\", want == \"want that\"\n"));
    CHECK(said(&r, "got NULL, want == \"x\"\n"));
    CHECK(said(&r, "first difference at byte 3: got 0x64, want 0x78\n"));
    CHECK(said(&r, "1 > 2: got 1, want > 2\n"));
    CHECK(said(&r, "-> FAILED (6 checks)\n"));
}

static void a_failure_names_file_line_and_context(void) {
    run r;
    const checkTest t[] = {TEST(with_context)};
    runCases(&r, t, 1);
    CHECK(said(&r, "FAIL " __FILE__ ":"));
    CHECK(said(&r, "1 == 2\n    ... step 3\n"));
}

static void the_case_end_hook_runs_after_every_case(void) {
    run r;
    const checkTest t[] = {TEST(passes), TEST(require_stops)};
    checkOnCaseEnd(countEnd);
    runCases(&r, t, 2);
    checkOnCaseEnd(NULL);
    CHECK(said(&r, "case end 1\n"));
    CHECK(said(&r, "case end 2\n"));
    CHECK_EQ(ended, 0); /* it ran in the child */
    CHECK_EQ(reached, 0);
}

int main(void) {
    const checkTest tests[] = {
        TEST(passing_cases_exit_zero),
        TEST(a_check_fails_the_case_and_goes_on),
        TEST(a_require_stops_the_case_and_the_next_runs),
        TEST(typed_checks_print_both_values),
        TEST(a_failure_names_file_line_and_context),
        TEST(the_case_end_hook_runs_after_every_case),
    };
    return checkMain(tests, sizeof(tests) / sizeof(tests[0]));
}
