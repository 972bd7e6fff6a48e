/* check.c -- the runner and the checks behind tests/check.h. */
#include "check.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CONTEXT_CAP 256
#define SHOWN_CHARS 200 /* of a string, in a failure */

static atomic_int failures;       /* in the case running now */
static char context[CONTEXT_CAP]; /* printed after each failure */
static jmp_buf stop;              /* where REQUIRE leaves a case */
static pthread_t runner;          /* the thread running checkMain */
static void (*case_end)(void);    /* checkOnCaseEnd's hook */

static const char *const op_names[] = {"==", "!=", "<", "<=", ">", ">="};

/* ---------------------------------------------------------------- runner */

/* Runs one case; a REQUIRE that fails comes back here (its own frame, so
 * that nothing of checkMain's is live across the longjmp). */
static void runCase(const checkTest *t) {
    if (setjmp(stop) == 0)
        t->fn();
    else
        fprintf(stderr, "  -> stopped by a REQUIRE\n");
}

int checkMain(const checkTest *tests, size_t n) {
    size_t failed = 0;
    runner = pthread_self();
    for (size_t i = 0; i < n; i++) {
        atomic_store(&failures, 0);
        context[0] = '\0';
        fprintf(stderr, "test %s\n", tests[i].name);
        runCase(&tests[i]);
        context[0] = '\0';
        if (case_end)
            case_end();
        int f = atomic_load(&failures);
        if (f) {
            fprintf(stderr, "  -> FAILED (%d checks)\n", f);
            failed++;
        }
    }
    printf("%zu passed, %zu failed\n", n - failed, failed);
    return failed ? 1 : 0;
}

void checkContext(const char *fmt, ...) {
    if (!fmt) {
        context[0] = '\0';
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(context, sizeof(context), fmt, ap);
    va_end(ap);
}

int checkFailures(void) {
    return atomic_load(&failures);
}

void checkOnCaseEnd(void (*fn)(void)) {
    case_end = fn;
}

_Noreturn void check__stop(void) {
    if (!pthread_equal(pthread_self(), runner)) {
        fprintf(stderr, "  a REQUIRE failed off the test thread: aborting\n");
        abort();
    }
    longjmp(stop, 1);
}

/* ---------------------------------------------------------------- checks */

/* Counts the failure and prints where it is; the caller prints the values. */
static void failAt(const checkWhere *at) {
    atomic_fetch_add(&failures, 1);
    fprintf(stderr, "  FAIL %s:%d: ", at->file, at->line);
}

static void failEnd(void) {
    if (context[0])
        fprintf(stderr, "    ... %s\n", context);
}

static bool holds(checkOp op, int cmp) {
    switch (op) {
    case CHECK__EQ:
        return cmp == 0;
    case CHECK__NE:
        return cmp != 0;
    case CHECK__LT:
        return cmp < 0;
    case CHECK__LE:
        return cmp <= 0;
    case CHECK__GT:
        return cmp > 0;
    case CHECK__GE:
        return cmp >= 0;
    }
    return false;
}

bool check__true(checkWhere at, bool ok) {
    if (ok)
        return true;
    failAt(&at);
    fprintf(stderr, "%s\n", at.got);
    failEnd();
    return false;
}

bool check__int(checkWhere at, checkOp op, long long g, long long w) {
    if (holds(op, (g > w) - (g < w)))
        return true;
    failAt(&at);
    fprintf(stderr, "%s %s %s: got %lld, want %s %lld\n", at.got, op_names[op], at.want, g,
            op_names[op], w);
    failEnd();
    return false;
}

bool check__uint(checkWhere at, checkOp op, unsigned long long g, unsigned long long w) {
    if (holds(op, (g > w) - (g < w)))
        return true;
    failAt(&at);
    fprintf(stderr, "%s %s %s: got %llu, want %s %llu\n", at.got, op_names[op], at.want, g,
            op_names[op], w);
    failEnd();
    return false;
}

/* Prints s quoted, with non-printing bytes escaped, at most SHOWN_CHARS. */
static void showString(const char *s) {
    if (!s) {
        fputs("NULL", stderr);
        return;
    }
    fputc('"', stderr);
    size_t i;
    for (i = 0; s[i] && i < SHOWN_CHARS; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(stderr, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fputs(s[i] ? "\"..." : "\"", stderr);
}

bool check__str(checkWhere at, checkOp op, const char *g, const char *w) {
    bool equal = (g && w) ? strcmp(g, w) == 0 : g == w;
    if (op == CHECK__NE ? !equal : equal)
        return true;
    failAt(&at);
    fprintf(stderr, "%s %s %s: got ", at.got, op_names[op], at.want);
    showString(g);
    fprintf(stderr, ", want %s ", op_names[op]);
    showString(w);
    fputc('\n', stderr);
    failEnd();
    return false;
}

bool check__mem(checkWhere at, const void *g, const void *w, size_t n) {
    const unsigned char *a = g, *b = w;
    size_t i = 0;
    while (i < n && a[i] == b[i])
        i++;
    if (i == n)
        return true;
    failAt(&at);
    fprintf(stderr, "%s == %s (%zu bytes): first difference at byte %zu: got 0x%02x, want 0x%02x\n",
            at.got, at.want, n, i, a[i], b[i]);
    failEnd();
    return false;
}

bool check__ptr(checkWhere at, checkOp op, const void *g, const void *w) {
    if (op == CHECK__NE ? g != w : g == w)
        return true;
    failAt(&at);
    fprintf(stderr, "%s %s %s: got %p, want %s %p\n", at.got, op_names[op], at.want, g,
            op_names[op], w);
    failEnd();
    return false;
}
