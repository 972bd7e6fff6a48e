/* probe.h -- memoscope --probe: one GET to the server on this machine.
 *
 * A container's HEALTHCHECK and a Kubernetes exec probe run the binary
 * itself (`memoscope --probe /healthz`), so the image needs no shell and no
 * HTTP client. The probe speaks plain HTTP/1.1 over one TCP connection and
 * reads only the status line; the whole exchange (connect, send, read) has
 * one deadline, PROBE_TIMEOUT_MS, so the probe never hangs on a server that
 * accepts and never answers.
 *
 * Single-threaded, no allocation, no signal handlers: it runs instead of the
 * server, from main.
 */
#ifndef PROBE_H
#define PROBE_H

#include <stdbool.h>
#include <stdio.h>

/* The whole exchange, connect to status line. Below the image's
 * HEALTHCHECK --timeout (3 s) so that the probe, not the engine, reports it. */
#define PROBE_TIMEOUT_MS 2000

/* What `--probe` asks when no path follows it. */
#define PROBE_DEFAULT_PATH "/healthz"

/* The longest path the probe sends. */
#define PROBE_PATH_MAX 256

/* Is path a request target the probe may send: starts with '/', at most
 * PROBE_PATH_MAX bytes of printable ASCII without spaces (nothing that could
 * end the request line or add a header)? */
bool probePathOk(const char *path);

/* Asks the server listening on bind:port for GET path, bind being the
 * server's numeric listen address: a wildcard (0.0.0.0, ::) is asked on its
 * loopback (127.0.0.1, ::1). path must pass probePathOk. Returns true when
 * the status is 200 (one line to out), false on any other status, a refused
 * or failed connection, an answer that is not HTTP, or no status line within
 * PROBE_TIMEOUT_MS (one line to err saying which). */
bool probeRun(const char *bind, unsigned port, const char *path, FILE *out, FILE *err);

#endif /* PROBE_H */
