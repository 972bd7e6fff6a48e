/* calculate_answer.c -- the text of a POST /calculate answer. */
#include "calculate_answer.h"

#include "calculate_body.h"
#include "reply.h"

_Static_assert(CALC_ANSWER_BYTES >= REQUEST_MAX_CALLS * 48 + 96, "a batch's answer must fit");

size_t calcAnswerText(textBuf *t, const calcAnswer *r) {
    if (!r->batch) {
        TEXT_LIT(t, "{\"result\":");
        textInt(t, r->results[0]);
        if (r->cached[0])
            TEXT_LIT(t, ",\"cached\":true,\"instance\":");
        else
            TEXT_LIT(t, ",\"cached\":false,\"instance\":");
    } else {
        TEXT_LIT(t, "{\"results\":[");
        for (unsigned i = 0; i < r->ncalls; i++) {
            if (i)
                textChar(t, ',');
            TEXT_LIT(t, "{\"result\":");
            textInt(t, r->results[i]);
            if (r->cached[i])
                TEXT_LIT(t, ",\"cached\":true}");
            else
                TEXT_LIT(t, ",\"cached\":false}");
        }
        TEXT_LIT(t, "],\"instance\":");
    }
    textUint(t, r->instance);
    TEXT_LIT(t, ",\"elapsed_ms\":");
    textFixed(t, r->elapsed_tenths_ms, 1);
    TEXT_LIT(t, "}\n"); /* a newline ends every answer, as curl users expect */
    return textEnd(t);
}

enum MHD_Result calcAnswerQueue(struct MHD_Connection *conn, const calcAnswer *r) {
    char buf[CALC_ANSWER_BYTES];
    textBuf t = textOn(buf, sizeof(buf));
    size_t len = calcAnswerText(&t, r);
    if (len == 0) /* cannot happen (the assertion above): but never send a cut answer */
        return replyError(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "the answer does not fit", NULL);
    return replyQueueLean(conn, REPLY_JSON, buf, len);
}
