/* calculate_answer.h -- what a POST /calculate answers, written with the
 * bounded text writer (text.h) and queued with the fewest headers.
 *
 * Thread-safe: any worker may call them.
 */
#ifndef CALCULATE_ANSWER_H
#define CALCULATE_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "text.h"

/* What a POST /calculate answers. The arrays are the caller's, read only
 * during the call. */
typedef struct calcAnswer {
    bool batch;      /* the body used "calls": answer with "results" */
    unsigned ncalls; /* 1 when not a batch */
    const int64_t *results;
    const bool *cached;
    unsigned long long instance;
    unsigned long long elapsed_tenths_ms; /* elapsed_ms, in tenths */
} calcAnswer;

/* Bytes a POST /calculate answer needs at most: a batch of 64 results fits
 * with room to spare. */
#define CALC_ANSWER_BYTES 8192

/* Writes the answer's JSON text (newline-ended) into t; returns its length,
 * or 0 when it did not fit. */
size_t calcAnswerText(textBuf *t, const calcAnswer *r);

/* Queues the 200 JSON answer of a POST /calculate, with the fewest
 * headers: it is the hot path. */
enum MHD_Result calcAnswerQueue(struct MHD_Connection *conn, const calcAnswer *r);

#endif /* CALCULATE_ANSWER_H */
