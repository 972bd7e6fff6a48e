/* table.c -- the route table (table.h). */
#include "table.h"

#include "cache_info.h"
#include "duration.h"
#include "health.h"
#include "instances.h"
#include "status.h"

/* The routes, in the order they are tried. POST /calculate times itself in
 * two series (cached="true" and "false"); every other route, and a path
 * that none takes ("other"), in one series each. */
enum {
    R_CALCULATE,
    R_STATS,
    R_METRICS,
    R_CACHE,
    R_HEALTHZ,
    R_READYZ,
    R_PAGE,
    R_INSTANCES,
    R_HISTORY,
    R_COUNT
};

static const httpRoute routes[R_COUNT] = {
    [R_CALCULATE] = {"/calculate", NULL, "POST", &calc_handlers, DURATION_CALC_MISSED},
    [R_STATS] = {"/stats", NULL, "GET, HEAD", &stats_handlers, DURATION_ROUTE(R_STATS)},
    [R_METRICS] = {"/metrics", NULL, "GET, HEAD", &metrics_handlers, DURATION_ROUTE(R_METRICS)},
    [R_CACHE] = {"/cache", NULL, "GET, HEAD, DELETE", &cache_handlers, DURATION_ROUTE(R_CACHE)},
    [R_HEALTHZ] = {"/healthz", NULL, "GET, HEAD", &healthz_handlers, DURATION_ROUTE(R_HEALTHZ)},
    [R_READYZ] = {"/readyz", NULL, "GET, HEAD", &readyz_handlers, DURATION_ROUTE(R_READYZ)},
    [R_PAGE] = {"/", NULL, "GET, HEAD", &page_handlers, DURATION_ROUTE(R_PAGE)},
    [R_INSTANCES] = {INSTANCES_PATH, instancesMatch, "GET, HEAD", &instances_handlers,
                     DURATION_ROUTE(R_INSTANCES)},
    [R_HISTORY] = {"/history", NULL, "GET, HEAD", &history_handlers, DURATION_ROUTE(R_HISTORY)},
};

static const httpRoutes table = {routes, R_COUNT, DURATION_ROUTE(R_COUNT)};

const httpRoutes *routesStart(const calcSettings *calc) {
    calcInit(calc);
    cacheRouteInit(calc->max_wait_ms);
    durationName(DURATION_CALC_CACHED, routes[R_CALCULATE].path, "true");
    durationName(DURATION_CALC_MISSED, routes[R_CALCULATE].path, "false");
    for (unsigned r = R_CALCULATE + 1; r < R_COUNT; r++)
        durationName(routes[r].duration_slot, routes[r].path, NULL);
    durationName(table.other_slot, "other", NULL);
    if (healthStart() && statusStart())
        return &table;
    routesStop();
    return NULL;
}

void routesStop(void) {
    healthStop();
    statusStop();
}
