/* text.c -- the bounded text writer (text.h). */
#include "text.h"

#include <stdarg.h>
#include <stdio.h>

#define UINT_DIGITS 20 /* of 2^64 - 1 */

void textUint(textBuf *t, unsigned long long v) {
    char digits[UINT_DIGITS];
    size_t n = sizeof(digits);
    do {
        digits[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    textPut(t, digits + n, sizeof(digits) - n);
}

void textInt(textBuf *t, long long v) {
    if (v >= 0) {
        textUint(t, (unsigned long long)v);
        return;
    }
    /* One piece, so that a cut never leaves a lone '-'. */
    char digits[UINT_DIGITS + 1];
    size_t n = sizeof(digits);
    unsigned long long u = 0ull - (unsigned long long)v;
    do {
        digits[--n] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    digits[--n] = '-';
    textPut(t, digits + n, sizeof(digits) - n);
}

void textFixed(textBuf *t, unsigned long long v, unsigned decimals) {
    char digits[UINT_DIGITS + 2]; /* the digits, a point, a leading zero */
    size_t n = sizeof(digits);
    for (unsigned i = 0; i < decimals; i++) {
        digits[--n] = (char)('0' + v % 10);
        v /= 10;
    }
    if (decimals)
        digits[--n] = '.';
    do {
        digits[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    textPut(t, digits + n, sizeof(digits) - n);
}

/* One character of s as JSON string contents, into out; its length. */
static size_t jsonChar(unsigned char c, char out[6]) {
    static const char hex[] = "0123456789abcdef";
    if (c == '"' || c == '\\') {
        out[0] = '\\';
        out[1] = (char)c;
        return 2;
    }
    if (c < 0x20) {
        memcpy(out, "\\u00", 4);
        out[4] = hex[c >> 4];
        out[5] = hex[c & 0xf];
        return 6;
    }
    out[0] = c < 0x80 ? (char)c : '?';
    return 1;
}

void textJson(textBuf *t, const char *s) {
    char esc[6];
    for (const unsigned char *p = (const unsigned char *)s; *p && !t->truncated; p++)
        textPut(t, esc, jsonChar(*p, esc));
}

bool textJsonFit(textBuf *t, const char *s, size_t keep) {
    char esc[6];
    for (const unsigned char *p = (const unsigned char *)s; *p && !t->truncated; p++) {
        size_t n = jsonChar(*p, esc);
        if (t->cap - t->len < keep || n > t->cap - t->len - keep)
            return false;
        textPut(t, esc, n);
    }
    return true;
}

void textf(textBuf *t, const char *fmt, ...) {
    if (t->truncated)
        return;
    size_t room = t->cap - t->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room)
        t->truncated = true;
    else
        t->len += (size_t)n;
}
