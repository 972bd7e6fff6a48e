/* connections.h -- the open connections, and room made for newcomers.
 *
 * Every connection libmicrohttpd admits is counted from the accept policy
 * (connsAdmit) to its CLOSED notification (connsClosed), and tracked in
 * between with the time it became idle: waiting for its first request or,
 * kept alive, for the next one. When a newcomer finds the table full
 * (max_connections + reserved), the connection idle the longest is shut down (its
 * socket, with shutdown(2): libmicrohttpd then closes it as a client that
 * left, and the newcomer takes its place), as nginx reuses its keep-alive
 * connections. A table full of busy connections refuses the newcomer.
 *
 * "Idle" is what this module can see: from the end of a request (or the
 * accept) to the first handler call of the next, ranked by when its last
 * request began (or it was accepted), which comes once that
 * request's headers are in; a client still sending headers counts as idle,
 * so slowloris clients are the first to make room.
 *
 * Work is counted apart from connections: a request that may hold its
 * connection for long (POST /calculate, DELETE /cache) takes one of
 * max_connections work slots (connsWorkBegin) and gives it back when it
 * completes. The reserved connections beyond them are for everything
 * else: with every work slot taken, probes and scrapers still come in and
 * are answered, and a request for work gets a quick 503 instead of a
 * closed socket; only a table full of busy connections closes a newcomer.
 *
 * Thread-safe: any worker may call any function. connsBusy and connsIdle,
 * on every request, take no lock. One record per connection, owned here
 * from connsOpened to connsClosed.
 */
#ifndef CONNECTIONS_H
#define CONNECTIONS_H

#include <stdbool.h>

typedef struct connsEntry connsEntry;

/* Sets the table up for max work slots and max + reserved connections at
 * most. */
void connsInit(unsigned max, unsigned reserved);

/* The accept policy: true when a newcomer may come in (there is room, or
 * an idle connection was shut down for it); it then counts as open. */
bool connsAdmit(void);

/* A connection admitted by connsAdmit was set up on socket fd: returns its
 * record (NULL when out of memory: the connection is then counted but
 * never chosen to make room). */
connsEntry *connsOpened(int fd);

/* The connection closed: uncounts it and frees its record (e may be NULL,
 * for a connection whose record could not be made). */
void connsClosed(connsEntry *e);

/* A request's headers are in (busy), or the request completed (idle: it
 * ranks by when that request began). Called from the connection's worker
 * (libmicrohttpd runs a connection's handler and completion on one thread).
 * e may be NULL. */
void connsBusy(connsEntry *e);
void connsIdle(connsEntry *e);

/* Takes a work slot: false when all max of them are taken (the request is
 * then refused, and gives nothing back). One atomic operation. */
bool connsWorkBegin(void);

/* Gives back a slot taken by connsWorkBegin. */
void connsWorkEnd(void);

/* Connections counted as open now; work slots taken now; idle connections
 * shut down to make room so far. */
unsigned connsOpen(void);
unsigned connsWorking(void);
unsigned long long connsReclaimed(void);

#endif /* CONNECTIONS_H */
