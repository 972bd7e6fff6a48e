/* redis_url.c -- Redis URLs: parse them, and show them without the password.
 *
 * A URL that fails to parse is never shown, not even in part: the error
 * names the part that is wrong. A URL that parses is shown rebuilt from its
 * parts, with "***" for the password, so that no shape of URL can carry the
 * password into a log line or /stats.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_url.h"
#include "text.h"

#define DEFAULT_PORT 6379
#define MAX_PORT 65535
#define MAX_DB 1000000
#define REDIS_SCHEME "redis://"
#define UNIX_SCHEME "unix://"

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

static bool isControl(char c) {
    return (unsigned char)c < 0x20 || c == 0x7f;
}

typedef enum decodeResult {
    DECODE_OK,
    DECODE_LONG,
    DECODE_ESCAPE,
    DECODE_NUL,
    DECODE_CONTROL
} decodeResult;

/* Percent-decodes n bytes of src into dst (cap bytes, NUL-terminated). */
static decodeResult decode(char *dst, size_t cap, const char *src, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (isControl(c))
            return DECODE_CONTROL;
        if (c == '%') {
            if (i + 2 >= n || textHexValue(src[i + 1]) < 0 || textHexValue(src[i + 2]) < 0)
                return DECODE_ESCAPE;
            int hi = textHexValue(src[i + 1]), lo = textHexValue(src[i + 2]);
            c = (char)(hi * 16 + lo);
            if (c == '\0')
                return DECODE_NUL; /* a C string cannot hold it */
            i += 2;
        }
        if (o + 1 >= cap)
            return DECODE_LONG;
        dst[o++] = c;
    }
    dst[o] = '\0';
    return DECODE_OK;
}

/* The user name or the password (what names which), decoded; false with a
 * message that names the part, never its text. */
static bool decodePart(char *dst, size_t cap, const char *src, size_t n, const char *what,
                       char *err, size_t errcap) {
    switch (decode(dst, cap, src, n)) {
    case DECODE_OK:
        return true;
    case DECODE_LONG:
        snprintf(err, errcap, "the %s is too long (at most %zu bytes)", what, cap - 1);
        break;
    case DECODE_ESCAPE:
        snprintf(err, errcap,
                 "the %s has a '%%' not followed by two hex digits (write a '%%' itself as %%25)",
                 what);
        break;
    case DECODE_NUL:
        snprintf(err, errcap, "the %s holds %%00, which cannot be sent", what);
        break;
    case DECODE_CONTROL:
        snprintf(err, errcap, "the %s holds a control character (percent-encode it)", what);
        break;
    }
    dst[0] = '\0'; /* nothing of a refused secret stays behind */
    return false;
}

/* A host name or IPv4 address: letters, digits, '.', '-', '_'. */
static bool hostOk(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

/* An IPv6 address between brackets: hex digits, ':' and '.'. */
static bool ipv6Ok(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (textHexValue(s[i]) < 0 && s[i] != ':' && s[i] != '.')
            return false;
    return n > 0;
}

static bool parseUnix(const char *rest, rcliTarget *t, char *err, size_t errcap) {
    const char *q = strchr(rest, '?');
    size_t n = q ? (size_t)(q - rest) : strlen(rest);
    if (n == 0 || rest[0] != '/')
        return urlFail(err, errcap, "a unix:// URL needs an absolute socket path (unix:///path)");
    for (size_t i = 0; i < n; i++)
        if (isControl(rest[i]))
            return urlFail(err, errcap, "the socket path holds a control character");
    if (!copy(t->host, sizeof(t->host), rest, n))
        return urlFail(err, errcap, "the socket path is too long");
    if (q) {
        if (strncmp(q, "?db=", 4) != 0 || !urlNumber(q + 4, strlen(q + 4), MAX_DB, &t->db))
            return urlFail(err, errcap, "the only query a unix:// URL takes is ?db=N");
    }
    return true;
}

/* user:password or :password, up to the URL's last '@'. */
static bool parseCredentials(const char *p, size_t n, rcliTarget *t, char *err, size_t errcap) {
    const char *colon = memchr(p, ':', n);
    if (!colon)
        return urlFail(err, errcap,
                       "the credentials before the '@' must be :password or user:password");
    return decodePart(t->user, sizeof(t->user), p, (size_t)(colon - p), "user name", err, errcap) &&
           decodePart(t->password, sizeof(t->password), colon + 1, (size_t)(p + n - colon - 1),
                      "password", err, errcap);
}

/* host[:port][/[db]], the part after the credentials. */
static bool parseServer(const char *p, rcliTarget *t, char *err, size_t errcap) {
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    const char *host = p, *host_end;
    if (*p == '[') { /* [IPv6] */
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close || !ipv6Ok(p + 1, (size_t)(close - p - 1)))
            return urlFail(err, errcap, "the IPv6 address between [ ] is not valid");
        host = p + 1;
        host_end = close;
        p = close + 1;
        if (p != end && *p != ':')
            return urlFail(err, errcap, "only :port may follow the IPv6 address");
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        host_end = colon ? colon : end;
        if (host_end == p)
            return urlFail(err, errcap, "the URL names no host");
        if (!hostOk(p, (size_t)(host_end - p)))
            return urlFail(err, errcap,
                           "the host may hold only letters, digits, '.', '-' and '_' (an IPv6 "
                           "address goes between [ ])");
        p = host_end;
    }
    if (!copy(t->host, sizeof(t->host), host, (size_t)(host_end - host)))
        return urlFail(err, errcap, "the host is too long");
    if (p < end && (!urlNumber(p + 1, (size_t)(end - p - 1), MAX_PORT, &t->port) || t->port == 0))
        return urlFail(err, errcap, "the port is not a number from 1 to 65535");
    if (slash && slash[1] && !urlNumber(slash + 1, strlen(slash + 1), MAX_DB, &t->db))
        return urlFail(err, errcap, "the database (after the '/') is not a number");
    return true;
}

