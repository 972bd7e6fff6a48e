/* redis_url.c -- Redis URLs: parse them, and redact their password. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_url.h"

#define DEFAULT_PORT 6379
#define MAX_DB 1000000

static bool urlFail(char *err, size_t cap, const char *msg) {
    snprintf(err, cap, "%s", msg);
    return false;
}

/* A whole decimal number in [0, max]; false on anything else. */
static bool urlNumber(const char *s, size_t n, unsigned max, unsigned *out) {
    if (n == 0 || n > 9)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

static bool copy(char *dst, size_t cap, const char *src, size_t n) {
    if (n >= cap)
        return false;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return true;
}

static bool parseUnix(const char *rest, rcliTarget *t, char *err, size_t errcap) {
    const char *q = strchr(rest, '?');
    size_t n = q ? (size_t)(q - rest) : strlen(rest);
    if (n == 0 || rest[0] != '/')
        return urlFail(err, errcap, "a unix:// URL needs an absolute socket path (unix:///path)");
    if (!copy(t->host, sizeof(t->host), rest, n))
        return urlFail(err, errcap, "the socket path is too long");
    if (q) {
        if (strncmp(q, "?db=", 4) != 0 || !urlNumber(q + 4, strlen(q + 4), MAX_DB, &t->db))
            return urlFail(err, errcap, "the only query a unix:// URL takes is ?db=N");
    }
    return true;
}

bool rcliParseUrl(const char *url, rcliTarget *t, char *err, size_t errcap) {
    memset(t, 0, sizeof(*t));
    t->port = DEFAULT_PORT;
    if (strlen(url) >= RCLI_URL_LEN)
        return urlFail(err, errcap, "the URL is too long");
    if (strncmp(url, "unix://", 7) == 0) {
        t->unix_socket = true;
        return parseUnix(url + 7, t, err, errcap);
    }
    if (strncmp(url, "redis://", 8) != 0)
        return urlFail(err, errcap, "must start with redis:// or unix://");
    const char *p = url + 8;
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    /* The password may hold '@': the host part starts after the last one. */
    const char *at = NULL;
    for (const char *c = p; c < end; c++)
        if (*c == '@')
            at = c;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon)
            return urlFail(err, errcap, "credentials must be :password@ or user:password@");
        if (!copy(t->user, sizeof(t->user), p, (size_t)(colon - p)) ||
            !copy(t->password, sizeof(t->password), colon + 1, (size_t)(at - colon - 1)))
            return urlFail(err, errcap, "the credentials are too long");
        p = at + 1;
    }
    const char *colon = memchr(p, ':', (size_t)(end - p));
    const char *host_end = colon ? colon : end;
    if (host_end == p)
        return urlFail(err, errcap, "the URL names no host");
    if (!copy(t->host, sizeof(t->host), p, (size_t)(host_end - p)))
        return urlFail(err, errcap, "the host is too long");
    if (colon &&
        (!urlNumber(colon + 1, (size_t)(end - colon - 1), 65535, &t->port) || t->port == 0))
        return urlFail(err, errcap, "the port must be a number from 1 to 65535");
    if (slash && slash[1] && !urlNumber(slash + 1, strlen(slash + 1), MAX_DB, &t->db))
        return urlFail(err, errcap, "the database must be a number (redis://host:port/N)");
    return true;
}

void rcliRedactUrl(const char *url, char *out, size_t cap) {
    const char *scheme = strstr(url, "://");
    const char *p = scheme ? scheme + 3 : url;
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    const char *at = NULL;
    for (const char *c = p; c < end; c++)
        if (*c == '@')
            at = c;
    const char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
    if (!at) {
        snprintf(out, cap, "%s", url); /* no password to hide */
        return;
    }
    if (!colon) { /* not a URL we take; drop its credentials whatever they are */
        snprintf(out, cap, "%.*s%s", (int)(p - url), url, at + 1);
        return;
    }
    snprintf(out, cap, "%.*s***%s", (int)(colon + 1 - url), url, at);
}
