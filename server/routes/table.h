/* table.h -- every route of the service, in one table for the HTTP layer
 * (daemon.h), with its methods and the series its requests are timed in.
 *
 * Called from main's thread only.
 */
#ifndef TABLE_H
#define TABLE_H

#include <stdbool.h>

#include "calculate.h"
#include "daemon.h"

/* Sets every route up (POST /calculate with calc, the fixed answers, the
 * request duration series) and returns the table, which stays valid until
 * routesStop. NULL when out of memory. Call before httpStart. */
const httpRoutes *routesStart(const calcSettings *calc);

/* Frees what routesStart built. Call after httpStop. */
void routesStop(void);

#endif /* TABLE_H */
