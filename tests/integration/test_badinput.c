/* test_badinput.c -- whatever a client sends, it gets the status docs/api.md gives
 * and a clear {"error": ...}, or, where HTTP itself breaks down, a closed
 * connection; and nothing it sent makes an instance or touches the cache.
 *
 * Each case runs against the real binary in shared scope (one process-wide
 * cache, primed with one entry first), and is followed by a look at /stats
 * and /cache: no instance created, none live, none in flight, the cache's
 * entries, hits and misses as they were. Cases libcurl cannot send (a NUL
 * in the body, a chunked body, floods of headers) go over a raw socket.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "harness.h"

#define STOP_MS 15000
#define RAW_TIMEOUT_MS 10000
#define MAX_BODY 16384 /* the server's default max_body_bytes */
#define DEEP_LEVELS 100000
#define BIG_BODY_LIMIT "1048576" /* for the nesting cases: room for 500 KB */
#define HUGE_CHUNKED_BYTES (32u << 20)
#define CHUNK_BYTES 65536
#define HUGE_REFUSAL_MS 10000
#define FLOOD_HEADERS 4000
#define HUGE_HEADER_BYTES (1u << 20)

static const char *const SHARED[] = {"--cache-scope", "shared", "--delay-ms", "0", NULL};

/* ------------------------------------------------------------- the world */

/* What a bad request must leave as it was. */
typedef struct snapshot {
    long long created, live, in_flight;
    long long hits, misses, currsize; /* GET /cache */
} snapshot;

static snapshot take(const server *s) {
    snapshot sn;
    reply r = httpDo(s, "GET", "/stats", NULL);
    sn.created = jsonInt(r.body, "instances.created");
    sn.live = jsonInt(r.body, "instances.live");
    sn.in_flight = jsonInt(r.body, "requests.in_flight");
    replyFree(&r);
    r = httpDo(s, "GET", "/cache", NULL);
    sn.hits = jsonInt(r.body, "hits");
    sn.misses = jsonInt(r.body, "misses");
    sn.currsize = jsonInt(r.body, "currsize");
    replyFree(&r);
    return sn;
}

/* Nothing made, nothing live, nothing in flight, the cache untouched. */
static void unchanged(const server *s, const snapshot *before, const char *what) {
    checkContext("after: %s", what);
    snapshot now = take(s);
    CHECK_EQ(now.created, before->created);
    CHECK_EQ(now.live, 0);
    CHECK_EQ(now.in_flight, 0);
    CHECK_EQ(now.hits, before->hits);
    CHECK_EQ(now.misses, before->misses);
    CHECK_EQ(now.currsize, before->currsize);
    checkContext(NULL);
}

/* Starts a shared-scope server whose cache holds one entry. */
static bool startPrimed(server *s, const char *const *args, snapshot *sn) {
    if (!serverStart(s, args))
        return false;
    reply r = httpDo(s, "POST", "/calculate", "{\"a\": 20, \"b\": 22}");
    CHECK_EQ(r.status, 200);
    replyFree(&r);
    *sn = take(s);
    CHECK_EQ(sn->currsize, 1);
    CHECK_EQ(sn->created, 1);
    return true;
}

/* Is body {"error": "<non-empty message>"} and nothing else, with the
 * fragment (if any) in the message? */
static bool isError(const char *body, const char *fragment) {
    cJSON *root = cJSON_Parse(body);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    bool ok = cJSON_IsObject(root) && cJSON_GetArraySize(root) == 1 && cJSON_IsString(e) &&
              e->valuestring[0] != '\0' && (!fragment || strstr(e->valuestring, fragment));
    if (!ok)
        fprintf(stderr, "  not an error naming '%s': %.300s\n", fragment ? fragment : "", body);
    cJSON_Delete(root);
    return ok;
}

/* -------------------------------------------------------------- raw HTTP */

typedef struct rawReply {
    long status;    /* 0 when the connection closed with no answer */
    bool timed_out; /* neither an answer nor a close came in time */
    char *text;     /* everything read, NUL-terminated, owned */
    size_t len;
    const char *body; /* inside text, after the header block, or "" */
} rawReply;

/* Reads until the server closes (every raw request says Connection: close)
 * or the deadline passes, then finds the final status line (after any
 * 100 Continue). A reset after an answer keeps the answer. */
