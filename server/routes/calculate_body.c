/* calculate_body.c -- the POST /calculate body, checked field by field. */
#include "calculate_body.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

/* ---------------------------------------------------------------- private */

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(err, REQUEST_ERR_LEN, __VA_ARGS__);                                               \
        return false;                                                                              \
    } while (0)

static bool isHex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One escape inside a string, at s[i] == '\\': RFC 8259 section 7 allows
 * \" \\ \/ \b \f \n \r \t and \u with four hex digits; cJSON 1.7.15 takes
 * any other letter for itself and "\u12" for a code point. Returns the
 * index of the escape's last byte, or 0 when it is not JSON. (A lone
 * surrogate, "\ud800", is refused by cJSON.) */
static size_t escapeEnd(const char *s, size_t len, size_t i) {
    if (i + 1 >= len || !strchr("\"\\/bfnrtu", s[i + 1]) || s[i + 1] == '\0')
        return 0;
    if (s[i + 1] != 'u')
        return i + 1;
    for (size_t k = i + 2; k < i + 6; k++)
        if (k >= len || !isHex(s[k]))
            return 0;
    return i + 5;
}

/* cJSON reads numbers with strtod, so 1.0, 1e2 and 2^53 + 1 would all pass as
 * integers. docs/api.md wants JSON integers: look at the text itself. cJSON
 * also takes any control character for whitespace and 01 for a number (found
 * by fuzz/fuzz_request), and inside a string a raw control character and
 * an escape RFC 8259 does not have (JSONTestSuite's n_string_unescaped_tab,
 * n_string_invalid_unicode_escape): JSON takes none of these. One pass over
 * the body, before cJSON. */
static bool checkText(const char *s, size_t len, char err[REQUEST_ERR_LEN]) {
    bool in_string = false, nul = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\') {
                /* cJSON cuts a name at an escaped NUL: "a\u0000" would pass
                 * for a. No field of the API has one in its name. */
                nul |= len - i > 5 && memcmp(s + i + 1, "u0000", 5) == 0;
                size_t end = escapeEnd(s, len, i);
                if (end == 0)
                    FAIL("the body is not JSON: a string holds an escape JSON does not have");
                i = end;
            } else if (c == '"') {
                in_string = false;
                size_t j = i + 1;
                while (nul && j < len && s[j] != '\0' && strchr(" \t\r\n", s[j]))
                    j++;
                if (nul && j < len && s[j] == ':')
                    FAIL("unknown field: its name holds a NUL (\\u0000)");
            } else if ((unsigned char)c < 0x20) {
                FAIL("the body is not JSON: control character 0x%02x inside a string", c);
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
            nul = false;
        } else if ((unsigned char)c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            FAIL("the body is not JSON: control character 0x%02x outside a string", c);
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i, digit = c == '-' ? i + 1 : i;
            if (digit + 1 < len && s[digit] == '0' && s[digit + 1] >= '0' && s[digit + 1] <= '9')
                FAIL("the body is not JSON: a number starts with 0");
            while (i + 1 < len && s[i + 1] != '\0' && strchr("+-0123456789.eE", s[i + 1]))
                i++;
            for (size_t j = start; j <= i; j++)
                if (s[j] == '.' || s[j] == 'e' || s[j] == 'E')
                    FAIL("numbers must be integers, without a fraction or an exponent: %.*s",
                         (int)(i - start + 1 > 32 ? 32 : i - start + 1), s + start);
        }
    }
    return true;
}

static bool readInteger(const cJSON *item, const char *name, int64_t lo, int64_t hi, int64_t *out,
                        char err[REQUEST_ERR_LEN]) {
    if (!item)
        FAIL("field '%s' is missing", name);
    if (!cJSON_IsNumber(item))
        FAIL("field '%s' must be an integer", name);
    double v = item->valuedouble;
    if (!isfinite(v) || v != floor(v) || v < (double)lo || v > (double)hi)
        FAIL("field '%s' must be an integer from %lld to %lld", name, (long long)lo, (long long)hi);
    *out = (int64_t)v;
    return true;
}

