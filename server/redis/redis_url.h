/* redis_url.h -- where Redis is: its URL parsed, and its password kept out of
 * every text that is shown.
 */
#ifndef REDIS_URL_H
#define REDIS_URL_H

#include <stdbool.h>
#include <stddef.h>

#define RCLI_URL_LEN 256

/* Where Redis is, parsed from redis://[[user]:password@]host[:port][/db] or
 * unix:///path/to/socket[?db=N]. */
typedef struct rcliTarget {
    bool unix_socket;
    char host[RCLI_URL_LEN]; /* or the socket's path */
    unsigned port;
    char user[64];
    char password[RCLI_URL_LEN];
    unsigned db;
} rcliTarget;

/* Parses url into t. The credentials end at the URL's last '@', the
 * password after their first ':'; user name and password are
 * percent-decoded. On error writes into err a message that names the part
 * that is wrong and holds no part of the URL, leaves t zeroed and returns
 * false. Pure: any thread. */
bool rcliParseUrl(const char *url, rcliTarget *t, char *err, size_t errcap);

/* For logs and /stats: url rebuilt from its parts with "***" for the
 * password (port and database always written), or "(not a valid URL)" when
 * it does not parse. Pure: any thread. */
void rcliRedactUrl(const char *url, char *out, size_t cap);

#endif /* REDIS_URL_H */
