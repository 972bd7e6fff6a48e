/* framing.c -- the request framing checks libmicrohttpd 0.9.75 leaves to us. */
#include "framing.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "text.h"

/* The walk reads libmicrohttpd's buffer as 0.9.75 to 0.9.77 lay it out
 * (framing.h); 1.0 rewrote that parser. It reads nothing but the header
 * section's bytes, which lie in the connection's memory pool even when a
 * folded line made libmicrohttpd move its read buffer to grow it (the
 * section then spans the fold's copy and the moved buffer: the fold's own
 * bytes are met, and the request refused). */
#if MHD_VERSION < 0x00097500 || MHD_VERSION > 0x00097799
#error "framing.c walks libmicrohttpd 0.9.75's header buffer: read this release's parser first"
#endif

/* ---------------------------------------------------------------- private */

#define LINE_END_MAX 2    /* CRLF; a bare LF is 1 */
#define SECTION_END_MIN 2 /* the last line's end and the empty line, both LF */

static const char FOLDED[] = "a header field line is folded (obs-fold)";
static const char HOLDS_NUL[] = "a header field holds a NUL";
static const char UNREADABLE[] = "the header section could not be read";
static const char TARGET_NUL[] = "the request target holds a NUL";
static const char TARGET_CTL[] = "the request target holds a control character or a space";

/* tchar of RFC 9110 section 5.6.2: ALPHA, DIGIT and !#$%&'*+-.^_`|~, one
 * bit per byte value (every name byte of every request is looked up). */
static bool isTchar(unsigned char c) {
    static const uint64_t tchar[4] = {0x03ff6cfa00000000ull, 0x57ffffffc7fffffeull, 0, 0};
    return (tchar[c >> 6] >> (c & 63)) & 1;
}

/* A control byte of RFC 5234 (CTL): 0x00-0x1F and 0x7F. */
static bool isCtl(unsigned char c) {
    return c < 0x20 || c == 0x7f;
}