static void readReply(int fd, unsigned timeout_ms, rawReply *r) {
    size_t cap = 4096;
    r->text = malloc(cap);
    r->len = 0;
    r->timed_out = false;
    uint64_t deadline = nowMs() + timeout_ms;
    for (;;) {
        uint64_t now = nowMs();
        if (now >= deadline) {
            r->timed_out = true;
            break;
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(deadline - now)) <= 0)
            continue;
        if (r->len + 1024 > cap)
            r->text = realloc(r->text, cap *= 2);
        ssize_t n = recv(fd, r->text + r->len, cap - r->len - 1, 0);
        if (n <= 0)
            break; /* closed, or reset */
        r->len += (size_t)n;
    }
    r->text[r->len] = '\0';
    r->status = 0;
    r->body = "";
    const char *line = r->text;
    while (strncmp(line, "HTTP/1.", 7) == 0 && strlen(line) > 12) {
        r->status = strtol(line + 9, NULL, 10);
        const char *end = strstr(line, "\r\n\r\n");
        if (!end)
            break;
        r->body = end + 4;
        if (r->status != 100)
            break;
        line = end + 4;
    }
}

/* Sends request (len bytes) on a fresh connection and reads the answer. */
static rawReply rawDo(const server *s, const void *request, size_t len) {
    rawReply r = {0};
    int fd = rawConnect(s);
    if (fd < 0) {
        r.text = calloc(1, 1);
        r.body = "";
        return r;
    }
    rawSendAll(fd, request, len);
    readReply(fd, RAW_TIMEOUT_MS, &r);
    close(fd);
    return r;
}

static void rawFree(rawReply *r) {
    free(r->text);
    r->text = NULL;
}

/* "POST /calculate" with body sent as one chunk per chunk_bytes. */
static char *chunkedRequest(const char *body, size_t len, size_t chunk_bytes, size_t *out_len) {
    size_t cap = 256 + len + (len / chunk_bytes + 2) * 16;
    char *req = malloc(cap);
    size_t n = (size_t)snprintf(req, cap,
                                "POST /calculate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    for (size_t off = 0; off < len; off += chunk_bytes) {
        size_t k = len - off < chunk_bytes ? len - off : chunk_bytes;
        n += (size_t)snprintf(req + n, cap - n, "%zx\r\n", k);
        memcpy(req + n, body + off, k);
        n += k;
        n += (size_t)snprintf(req + n, cap - n, "\r\n");
    }
    n += (size_t)snprintf(req + n, cap - n, "0\r\n\r\n");
    *out_len = n;
    return req;
}

