/* http.h -- memoscope's routes on libmicrohttpd.
 *
 * One daemon with an internal thread pool (cfg->threads workers). A slow
 * calculate holds no worker: its connection is suspended and the timer
 * thread resumes it when the delay is over. Called from main's thread only.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>

#include "config.h"

/* Starts serving (scope, timers and stats must be set up). Writes the port
 * actually bound into *port. Returns false, with a message on stderr, when
 * the daemon cannot start. */
bool httpStart(const config *cfg, unsigned *port);

/* Graceful stop: stops accepting, answers 503 to new requests, lets the
 * ones in flight finish for up to grace_ms, then finishes the rest at once
 * (every delay cut short), and stops the daemon. Frees every response. */
void httpStop(unsigned grace_ms);

#endif /* HTTP_H */
