/* check.h -- the one test harness of every C test program (as libuv's test/task.h).
 *
 * A test program lists its cases with TEST and calls checkMain, which runs
 * them in order, prints each name, every failed check with both values, and
 * the closing line "N passed, M failed"; it returns non-zero when any case
 * failed.
 *
 * Two kinds of check, each in every shape below:
 *   CHECK...   reports a failure and goes on: the case fails, the next
 *              check runs (use it to see every difference at once);
 *   REQUIRE... reports a failure and stops the case at once (use it when
 *              what follows makes no sense without it: a server that did not
 *              start, a NULL that would be dereferenced). The case is left
 *              by longjmp, so what it held is not freed; the case has failed
 *              anyway. A REQUIRE that fails on a thread other than the one
 *              running checkMain aborts the program.
 *
 * The shapes (g = what the code gave, w = what is wanted):
 *   CHECK(cond)                            a condition
 *   CHECK_EQ/NE/LT/LE/GT/GE(g, w)          signed integers, as long long
 *   CHECK_UINT_EQ/NE/LT/LE/GT/GE(g, w)     unsigned integers, as unsigned long long
 *   CHECK_STR_EQ/NE(g, w)                  NUL-terminated strings (NULL allowed)
 *   CHECK_MEM_EQ(g, w, n)                  n bytes
 *   CHECK_PTR_EQ/NE(g, w), CHECK_NULL(p), CHECK_NOT_NULL(p)
 * and REQUIRE, REQUIRE_EQ, ... REQUIRE_NOT_NULL likewise.
 *
 * Thread safety: CHECK... may be called from any thread (the failure count
 * is atomic; each failure is one fprintf). checkContext, checkFailures and
 * checkOnCaseEnd belong to the thread running checkMain.
 */
#ifndef CHECK_H
#define CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* ---------------------------------------------------------------- cases */

typedef struct checkTest {
    const char *name;
    void (*fn)(void);
} checkTest;