/* Every key of obj must be in allowed (NULL-terminated) and appear once. */
static bool onlyKnownFields(const cJSON *obj, const char *const *allowed, const char *where,
                            char err[REQUEST_ERR_LEN]) {
    for (const cJSON *f = obj->child; f; f = f->next) {
        bool known = false;
        for (const char *const *a = allowed; *a; a++)
            known |= strcmp(f->string, *a) == 0;
        if (!known)
            FAIL("unknown field '%.40s' in %s", f->string, where);
        for (const cJSON *g = obj->child; g != f; g = g->next)
            if (strcmp(f->string, g->string) == 0)
                FAIL("field '%.40s' appears twice in %s", f->string, where);
    }
    return true;
}

static bool pair(const cJSON *obj, requestCall *call, char err[REQUEST_ERR_LEN]) {
    return readInteger(cJSON_GetObjectItemCaseSensitive(obj, "a"), "a", -REQUEST_MAX_INT,
                       REQUEST_MAX_INT, &call->a, err) &&
           readInteger(cJSON_GetObjectItemCaseSensitive(obj, "b"), "b", -REQUEST_MAX_INT,
                       REQUEST_MAX_INT, &call->b, err);
}

static bool parseRoot(const cJSON *root, requestBody *out, char err[REQUEST_ERR_LEN]) {
    static const char *const top_fields[] = {"a", "b", "calls", "delay_ms", NULL};
    static const char *const call_fields[] = {"a", "b", NULL};

    if (!cJSON_IsObject(root))
        FAIL("the body must be a JSON object");
    if (!onlyKnownFields(root, top_fields, "the body", err))
        return false;

    const cJSON *delay = cJSON_GetObjectItemCaseSensitive(root, "delay_ms");
    if (delay) {
        int64_t d;
        if (!readInteger(delay, "delay_ms", 0, REQUEST_MAX_DELAY_MS, &d, err))
            return false;
        out->has_delay = true;
        out->delay_ms = (unsigned)d;
    }

    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(root, "calls");
    if (!calls) {
        out->ncalls = 1;
        return pair(root, &out->calls[0], err);
    }
    if (cJSON_GetObjectItemCaseSensitive(root, "a") || cJSON_GetObjectItemCaseSensitive(root, "b"))
        FAIL("give either 'a' and 'b', or 'calls', not both");
    if (!cJSON_IsArray(calls))
        FAIL("field 'calls' must be an array");
    out->batch = true;
    int n = cJSON_GetArraySize(calls);
    if (n < 1 || n > REQUEST_MAX_CALLS)
        FAIL("field 'calls' must hold 1 to %d calls, not %d", REQUEST_MAX_CALLS, n);
    unsigned i = 0;
    for (const cJSON *c = calls->child; c; c = c->next, i++) {
        if (!cJSON_IsObject(c))
            FAIL("calls[%u] must be an object with 'a' and 'b'", i);
        char where[32];
        snprintf(where, sizeof(where), "calls[%u]", i);
        if (!onlyKnownFields(c, call_fields, where, err) || !pair(c, &out->calls[i], err))
            return false;
    }
    out->ncalls = i;
    return true;
}

/* -------------------------------------------------------------------- API */

bool requestParse(const char *body, size_t len, requestBody *out, char err[REQUEST_ERR_LEN]) {
    memset(out, 0, offsetof(requestBody, calls));
    if (len == 0)
        FAIL("the body is empty: send a JSON object such as {\"a\": 1, \"b\": 2}");
    if (memchr(body, '\0', len))
        FAIL("the body is not JSON: it holds a NUL byte");
    if (!checkText(body, len, err))
        return false;

    const char *end = NULL;
    /* len + 1: cJSON wants the terminating NUL inside the length. */
    cJSON *root = cJSON_ParseWithLengthOpts(body, len + 1, &end, 1);
    if (!root)
        FAIL("the body is not JSON (or nests deeper than %d levels)", CJSON_NESTING_LIMIT);
    bool ok = parseRoot(root, out, err);
    cJSON_Delete(root);
    return ok;
}
