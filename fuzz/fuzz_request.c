/* fuzz_request.c -- libFuzzer target for requestParse (server/routes/calculate_body.h).
 *
 * Any byte string is a POST /calculate body. requestParse must never crash,
 * read outside the body, leak, or hit undefined behaviour (ASan, UBSan and
 * LeakSanitizer watch), and what it answers must obey docs/api.md:
 *
 *   refused   err holds a non-empty message, NUL-terminated inside its size.
 *   accepted  1..REQUEST_MAX_CALLS calls (exactly 1 without "calls"), every
 *             |a|, |b| <= 2^53 - 1, delay_ms <= REQUEST_MAX_DELAY_MS and 0
 *             when not given; outside its strings the body holds nothing but
 *             JSON structure, whitespace and integer digits (no fraction, no
 *             exponent, no true/false/null slipped through); and the request
 *             written back as canonical JSON parses again to the very same
 *             request (no value was rounded).
 *
 * A broken rule aborts with a message, which libFuzzer reports as a crash.
 * The same file, linked with replay.c instead of libFuzzer, replays the
 * seed corpus under CTest in every build.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calculate_body.h"

/* Room for the canonical form of the largest request: 64 calls of two
 * 17-character integers and their punctuation. */
#define CANONICAL_BYTES 4096

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_request: broken rule at %s:%d: %s\n", __FILE__, __LINE__,        \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool _inRange(int64_t v) {
    return v >= -REQUEST_MAX_INT && v <= REQUEST_MAX_INT;
}

/* Outside strings, an accepted body can only hold JSON whitespace,
 * structure and integers in JSON's own spelling, -?(0|[1-9][0-9]*): every
 * field is an integer, an object or an array of objects. Checked on the
 * text itself, independently of cJSON. */
static bool _onlyIntegerTokens(const char *body, size_t len) {
    static const char structure[] = "{}[]:, \t\r\n";
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (c == '"') {
            for (i++; i < len && body[i] != '"'; i++)
                if (body[i] == '\\')
                    i++;
        } else if (c == '-' || isdigit((unsigned char)c)) {
            size_t d = c == '-' ? i + 1 : i;
            if (d >= len || !isdigit((unsigned char)body[d]))
                return false;
            if (body[d] == '0' && d + 1 < len && isdigit((unsigned char)body[d + 1]))
                return false;
            for (i = d; i + 1 < len && isdigit((unsigned char)body[i + 1]); i++)
                ;
        } else if (c == '\0' || !strchr(structure, c)) {
            return false;
        }
    }
    return true;
}

/* Writes req back as the JSON docs/api.md documents. */
static size_t _canonical(const requestBody *req, char *buf, size_t cap) {
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "{");
    if (req->has_delay)
        n += (size_t)snprintf(buf + n, cap - n, "\"delay_ms\": %u, ", req->delay_ms);
    if (!req->batch) {
        n += (size_t)snprintf(buf + n, cap - n, "\"a\": %lld, \"b\": %lld}",
                              (long long)req->calls[0].a, (long long)req->calls[0].b);
        return n;
    }
    n += (size_t)snprintf(buf + n, cap - n, "\"calls\": [");
    for (unsigned i = 0; i < req->ncalls; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s{\"a\": %lld, \"b\": %lld}", i ? ", " : "",
                              (long long)req->calls[i].a, (long long)req->calls[i].b);
    n += (size_t)snprintf(buf + n, cap - n, "]}");
    return n;
}

static void _checkAccepted(const char *body, size_t len, const requestBody *req) {
    REQUIRE(_onlyIntegerTokens(body, len));
    REQUIRE(req->ncalls >= 1 && req->ncalls <= REQUEST_MAX_CALLS);
    REQUIRE(req->batch || req->ncalls == 1);
    for (unsigned i = 0; i < req->ncalls; i++) {
        REQUIRE(_inRange(req->calls[i].a));
        REQUIRE(_inRange(req->calls[i].b));
    }
    REQUIRE(req->delay_ms <= REQUEST_MAX_DELAY_MS);
    REQUIRE(req->has_delay || req->delay_ms == 0);

    /* The canonical form must mean the same request: nothing was rounded
     * or lost on the way in. */
    char canon[CANONICAL_BYTES];
    size_t clen = _canonical(req, canon, sizeof(canon));
    REQUIRE(clen < sizeof(canon));
    requestBody again;
    char err[REQUEST_ERR_LEN];
    bool ok = requestParse(canon, clen, &again, err);
    if (!ok)
        fprintf(stderr, "fuzz_request: canonical form refused: %s\n%s\n", err, canon);
    REQUIRE(ok);
    REQUIRE(again.ncalls == req->ncalls && again.batch == req->batch);
    REQUIRE(again.has_delay == req->has_delay && again.delay_ms == req->delay_ms);
    REQUIRE(memcmp(again.calls, req->calls, req->ncalls * sizeof(req->calls[0])) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* Exactly size + 1 bytes, as the server hands the body over, so that
     * ASan sees any read past the terminating NUL. */
    char *body = malloc(size + 1);
    if (!body)
        return 0;
    if (size)
        memcpy(body, data, size);
    body[size] = '\0';

    requestBody req;
    char err[REQUEST_ERR_LEN];
    memset(err, 'x', sizeof(err)); /* an unterminated message shows */
    if (requestParse(body, size, &req, err)) {
        _checkAccepted(body, size, &req);
    } else {
        REQUIRE(memchr(err, '\0', sizeof(err)) != NULL);
        REQUIRE(err[0] != '\0');
    }
    free(body);
    return 0;
}
