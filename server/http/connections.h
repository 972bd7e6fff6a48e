/* connections.h -- the open connections, and room made for newcomers.
 *
 * Every connection libmicrohttpd admits is counted from the accept policy
 * (connsAdmit) to its CLOSED notification (connsClosed), and tracked in
 * between with the time it became idle: waiting for its first request or,
 * kept alive, for the next one. When a newcomer finds the table full
 * (max_connections), the connection idle the longest is shut down (its
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
 * Thread-safe: any worker may call any function. connsBusy and connsIdle,
 * on every request, take no lock. One record per connection, owned here
 * from connsOpened to connsClosed.
 */
#ifndef CONNECTIONS_H
#define CONNECTIONS_H

#include <stdbool.h>

typedef struct connsEntry connsEntry;

/* Sets the table up for max connections at most. */
void connsInit(unsigned max);

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

/* Connections counted as open now; idle ones shut down to make room so far. */
unsigned connsOpen(void);
unsigned long long connsReclaimed(void);

#endif /* CONNECTIONS_H */