static bool nameIs(const char *name, size_t len, const char *want) {
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

static void fault(framing *f, const char *msg) {
    if (!f->bad)
        f->bad = msg;
}

static bool allNul(const char *p, const char *end) {
    for (; p < end; p++)
        if (*p != '\0')
            return false;
    return true;
}

/* One field line of the walk: it must begin right after the previous
 * line's end (one or two NULs, the CRLF or LF), its name end at the NUL of
 * its colon, and its value follow after blanks. A folded field was copied
 * out of the section; a NUL the client sent leaves bytes behind its value. */
static void walkLine(framing *f, const char *name, size_t name_len, const char *value,
                     size_t value_len) {
    const char *at = f->at, *end = f->end;
    if (name < at || name >= end) {
        fault(f, name < at ? UNREADABLE : FOLDED);
        return;
    }
    /* a line end alone, or, after a NUL in a value, that value's rest too */
    if (!allNul(at, name))
        fault(f, HOLDS_NUL);
    else if (name - at > LINE_END_MAX || name == at)
        fault(f, name == at ? UNREADABLE : HOLDS_NUL);
    const char *colon = name + name_len;
    if (colon >= end || *colon != '\0' || value <= colon || value > end ||
        value_len > (size_t)(end - value)) {
        fault(f, UNREADABLE);
        return;
    }
    for (const char *p = colon + 1; p < value; p++)
        if (*p != ' ' && *p != '\t')
            fault(f, UNREADABLE);
    f->at = value + value_len;
}

/* The request target, walked as framingUnescape left it: the path, then
 * after the NUL of a '?' the query's keys and values, each decoded in
 * place, NUL-terminated and followed by the LFs of the bytes decoding
 * freed. Any other byte is one that no decoding reached: it followed a NUL
 * the client sent. */
typedef struct target {
    const char *at, *end;
    const char *bad;
} target;

static void targetPart(target *t, const char *s, size_t len, bool path) {
    if (t->bad)
        return;
    if (s < t->at || s > t->end || len > (size_t)(t->end - s)) {
        t->bad = UNREADABLE;
        return;
    }
    for (const char *p = t->at; p < s; p++)
        if (*p != '\0' && *p != '\n') {
            t->bad = TARGET_NUL;
            return;
        }
    for (size_t i = 0; i < len; i++)
        if (isCtl((unsigned char)s[i]) || (path && s[i] == ' ')) {
            t->bad = TARGET_CTL;
            return;
        }
    t->at = s + len;
}

/* One request's checks: its header fields and its target. */
typedef struct checks {
    framing f;
    target t;
} checks;

/* Every query parameter and header field, in one pass over libmicrohttpd's
 * list (the parameters come first, read with the request line). */
static enum MHD_Result visit(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                             const char *value, size_t value_size) {
    checks *c = cls;
    if (kind == MHD_GET_ARGUMENT_KIND) {
        targetPart(&c->t, key, key_size, false);
        if (value)
            targetPart(&c->t, value, value_size, false);
    } else {
        framingAdd(&c->f, key, key_size, value ? value : "", value ? value_size : 0);
    }
    return MHD_YES;
}

/* -------------------------------------------------------------------- API */

void framingInit(framing *f) {
    memset(f, 0, sizeof(*f));
}

void framingSection(framing *f, const char *line_end, const char *end) {
    f->at = line_end;
    f->end = end;
    if (!line_end || !end || end < line_end)
        fault(f, UNREADABLE);
}

void framingAdd(framing *f, const char *name, size_t name_len, const char *value,
                size_t value_len) {
    if (f->at && !f->bad)
        walkLine(f, name, name_len, value, value_len);
    if (name_len == 0)
        fault(f, "a header field has an empty name");
    for (size_t i = 0; i < name_len; i++)
        if (!isTchar((unsigned char)name[i])) {
            fault(f, name[i] == ' ' || name[i] == '\t'
                         ? "whitespace between a header field's name and its colon"
                         : "a header field's name is not a token");
            break;
        }
    for (size_t i = 0; i < value_len; i++)
        if (isCtl((unsigned char)value[i]) && value[i] != '\t') {
            fault(f, "a header field's value holds a control character");
            break;
        }

    if (nameIs(name, name_len, "Content-Length")) {
        if (++f->content_length > 1)
            fault(f, "Content-Length is given more than once");
        bool digits = value_len > 0;
        for (size_t i = 0; i < value_len; i++)
            digits &= value[i] >= '0' && value[i] <= '9';
        if (!digits)
            fault(f, "Content-Length is not a decimal number");
    } else if (nameIs(name, name_len, "Transfer-Encoding")) {
        if (++f->transfer_encoding > 1)
            fault(f, "Transfer-Encoding is given more than once");
        if (!(value_len == 7 && strncasecmp(value, "chunked", 7) == 0))
            fault(f, "Transfer-Encoding other than chunked");
    } else if (nameIs(name, name_len, "Host")) {
        if (++f->host > 1)
            fault(f, "Host is given more than once");
    }
}

const char *framingVerdict(const framing *f, bool http11) {
    if (f->bad)
        return f->bad;
    /* after the last line: its end and the empty line, NULs alone */
    if (f->at && (f->end - f->at < SECTION_END_MIN || f->end - f->at > 2 * LINE_END_MAX ||
                  !allNul(f->at, f->end)))
        return HOLDS_NUL;
    if (f->content_length && f->transfer_encoding)
        return "Content-Length together with Transfer-Encoding";
    if (http11 && f->host == 0)
        return "an HTTP/1.1 request without Host";
    return NULL;
}

const char *framingCheck(struct MHD_Connection *conn, const char *url, const char *method,
                         const char *version) {
    /* the target ends at the NUL that replaced the space before the version */
    if (!url || !method || !version || url <= method || version <= url || version[-1] != '\0')
        return UNREADABLE;
    checks c = {.t = {url, version - 1, NULL}};
    targetPart(&c.t, url, strlen(url), true);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    framingInit(&c.f);
    framingSection(&c.f, version + strlen(version), ci ? method + ci->header_size : NULL);
    MHD_get_connection_values_n(conn, (enum MHD_ValueKind)(MHD_GET_ARGUMENT_KIND | MHD_HEADER_KIND),
                                visit, &c);
    targetPart(&c.t, c.t.end, 0, false); /* what is left of the target */
    if (c.t.bad)
        return c.t.bad;
    return framingVerdict(&c.f, strcmp(version, MHD_HTTP_VERSION_1_1) == 0);
}

size_t framingUnescape(void *cls, struct MHD_Connection *conn, char *s) {
    (void)cls;
    (void)conn;
    char *r = s, *w = s;
    while (*r) {
        int hi, lo, c;
        if (r[0] == '%' && (hi = textHexValue(r[1])) >= 0 && (lo = textHexValue(r[2])) >= 0 &&
            (c = hi * 16 + lo) > ' ' && c != 0x7f) {
            *w++ = (char)c;
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    size_t n = (size_t)(w - s);
    if (w < r) { /* r is on the old NUL, which stays */
        *w = '\0';
        memset(w + 1, '\n', (size_t)(r - w - 1));
    }
    return n;
}
