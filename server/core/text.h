/* text.h -- the one bounded text writer every answer is written with.
 *
 * A textBuf writes into a buffer the caller owns (on its stack, usually)
 * and never allocates. Each piece (a literal, a number, a character, an
 * escape) is written whole or not at all: the first piece that does not fit
 * marks the writer truncated, and nothing is written after it, so a
 * truncated text is a clean prefix and the caller learns of it from
 * textEnd (or textTruncated) instead of sending it.
 *
 *   char buf[64];
 *   textBuf t = textOn(buf, sizeof(buf));
 *   TEXT_LIT(&t, "{\"n\":");
 *   textUint(&t, n);
 *   TEXT_LIT(&t, "}\n");
 *   size_t len = textEnd(&t);  // 0: it did not fit
 *
 * The buffer is not NUL-terminated (answers carry their length). Not
 * thread-safe: one writer, one thread, as any local variable.
 */
#ifndef TEXT_H
#define TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct textBuf {
    char *buf;
    size_t cap, len;
    bool truncated; /* a piece did not fit: nothing more is written */
} textBuf;

/* A writer over buf[0..cap), empty. */
static inline textBuf textOn(char *buf, size_t cap) {
    return (textBuf){buf, cap, 0, false};
}

/* Writes n bytes of s, or marks the writer truncated if they do not fit. */
static inline void textPut(textBuf *t, const void *s, size_t n) {
    if (t->truncated || n > t->cap - t->len) {
        t->truncated = true;
        return;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
}

/* A string literal, its length known at compile time. */
#define TEXT_LIT(t, lit) textPut((t), "" lit, sizeof(lit) - 1)

static inline void textChar(textBuf *t, char c) {
    textPut(t, &c, 1);
}

static inline void textStr(textBuf *t, const char *s) {
    textPut(t, s, strlen(s));
}

/* The decimal text of v. */
/* The value of a hexadecimal digit (either case), or -1 for any other byte:
 * for the readers of percent escapes. */
static inline int textHexValue(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void textUint(textBuf *t, unsigned long long v);
void textInt(textBuf *t, long long v);

/* v / 10^decimals with exactly that many decimals: textFixed(t, 1234, 1)
 * writes "123.4", textFixed(t, 5, 3) writes "0.005". decimals <= 19. */
void textFixed(textBuf *t, unsigned long long v, unsigned decimals);

/* s as the contents of a JSON string: '"' and '\' escaped, control bytes
 * as \u00XX, and every byte outside ASCII as '?' (so text from a client
 * cannot make the answer invalid JSON, whatever its encoding). */
void textJson(textBuf *t, const char *s);

/* textJson, cut at a whole character where fewer than keep bytes would be
 * left for what follows (the cut is not a truncation: what follows still
 * fits). Returns false when s was cut. */
bool textJsonFit(textBuf *t, const char *s, size_t keep);

/* printf into the writer: the whole formatted text is one piece (it needs
 * one byte of room more than it writes, for vsnprintf's NUL). For the few
 * places where a format says more than pieces would (a table of metrics, a
 * float); the hot path uses the functions above. */
void textf(textBuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline bool textTruncated(const textBuf *t) {
    return t->truncated;
}

/* The length written, or 0 when the text was truncated. */
static inline size_t textEnd(const textBuf *t) {
    return t->truncated ? 0 : t->len;
}

#endif /* TEXT_H */