/* "POST /calculate" with a Content-Length body of len bytes. */
static char *withLength(const char *body, size_t len, size_t *out_len) {
    size_t cap = 256 + len;
    char *req = malloc(cap);
    size_t n = (size_t)snprintf(req, cap,
                                "POST /calculate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                                len);
    memcpy(req + n, body, len);
    *out_len = n + len;
    return req;
}

/* {"a": 1, "b": 2} padded with spaces to exactly len bytes. */
static char *paddedBody(size_t len) {
    static const char json[] = "{\"a\": 1, \"b\": 2}";
    char *b = malloc(len + 1);
    memset(b, ' ', len);
    memcpy(b, json, sizeof(json) - 1);
    b[len] = '\0';
    return b;
}

/* -------------------------------------------------------------- the cases */

typedef struct badBody {
    const char *what;
    const char *body;
    const char *fragment; /* the message must say this */
} badBody;

static const badBody bad_bodies[] = {
    {"empty body", "", "empty"},
    {"not JSON", "hello", "not JSON"},
    {"a form", "a=1&b=2", "not JSON"},
    {"truncated JSON", "{\"a\": 1, \"b\":", "not JSON"},
    {"trailing garbage", "{\"a\": 1, \"b\": 2} x", "not JSON"},
    {"two objects", "{\"a\": 1, \"b\": 2}{\"a\": 1, \"b\": 2}", "not JSON"},
    {"a control character between tokens", "{\"a\": 1,\x01 \"b\": 2}", "not JSON"},
    {"a form feed between tokens", "{\"a\": 1,\f\"b\": 2}", "not JSON"},
    {"a leading zero", "{\"a\": 01, \"b\": 2}", "not JSON"},
    {"a leading zero after a minus", "{\"a\": -01, \"b\": 2}", "not JSON"},
    {"a lone minus", "{\"a\": -, \"b\": 2}", "not JSON"},
    {"a plus sign", "{\"a\": +1, \"b\": 2}", "not JSON"},
    {"an array", "[1, 2]", "JSON object"},
    {"a string", "\"a string\"", "JSON object"},
    {"a number", "42", "JSON object"},
    {"null", "null", "JSON object"},
    {"true", "true", "JSON object"},
    {"no fields", "{}", "'a' is missing"},
    {"b missing", "{\"a\": 1}", "'b' is missing"},
    {"a missing", "{\"b\": 1}", "'a' is missing"},
    {"a null", "{\"a\": null, \"b\": 1}", "'a' must be an integer"},
    {"b null", "{\"a\": 1, \"b\": null}", "'b' must be an integer"},
    {"a a string", "{\"a\": \"1\", \"b\": 1}", "'a' must be an integer"},
    {"a true", "{\"a\": true, \"b\": 1}", "'a' must be an integer"},
    {"b false", "{\"a\": 1, \"b\": false}", "'b' must be an integer"},
    {"a an object", "{\"a\": {}, \"b\": 1}", "'a' must be an integer"},
    {"a an array", "{\"a\": [1], \"b\": 1}", "'a' must be an integer"},
    {"float 1.0", "{\"a\": 1.0, \"b\": 1}", "integer"},
    {"float 1.5", "{\"a\": 1, \"b\": 1.5}", "integer"},
    {"exponent 1e2", "{\"a\": 1e2, \"b\": 1}", "integer"},
    {"exponent 1E2", "{\"a\": 1E2, \"b\": 1}", "integer"},
    {"1e400", "{\"a\": 1e400, \"b\": 1}", "integer"},
    {"-1e400", "{\"a\": -1e400, \"b\": 1}", "integer"},
    {"2^53", "{\"a\": 9007199254740992, \"b\": 0}", "9007199254740991"},
    {"-2^53", "{\"a\": -9007199254740992, \"b\": 0}", "9007199254740991"},
    {"2^53 + 1", "{\"a\": 0, \"b\": 9007199254740993}", "9007199254740991"},
    {"2^63", "{\"a\": 9223372036854775808, \"b\": 0}", "9007199254740991"},
    {"2^64 and beyond", "{\"a\": 100000000000000000000000000000, \"b\": 0}", "9007199254740991"},
    {"duplicate a", "{\"a\": 1, \"b\": 2, \"a\": 3}", "'a' appears twice"},
    {"duplicate a, same value", "{\"a\": 1, \"a\": 1, \"b\": 2}", "'a' appears twice"},
    {"duplicate in a call", "{\"calls\": [{\"a\": 1, \"b\": 2, \"b\": 2}]}", "appears twice"},
    {"duplicate calls", "{\"calls\": [{\"a\": 1, \"b\": 2}], \"calls\": []}", "appears twice"},
    {"unknown top field", "{\"a\": 1, \"b\": 2, \"c\": 3}", "unknown field 'c'"},
    {"fields are case-sensitive", "{\"A\": 1, \"b\": 2}", "unknown field 'A'"},
    {"unknown field in a call", "{\"calls\": [{\"a\": 1, \"b\": 2, \"c\": 3}]}",
     "unknown field 'c' in calls[0]"},
    {"calls empty", "{\"calls\": []}", "1 to 64"},
    {"calls not an array", "{\"calls\": {\"a\": 1, \"b\": 2}}", "'calls' must be an array"},
    {"calls null", "{\"calls\": null}", "'calls' must be an array"},
    {"a call not an object", "{\"calls\": [{\"a\": 1, \"b\": 2}, 7]}",
     "calls[1] must be an object"},
    {"a call an array", "{\"calls\": [[1, 2]]}", "calls[0] must be an object"},
    {"a call missing b", "{\"calls\": [{\"a\": 1}]}", "'b' is missing"},
    {"a call with a float", "{\"calls\": [{\"a\": 1, \"b\": 0.5}]}", "integer"},
    {"calls and a, b", "{\"a\": 1, \"b\": 2, \"calls\": [{\"a\": 1, \"b\": 2}]}", "not both"},
    {"calls and a", "{\"a\": 1, \"calls\": [{\"a\": 1, \"b\": 2}]}", "not both"},
    {"delay_ms negative", "{\"a\": 1, \"b\": 2, \"delay_ms\": -1}", "'delay_ms'"},
    {"delay_ms 10001", "{\"a\": 1, \"b\": 2, \"delay_ms\": 10001}", "from 0 to 10000"},
    {"delay_ms huge", "{\"a\": 1, \"b\": 2, \"delay_ms\": 99999999999999999999}", "'delay_ms'"},
    {"delay_ms float", "{\"a\": 1, \"b\": 2, \"delay_ms\": 1.5}", "integer"},
    {"delay_ms a string", "{\"a\": 1, \"b\": 2, \"delay_ms\": \"5\"}", "'delay_ms'"},
    {"delay_ms null", "{\"a\": 1, \"b\": 2, \"delay_ms\": null}", "'delay_ms'"},
    {"delay_ms in a call", "{\"calls\": [{\"a\": 1, \"b\": 2, \"delay_ms\": 5}]}",
     "unknown field 'delay_ms' in calls[0]"},
    {"nesting 2,000 deep", NULL, "not JSON"}, /* built below: fits the body limit */
    {"invalid UTF-8 in a key", "{\"\xff\xfe\": 1, \"a\": 1, \"b\": 2}", "unknown field"},
    {"invalid UTF-8 in a string value", "{\"a\": \"\xc3\x28\", \"b\": 2}", "integer"},
    /* cJSON cuts a name at an escaped NUL: these would pass for a, b, calls. */
    {"an escaped NUL after a", "{\"a\": 1, \"b\": 2, \"a\\u0000\": 3}", "unknown field"},
    {"an escaped NUL after b", "{\"a\": 1, \"b\\u0000x\": 2}", "unknown field"},
    {"an escaped NUL in a call", "{\"calls\": [{\"a\": 1, \"b\\u0000\" : 2}]}", "unknown field"},
    {"an escaped NUL after calls", "{\"calls\\u0000\": [{\"a\": 1, \"b\": 2}]}", "unknown field"},
    {"an escaped NUL alone", "{\"a\": 1, \"b\": 2, \"\\u0000\": 3}", "unknown field"},
};

static void every_bad_body_gets_400_and_changes_nothing(void) {
    server s;
    snapshot before;
    if (!startPrimed(&s, SHARED, &before)) {
        CHECK(false);
        return;
    }
    char deep[4001];
    memset(deep, '[', 2000);
    memset(deep + 2000, ']', 2000);
    deep[4000] = '\0';

    for (size_t i = 0; i < sizeof(bad_bodies) / sizeof(bad_bodies[0]); i++) {
        const badBody *c = &bad_bodies[i];
        checkContext("case: %s", c->what);
        reply r = httpDo(&s, "POST", "/calculate", c->body ? c->body : deep);
        CHECK_EQ(r.status, 400);
        CHECK(strncmp(r.content_type, "application/json", 16) == 0);
        CHECK(isError(r.body, c->fragment));
        replyFree(&r);
        unchanged(&s, &before, c->what);
    }
    CHECK_EQ(statsInt(&s, "requests.errors"),
             (long long)(sizeof(bad_bodies) / sizeof(bad_bodies[0])));
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void edge_values_the_contract_allows_are_answered(void) {
    static const struct {
        const char *body;
        long long result;
    } cases[] = {
        {"{\"a\": -0, \"b\": 0}", 0}, /* -0 is an integer in JSON text */
        {"{\"a\": -0, \"b\": 5}", 5},
        {"{\"a\": 9007199254740991, \"b\": 0}", 9007199254740991LL},
        {"{\"a\": -9007199254740991, \"b\": -9007199254740991}", -18014398509481982LL},
        {"{\"b\": 2, \"a\": 1}", 3},                  /* any order */
        {" \r\n\t{\"a\":1,\"b\":2} \n", 3},           /* whitespace around */
        {"{\"a\": 1, \"b\": 2, \"delay_ms\": 0}", 3}, /* both ends of delay_ms */
        {"{\"\\u0061\": 1, \"b\": 2}", 3},            /* an escaped name is the same name */
    };
    server s;
    CHECK(serverStart(&s, SHARED));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reply r = httpDo(&s, "POST", "/calculate", cases[i].body);
        CHECK_EQ(r.status, 200);
        CHECK_EQ(jsonInt(r.body, "result"), cases[i].result);
        if (r.status != 200)
            fprintf(stderr, "  ... body: %s -> %s\n", cases[i].body, r.body);
        replyFree(&r);
    }
    /* 64 calls is the most a batch may hold; delay_ms 10000 the longest
     * delay (not waited for: every call is a hit by now). */
    char batch[64 * 24 + 64];
    size_t n = (size_t)snprintf(batch, sizeof(batch), "{\"delay_ms\": 10000, \"calls\": [");
    for (int i = 0; i < 64; i++)
        n += (size_t)snprintf(batch + n, sizeof(batch) - n, "%s{\"a\": 1, \"b\": 2}", i ? "," : "");
    snprintf(batch + n, sizeof(batch) - n, "]}");
    reply r = httpDo(&s, "POST", "/calculate", batch);
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.body, "\"results\":[") != NULL);
    replyFree(&r);
    CHECK_EQ(statsInt(&s, "requests.errors"), 0);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void calls_over_64_get_400(void) {
    char batch[65 * 24 + 64];
    size_t n = (size_t)snprintf(batch, sizeof(batch), "{\"calls\": [");
    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(batch + n, sizeof(batch) - n, "%s{\"a\": %d, \"b\": 2}", i ? "," : "",
                              i);
    snprintf(batch + n, sizeof(batch) - n, "]}");
    server s;
    snapshot before;
    if (!startPrimed(&s, SHARED, &before)) {
        CHECK(false);
        return;
    }
    reply r = httpDo(&s, "POST", "/calculate", batch);
    CHECK_EQ(r.status, 400);
    CHECK(isError(r.body, "1 to 64 calls, not 65"));
    replyFree(&r);
    unchanged(&s, &before, "65 calls");
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void nul_bytes_in_the_body_get_400(void) {
    static const char with_nul[] = "{\"a\": 1,\0 \"b\": 2}";
    static const char nul_in_key[] = "{\"a\0\": 1, \"b\": 2}";
    server s;
    snapshot before;
    if (!startPrimed(&s, SHARED, &before)) {
        CHECK(false);
        return;
    }
    const struct {
        const char *body;
        size_t len;
    } cases[] = {{with_nul, sizeof(with_nul) - 1}, {nul_in_key, sizeof(nul_in_key) - 1}};
    for (size_t i = 0; i < 2; i++) {
        size_t len;
        char *req = withLength(cases[i].body, cases[i].len, &len);
        rawReply r = rawDo(&s, req, len);
        CHECK_EQ(r.status, 400);
        CHECK(isError(r.body, "NUL"));
        rawFree(&r);
        free(req);
    }
    unchanged(&s, &before, "NUL bytes");
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void nesting_100000_deep_gets_an_answer(void) {
    /* At the default limit both bodies are too large; with room for them,
     * the parser refuses the depth. Neither may crash the server. */
    size_t len = DEEP_LEVELS * 5;
    char *brackets = malloc(DEEP_LEVELS + 1), *objects = malloc(len + 1);
    memset(brackets, '[', DEEP_LEVELS);
    brackets[DEEP_LEVELS] = '\0';
    for (size_t i = 0; i < DEEP_LEVELS; i++)
        memcpy(objects + i * 5, "{\"a\":", 5);
    objects[len] = '\0';

    server s;
    snapshot before;
    if (startPrimed(&s, SHARED, &before)) {
        reply r = httpDo(&s, "POST", "/calculate", brackets);
        CHECK_EQ(r.status, 413);
        CHECK(isError(r.body, "larger than max_body_bytes"));
        replyFree(&r);
        unchanged(&s, &before, "100,000 [ at the default limit");
        CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
    }

    const char *const roomy[] = {"--cache-scope",    "shared",       "--delay-ms", "0",
                                 "--max-body-bytes", BIG_BODY_LIMIT, NULL};
    if (startPrimed(&s, roomy, &before)) {
        const char *bodies[] = {brackets, objects};
        for (size_t i = 0; i < 2; i++) {
            reply r = httpDo(&s, "POST", "/calculate", bodies[i]);
            CHECK_EQ(r.status, 400);
            CHECK(isError(r.body, "nests deeper"));
            replyFree(&r);
        }
        unchanged(&s, &before, "100,000 levels of [ and of {\"a\":");
        CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
    } else {
        CHECK(false);
    }
    free(brackets);
    free(objects);
}

/* ------------------------------------------------------------ body sizes */

static void a_body_at_the_limit_is_read_and_one_over_gets_413(void) {
    server s;
    snapshot before;
    if (!startPrimed(&s, SHARED, &before)) {
        CHECK(false);
        return;
    }
    char *at = paddedBody(MAX_BODY), *over = paddedBody(MAX_BODY + 1);
    size_t len;

    reply r = httpDo(&s, "POST", "/calculate", over); /* with Content-Length */
    CHECK_EQ(r.status, 413);
    CHECK(isError(r.body, "larger than max_body_bytes"));
    replyFree(&r);

    char *req = chunkedRequest(over, MAX_BODY + 1, 1000, &len); /* no Content-Length */
    rawReply rr = rawDo(&s, req, len);
    CHECK_EQ(rr.status, 413);
    CHECK(isError(rr.body, "larger than max_body_bytes"));
    rawFree(&rr);
    free(req);
    unchanged(&s, &before, "one byte over the limit");

    r = httpDo(&s, "POST", "/calculate", at);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(jsonInt(r.body, "result"), 3);
    replyFree(&r);
    req = chunkedRequest(at, MAX_BODY, 1000, &len);
    rr = rawDo(&s, req, len);
    CHECK_EQ(rr.status, 200);
    CHECK_EQ(jsonInt(rr.body, "result"), 3);
    rawFree(&rr);
    free(req);

    free(at);
    free(over);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* A Content-Length body over the limit (but within the 1 MiB the server
 * drains) is read and dropped before its 413: answering first and closing
 * with the body unread would make the kernel reset the connection, which
 * can destroy the 413 before the client reads it. The connection stays
 * open: the next request on it is served. */
static void a_long_body_is_drained_its_413_arrives_and_the_connection_stays(void) {
    server s;
    snapshot before;
    if (!startPrimed(&s, SHARED, &before)) {
        CHECK(false);
        return;
    }
    size_t body_len = 100000;
    char *body = paddedBody(body_len);
    char head[128];
    int head_len = snprintf(head, sizeof(head),
                            "POST /calculate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            "Content-Length: %zu\r\n\r\n",
                            body_len);
    static const char next[] = "POST /calculate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Content-Length: 16\r\n\r\n{\"a\": 1, \"b\": 2}";
    char answer[4096];
    int fd = rawConnect(&s);
    REQUIRE(fd >= 0);
    CHECK(rawSendAll(fd, head, (size_t)head_len));
    CHECK(rawSendAll(fd, body, body_len)); /* all of it is read: no reset */
    CHECK_EQ(rawRead(fd, RAW_TIMEOUT_MS, answer, sizeof(answer)), 413);
    CHECK(isError(answer, "larger than max_body_bytes"));
    unchanged(&s, &before, "a 100 KB body with its Content-Length");
    CHECK(rawSendAll(fd, next, sizeof(next) - 1));
    CHECK_EQ(rawRead(fd, RAW_TIMEOUT_MS, answer, sizeof(answer)), 200);
    CHECK_EQ(jsonInt(answer, "result"), 3);
    close(fd);
    free(body);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void a_chunked_body_over_the_limit_gets_413(void) {
    server s;
    snapshot before;
    if (!startPrimed(&s, SHARED, &before)) {
        CHECK(false);
        return;
    }
    size_t body_len = 100000, len;
    char *body = paddedBody(body_len);
    char *req = chunkedRequest(body, body_len, 4096, &len);
    rawReply r = rawDo(&s, req, len);
    CHECK_EQ(r.status, 413);
    CHECK(isError(r.body, "larger than max_body_bytes"));
    rawFree(&r);
    free(req);
    free(body);
    unchanged(&s, &before, "a 100 KB chunked body");
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void a_huge_chunked_body_is_refused_without_being_read(void) {
    server s;
    snapshot before;
    if (!startPrimed(&s, SHARED, &before)) {
        CHECK(false);
        return;
    }
    int fd = rawConnect(&s);
    CHECK(fd >= 0);
    static const char head[] = "POST /calculate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    CHECK(rawSendAll(fd, head, sizeof(head) - 1));

    /* Send 32 MB of chunks for as long as the server takes them; stop when
     * it answers or closes. */
    size_t chunk_len = CHUNK_BYTES + 16;
    char *chunk = malloc(chunk_len);
    int k = snprintf(chunk, chunk_len, "%x\r\n", CHUNK_BYTES);
    memset(chunk + k, ' ', CHUNK_BYTES);
    memcpy(chunk + k + CHUNK_BYTES, "\r\n", 2);
    chunk_len = (size_t)k + CHUNK_BYTES + 2;

    size_t sent = 0;
    bool stopped = false;
    uint64_t t0 = nowMs();
    while (sent < HUGE_CHUNKED_BYTES && nowMs() - t0 < HUGE_REFUSAL_MS) {
        struct pollfd p = {fd, POLLOUT | POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
            stopped = true; /* an answer, or the close */
            break;
        }
        ssize_t n = send(fd, chunk, chunk_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0) {
            stopped = true; /* reset: the server closed */
            break;
        }
        sent += (size_t)n;
    }
    rawReply r;
    readReply(fd, RAW_TIMEOUT_MS, &r);
    close(fd);
    fprintf(stderr, "  sent %zu of %u bytes in %llu ms; answer: %ld\n", sent, HUGE_CHUNKED_BYTES,
            (unsigned long long)(nowMs() - t0), r.status);
    CHECK(stopped);
    CHECK(sent < HUGE_CHUNKED_BYTES / 2);
    CHECK(!r.timed_out);
    CHECK(r.status == 0 || r.status == 413);
    rawFree(&r);
    free(chunk);
    unchanged(&s, &before, "a 32 MB chunked body");

    reply ok = httpDo(&s, "GET", "/healthz", NULL);
    CHECK_EQ(ok.status, 200);
    replyFree(&ok);
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* ------------------------------------------------------- methods, paths */

static void a_wrong_method_on_each_route_gets_405_with_allow(void) {
    static const struct {
        const char *path, *method, *allow;
    } cases[] = {
        {"/calculate", "GET", "POST"},
        {"/calculate", "PUT", "POST"},
        {"/calculate", "DELETE", "POST"},
        {"/calculate", "PATCH", "POST"},
        {"/calculate", "HEAD", "POST"},
        {"/calculate", "BREW", "POST"},
        {"/stats", "POST", "GET, HEAD"},
        {"/stats", "DELETE", "GET, HEAD"},
        {"/metrics", "POST", "GET, HEAD"},
        {"/metrics", "PUT", "GET, HEAD"},
        {"/cache", "POST", "GET, HEAD, DELETE"},
        {"/cache", "PUT", "GET, HEAD, DELETE"},
        {"/healthz", "POST", "GET, HEAD"},
        {"/healthz", "DELETE", "GET, HEAD"},
        {"/", "POST", "GET, HEAD"},
        {"/", "PUT", "GET, HEAD"},
    };
    server s;
    snapshot before;
    if (!startPrimed(&s, SHARED, &before)) {
        CHECK(false);
        return;
    }
    /* Without a body the answer comes on the request's second handler
     * call, with one on its first (the body is not read): both are 405. */
    for (size_t i = 0; i < 2 * sizeof(cases) / sizeof(cases[0]); i++) {
        const char *method = cases[i / 2].method, *path = cases[i / 2].path;
        bool head = strcmp(method, "HEAD") == 0, with_body = i % 2 && !head;
        checkContext("case: %s %s %s", method, path, with_body ? "with a body" : "without a body");
        reply r = httpDo(&s, method, path, with_body ? "{\"a\": 1, \"b\": 2}" : NULL);
        CHECK_EQ(r.status, 405);
        CHECK_STR_EQ(r.allow, cases[i / 2].allow);
        CHECK(head || isError(r.body, path));
        replyFree(&r);
    }
    checkContext(NULL);
    unchanged(&s, &before, "wrong methods");
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void unknown_paths_get_404(void) {
    static const char *const paths[] = {"/nope",    "/calculate/",    "/Calculate",
                                        "/stats/x", "/../etc/passwd", "//calculate"};
    server s;
    snapshot before;
    if (!startPrimed(&s, SHARED, &before)) {
        CHECK(false);
        return;
    }
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        const char *methods[] = {"GET", "POST"};
        for (size_t m = 0; m < 2; m++) {
            reply r = httpDo(&s, methods[m], paths[i], m ? "{\"a\": 1, \"b\": 2}" : NULL);
            CHECK_EQ(r.status, 404);
            CHECK(isError(r.body, "no such path"));
            if (r.status != 404)
                fprintf(stderr, "  ... case: %s %s\n", methods[m], paths[i]);
            replyFree(&r);
        }
    }
    unchanged(&s, &before, "unknown paths");
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

/* --------------------------------------------------------- broken HTTP */

/* The server answers a flood of headers with an error (431 or 400 from
 * libmicrohttpd) or closes; either way at once, and it goes on serving. */
static void header_floods_are_refused_and_the_server_goes_on(void) {
    server s;
    snapshot before;
    if (!startPrimed(&s, SHARED, &before)) {
        CHECK(false);
        return;
    }
    /* Many small headers. */
    size_t cap = FLOOD_HEADERS * 32 + 256, n = 0;
    char *req = malloc(cap);
    n += (size_t)snprintf(req + n, cap - n, "POST /calculate HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (int i = 0; i < FLOOD_HEADERS; i++)
        n += (size_t)snprintf(req + n, cap - n, "X-Flood-%d: %d\r\n", i, i);
    n += (size_t)snprintf(req + n, cap - n,
                          "Content-Length: 16\r\nConnection: close\r\n\r\n{\"a\": 1, \"b\": 2}");
    uint64_t t0 = nowMs();
    rawReply r = rawDo(&s, req, n);
    fprintf(stderr, "  %d headers: answer %ld in %llu ms\n", FLOOD_HEADERS, r.status,
            (unsigned long long)(nowMs() - t0));
    CHECK(!r.timed_out);
    CHECK(r.status == 0 || r.status == 431 || r.status == 400 || r.status == 413);
    rawFree(&r);
    free(req);

    /* One header of a megabyte. */
    req = malloc(HUGE_HEADER_BYTES + 256);
    n = (size_t)snprintf(req, 256, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: ");
    memset(req + n, 'x', HUGE_HEADER_BYTES);
    n += HUGE_HEADER_BYTES;
    n += (size_t)snprintf(req + n, 256, "\r\nConnection: close\r\n\r\n");
    t0 = nowMs();
    r = rawDo(&s, req, n);
    fprintf(stderr, "  a 1 MB header: answer %ld in %llu ms\n", r.status,
            (unsigned long long)(nowMs() - t0));
    CHECK(!r.timed_out);
    CHECK(r.status == 0 || r.status == 431 || r.status == 400 || r.status == 413);
    rawFree(&r);
    free(req);

    reply ok = httpDo(&s, "GET", "/healthz", NULL);
    CHECK_EQ(ok.status, 200);
    replyFree(&ok);
    unchanged(&s, &before, "header floods");
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

static void broken_request_lines_get_an_answer_or_a_close(void) {
    static const char *const requests[] = {
        "GARBAGE\r\n\r\n",
        "GET\r\n\r\n",
        "GET /healthz HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n",
        "POST /calculate HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\nConnection: close\r\n\r\n",
        "POST /calculate HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n",
        "POST /calculate HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n"
        "Connection: close\r\n\r\n",
        "POST /calculate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    };
    server s;
    snapshot before;
    if (!startPrimed(&s, SHARED, &before)) {
        CHECK(false);
        return;
    }
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
        rawReply r = rawDo(&s, requests[i], strlen(requests[i]));
        CHECK(!r.timed_out);
        CHECK(r.status == 0 || (r.status >= 400 && r.status < 600));
        if (r.timed_out || (r.status && r.status < 400))
            fprintf(stderr, "  ... request: %.60s -> %ld\n", requests[i], r.status);
        rawFree(&r);
    }
    reply ok = httpDo(&s, "GET", "/healthz", NULL);
    CHECK_EQ(ok.status, 200);
    replyFree(&ok);
    unchanged(&s, &before, "broken request lines");
    CHECK_EQ(serverStop(&s, SIGTERM, STOP_MS), 0);
}

int main(void) {
    static const harnessTest tests[] = {
        TEST(every_bad_body_gets_400_and_changes_nothing),
        TEST(edge_values_the_contract_allows_are_answered),
        TEST(calls_over_64_get_400),
        TEST(nul_bytes_in_the_body_get_400),
        TEST(nesting_100000_deep_gets_an_answer),
        TEST(a_body_at_the_limit_is_read_and_one_over_gets_413),
        TEST(a_long_body_is_drained_its_413_arrives_and_the_connection_stays),
        TEST(a_chunked_body_over_the_limit_gets_413),
        TEST(a_huge_chunked_body_is_refused_without_being_read),
        TEST(a_wrong_method_on_each_route_gets_405_with_allow),
        TEST(unknown_paths_get_404),
        TEST(header_floods_are_refused_and_the_server_goes_on),
        TEST(broken_request_lines_get_an_answer_or_a_close),
    };
    return harnessMain(tests, sizeof(tests) / sizeof(tests[0]));
}