/* Percent-encodes s into out: a user name shown can hold nothing that a
 * log line, JSON or a URL would read differently. */
static void encode(char *out, size_t cap, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~", c)) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

/* -------------------------------------------------------------------- API */

bool rcliParseUrl(const char *url, rcliTarget *t, char *err, size_t errcap) {
    memset(t, 0, sizeof(*t));
    t->port = DEFAULT_PORT;
    if (strlen(url) >= RCLI_URL_LEN)
        return urlFail(err, errcap, "the URL is too long (at most 255 bytes)");
    if (strncmp(url, UNIX_SCHEME, strlen(UNIX_SCHEME)) == 0) {
        t->unix_socket = true;
        return parseUnix(url + strlen(UNIX_SCHEME), t, err, errcap);
    }
    if (strncmp(url, "rediss://", 9) == 0)
        return urlFail(err, errcap, "rediss:// (TLS) is not supported: use redis:// or unix://");
    if (strncmp(url, REDIS_SCHEME, strlen(REDIS_SCHEME)) != 0)
        return urlFail(err, errcap, "the URL must start with redis:// or unix://");
    const char *p = url + strlen(REDIS_SCHEME);
    /* What follows the credentials (host, port, database) never holds an
     * '@', so the last '@' ends them: a password may hold '@', '/', ':'
     * and '%'-escapes without ambiguity. */
    const char *at = strrchr(p, '@');
    bool ok = true;
    if (at) {
        ok = parseCredentials(p, (size_t)(at - p), t, err, errcap);
        p = at + 1;
    }
    ok = ok && parseServer(p, t, err, errcap);
    if (!ok)
        memset(t, 0, sizeof(*t)); /* no part of a refused URL is kept */
    return ok;
}

void rcliRedactUrl(const char *url, char *out, size_t cap) {
    rcliTarget t;
    char err[8];
    if (!rcliParseUrl(url, &t, err, sizeof(err))) {
        snprintf(out, cap, "(not a valid URL)");
        return;
    }
    if (t.unix_socket) {
        if (t.db)
            snprintf(out, cap, "%s%s?db=%u", UNIX_SCHEME, t.host, t.db);
        else
            snprintf(out, cap, "%s%s", UNIX_SCHEME, t.host);
        memset(&t, 0, sizeof(t));
        return;
    }
    char user[3 * sizeof(t.user)] = "";
    encode(user, sizeof(user), t.user);
    bool v6 = strchr(t.host, ':') != NULL;
    snprintf(out, cap, "%s%s%s%s%s%s:%u/%u", REDIS_SCHEME, user,
             t.password[0] ? ":***@"
             : user[0]     ? ":@"
                           : "",
             v6 ? "[" : "", t.host, v6 ? "]" : "", t.port, t.db);
    memset(&t, 0, sizeof(t));
}