#define TEST(name)                                                                                 \
    { #name, name }

/* Runs every case: prints each name, every failed check, and the closing
 * line "N passed, M failed". Returns the process exit status (0 when every
 * case passed, 1 otherwise). */
int checkMain(const checkTest *tests, size_t n);

/* Sets the context printed after every failure from now until the case
 * ends or the next call (e.g. "case: GET /x", the step of a loop);
 * checkContext(NULL) clears it. printf-style; truncated to 255 bytes. */
void checkContext(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Checks failed so far in the case running now. */
int checkFailures(void);

/* Sets fn to run after every case, also after one a REQUIRE stopped (the
 * integration harness stops the servers a case left running). One hook;
 * NULL removes it. */
void checkOnCaseEnd(void (*fn)(void));

/* ---------------------------------------------------------------- checks */

#define CHECK(cond) ((void)CHECK__TRUE(cond))
#define REQUIRE(cond) CHECK__STOP(CHECK__TRUE(cond))

#define CHECK_EQ(g, w) ((void)CHECK__INT(CHECK__EQ, g, w))
#define CHECK_NE(g, w) ((void)CHECK__INT(CHECK__NE, g, w))
#define CHECK_LT(g, w) ((void)CHECK__INT(CHECK__LT, g, w))
#define CHECK_LE(g, w) ((void)CHECK__INT(CHECK__LE, g, w))
#define CHECK_GT(g, w) ((void)CHECK__INT(CHECK__GT, g, w))
#define CHECK_GE(g, w) ((void)CHECK__INT(CHECK__GE, g, w))
#define REQUIRE_EQ(g, w) CHECK__STOP(CHECK__INT(CHECK__EQ, g, w))
#define REQUIRE_NE(g, w) CHECK__STOP(CHECK__INT(CHECK__NE, g, w))
#define REQUIRE_LT(g, w) CHECK__STOP(CHECK__INT(CHECK__LT, g, w))
#define REQUIRE_LE(g, w) CHECK__STOP(CHECK__INT(CHECK__LE, g, w))
#define REQUIRE_GT(g, w) CHECK__STOP(CHECK__INT(CHECK__GT, g, w))
#define REQUIRE_GE(g, w) CHECK__STOP(CHECK__INT(CHECK__GE, g, w))

#define CHECK_UINT_EQ(g, w) ((void)CHECK__UINT(CHECK__EQ, g, w))
#define CHECK_UINT_NE(g, w) ((void)CHECK__UINT(CHECK__NE, g, w))
#define CHECK_UINT_LT(g, w) ((void)CHECK__UINT(CHECK__LT, g, w))
#define CHECK_UINT_LE(g, w) ((void)CHECK__UINT(CHECK__LE, g, w))
#define CHECK_UINT_GT(g, w) ((void)CHECK__UINT(CHECK__GT, g, w))
#define CHECK_UINT_GE(g, w) ((void)CHECK__UINT(CHECK__GE, g, w))
#define REQUIRE_UINT_EQ(g, w) CHECK__STOP(CHECK__UINT(CHECK__EQ, g, w))
#define REQUIRE_UINT_NE(g, w) CHECK__STOP(CHECK__UINT(CHECK__NE, g, w))
#define REQUIRE_UINT_LT(g, w) CHECK__STOP(CHECK__UINT(CHECK__LT, g, w))
#define REQUIRE_UINT_LE(g, w) CHECK__STOP(CHECK__UINT(CHECK__LE, g, w))
#define REQUIRE_UINT_GT(g, w) CHECK__STOP(CHECK__UINT(CHECK__GT, g, w))
#define REQUIRE_UINT_GE(g, w) CHECK__STOP(CHECK__UINT(CHECK__GE, g, w))

#define CHECK_STR_EQ(g, w) ((void)CHECK__STR(CHECK__EQ, g, w))
#define CHECK_STR_NE(g, w) ((void)CHECK__STR(CHECK__NE, g, w))
#define REQUIRE_STR_EQ(g, w) CHECK__STOP(CHECK__STR(CHECK__EQ, g, w))
#define REQUIRE_STR_NE(g, w) CHECK__STOP(CHECK__STR(CHECK__NE, g, w))

#define CHECK_MEM_EQ(g, w, n) ((void)CHECK__MEM(g, w, n))
#define REQUIRE_MEM_EQ(g, w, n) CHECK__STOP(CHECK__MEM(g, w, n))

#define CHECK_PTR_EQ(g, w) ((void)CHECK__PTR(CHECK__EQ, g, w))
#define CHECK_PTR_NE(g, w) ((void)CHECK__PTR(CHECK__NE, g, w))
#define CHECK_NULL(p) ((void)CHECK__PTR(CHECK__EQ, p, NULL))
#define CHECK_NOT_NULL(p) ((void)CHECK__PTR(CHECK__NE, p, NULL))
#define REQUIRE_PTR_EQ(g, w) CHECK__STOP(CHECK__PTR(CHECK__EQ, g, w))
#define REQUIRE_PTR_NE(g, w) CHECK__STOP(CHECK__PTR(CHECK__NE, g, w))
#define REQUIRE_NULL(p) CHECK__STOP(CHECK__PTR(CHECK__EQ, p, NULL))
#define REQUIRE_NOT_NULL(p) CHECK__STOP(CHECK__PTR(CHECK__NE, p, NULL))

/* ---------------------------------------------------------------- private */

/* What the macros above expand to: each check__ function reports a failure
 * and returns whether the check held; check__stop ends the case. */
typedef enum checkOp { CHECK__EQ, CHECK__NE, CHECK__LT, CHECK__LE, CHECK__GT, CHECK__GE } checkOp;

typedef struct checkWhere {
    const char *file;
    int line;
    const char *got, *want; /* the expressions, as written */
} checkWhere;

#define CHECK__WHERE(g, w) ((checkWhere){__FILE__, __LINE__, #g, #w})
#define CHECK__TRUE(cond) check__true(CHECK__WHERE(cond, true), (cond) ? true : false)
#define CHECK__INT(op, g, w) check__int(CHECK__WHERE(g, w), op, (long long)(g), (long long)(w))
#define CHECK__UINT(op, g, w)                                                                      \
    check__uint(CHECK__WHERE(g, w), op, (unsigned long long)(g), (unsigned long long)(w))
#define CHECK__STR(op, g, w) check__str(CHECK__WHERE(g, w), op, (g), (w))
#define CHECK__MEM(g, w, n) check__mem(CHECK__WHERE(g, w), (g), (w), (n))
#define CHECK__PTR(op, g, w)                                                                       \
    check__ptr(CHECK__WHERE(g, w), op, (const void *)(g), (const void *)(w))
#define CHECK__STOP(ok)                                                                            \
    do {                                                                                           \
        if (!(ok))                                                                                 \
            check__stop();                                                                         \
    } while (0)

bool check__true(checkWhere at, bool ok);
bool check__int(checkWhere at, checkOp op, long long g, long long w);
bool check__uint(checkWhere at, checkOp op, unsigned long long g, unsigned long long w);
bool check__str(checkWhere at, checkOp op, const char *g, const char *w);
bool check__mem(checkWhere at, const void *g, const void *w, size_t n);
bool check__ptr(checkWhere at, checkOp op, const void *g, const void *w);
_Noreturn void check__stop(void);

#endif /* CHECK_H */
