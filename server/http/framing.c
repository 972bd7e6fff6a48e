/* framing.c -- the request framing checks libmicrohttpd 0.9.75 leaves to us. */
#include "framing.h"

#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- private */

/* tchar of RFC 9110 section 5.6.2. */
static bool isTchar(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool nameIs(const char *name, size_t len, const char *want) {
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

static void fault(framing *f, const char *msg) {
    if (!f->bad)
        f->bad = msg;
}

static enum MHD_Result visit(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                             const char *value, size_t value_size) {
    (void)kind;
    framingAdd(cls, key, key_size, value ? value : "", value ? value_size : 0);
    return MHD_YES;
}

/* -------------------------------------------------------------------- API */

void framingInit(framing *f) {
    memset(f, 0, sizeof(*f));
}

void framingAdd(framing *f, const char *name, size_t name_len, const char *value,
                size_t value_len) {
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
        if (value[i] == '\0' || value[i] == '\r' || value[i] == '\n') {
            fault(f, "a header field's value holds NUL, CR or LF");
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
    if (f->content_length && f->transfer_encoding)
        return "Content-Length together with Transfer-Encoding";
    if (http11 && f->host == 0)
        return "an HTTP/1.1 request without Host";
    return NULL;
}

const char *framingCheck(struct MHD_Connection *conn, const char *version) {
    framing f;
    framingInit(&f);
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, visit, &f);
    return framingVerdict(&f, version && strcmp(version, MHD_HTTP_VERSION_1_1) == 0);
}
