/* calculate_body.h -- parsing and checking a POST /calculate body.
 *
 * Accepts exactly the shapes docs/api.md gives: {"a": A, "b": B} or
 * {"calls": [{"a": A, "b": B}, ...]} (1 to REQUEST_MAX_CALLS calls), each
 * with an optional "delay_ms" (0 to REQUEST_MAX_DELAY_MS). A and B are JSON
 * integers (no fraction, no exponent) with |x| <= 2^53 - 1. Anything else --
 * not JSON, another type, a missing, unknown or repeated field -- is refused
 * with a message for a person. Pure and thread-safe; allocates only inside
 * cJSON and frees it before returning.
 */
#ifndef CALCULATE_BODY_H
#define CALCULATE_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REQUEST_MAX_CALLS 64
#define REQUEST_MAX_DELAY_MS 10000
#define REQUEST_MAX_INT 9007199254740991LL /* 2^53 - 1 */
#define REQUEST_ERR_LEN 160

typedef struct requestCall {
    int64_t a, b;
} requestCall;

typedef struct requestBody {
    unsigned ncalls;
    bool batch;     /* the body used "calls" */
    bool has_delay; /* the body set "delay_ms" */
    unsigned delay_ms;
    requestCall calls[REQUEST_MAX_CALLS];
} requestBody;

/* Parses body[0..len). body[len] must be '\0' (the buffer holds len + 1
 * bytes). On success fills out and returns true; otherwise writes a message
 * into err (REQUEST_ERR_LEN bytes) and returns false. */
bool requestParse(const char *body, size_t len, requestBody *out, char err[REQUEST_ERR_LEN]);

#endif /* CALCULATE_BODY_H */
