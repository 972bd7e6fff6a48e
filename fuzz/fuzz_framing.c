/* fuzz_framing.c -- libFuzzer target: any header block through the framing
 * checks of server/http/framing.c.
 *
 * The input is read as libmicrohttpd hands headers to us: its first byte
 * says whether the request line was HTTP/1.1 (low bit), the rest is split
 * into lines at LF (a CR before it dropped), each line into a name (up to
 * the first colon) and a value (after it, blanks trimmed); a line without a
 * colon is skipped (libmicrohttpd refuses it itself). The rule checked: a
 * header block the checks accept is unambiguous, counted here on its own
 * (at most one Content-Length, of digits only; at most one
 * Transfer-Encoding, exactly "chunked", never with Content-Length; every
 * name a token; no control byte but HTAB in a value; exactly one Host in
 * HTTP/1.1, at most one otherwise). Aborts when a block breaks it. The walk
 * of libmicrohttpd's buffer (framingSection) is not fuzzed here: its cases
 * are in tests/integration/framing_cases.txt, against the real library.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "framing.h"

static bool tokenChar(unsigned char c) {
    static const char extra[] = "!#$%&'*+-.^_`|~";
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && memchr(extra, c, sizeof(extra) - 1) != NULL);
}

static bool named(const char *p, size_t n, const char *want) {
    return n == strlen(want) && strncasecmp(p, want, n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    bool http11 = data[0] & 1;
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    framing f;
    framingInit(&f);
    unsigned cl = 0, te = 0, host = 0;
    bool bad = false;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        const char *line_end = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon) {
            const char *v = colon + 1, *ve = line_end;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            size_t nlen = (size_t)(colon - p), vlen = (size_t)(ve - v);
            framingAdd(&f, p, nlen, v, vlen);

            bad |= nlen == 0;
            for (size_t i = 0; i < nlen; i++)
                bad |= !tokenChar((unsigned char)p[i]);
            for (size_t i = 0; i < vlen; i++)
                bad |= ((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f;
            if (named(p, nlen, "Content-Length")) {
                cl++;
                bad |= vlen == 0;
                for (size_t i = 0; i < vlen; i++)
                    bad |= v[i] < '0' || v[i] > '9';
            } else if (named(p, nlen, "Transfer-Encoding")) {
                te++;
                bad |= !named(v, vlen, "chunked");
            } else if (named(p, nlen, "Host")) {
                host++;
            }
        }
        p = eol + 1;
    }
    bad |= cl > 1 || te > 1 || (cl && te) || host > 1 || (http11 && host == 0);
    const char *verdict = framingVerdict(&f, http11);
    if ((verdict == NULL) == bad) /* accepted what is ambiguous, or refused what is not */
        abort();
    return 0;
}
